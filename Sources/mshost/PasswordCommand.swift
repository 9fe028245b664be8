import Config
import Core
import Platform
import Secure

#if canImport(Glibc)
import Glibc
#endif

/// `mshost passwd [--config F]`: asks for the password receivers must prove (twice, without
/// echo, on a terminal; else the first line of stdin), and writes only its SPAKE2+ verifier into
/// the config as `sharing.password_verifier`, emptying a plaintext `sharing.password`.
enum PasswordCommand {
    static func run(_ arguments: [String], log: Logger) -> Int32 {
        let options: DaemonCommandLine
        do throws(UsageError) { options = try DaemonCommandLine.parse(arguments) } catch {
            log.error("\(error) (\(mshostCommands.usage("passwd")))")
            return 2
        }
        guard let password = readPassword(), !password.isEmpty else {
            log.error("no password given (or the two did not match); nothing written")
            return 1
        }
        let path = options.configPath
        let text: String
        do throws(Errno) { text = String(decoding: try readWholeFile(path, limit: 1 << 20), as: UTF8.self) } catch {
            log.error("cannot read \(path): \(error)")
            return 1
        }
        let verifier: PasswordVerifier
        do { verifier = try PasswordVerifier(password: password) } catch {
            log.error("cannot derive the verifier: \(error)")
            return 1
        }
        let edited: String
        do throws(ConfigError) { edited = try ConfigEditor.settingPasswordVerifier(verifier.description, in: text) } catch {
            log.error("\(path): \(error)")
            return 1
        }
        do throws(ConfigErrors) { _ = try ConfigLoader.parse(text: edited) } catch {
            log.error("\(path) would not be valid after the change; left as it was:\n\(error)")
            return 1
        }
        if let e = replace(path, with: edited) {
            log.error("cannot write \(path): \(e)")
            return 1
        }
        print(
            "\(path): sharing.password_verifier written (\(PasswordVerifier.defaultIterations) PBKDF2 iterations); restart mshost. Receivers prove "
                + "the same password with receiving.password"
        )
        return 0
    }

    /// Twice without echo on a terminal; the first line of stdin otherwise. Nil when they differ.
    private static func readPassword() -> String? {
        guard isatty(0) != 0 else { return readLine(strippingNewline: true) }
        var saved = termios()
        tcgetattr(0, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(0, TCSAFLUSH, &silent)
        defer {
            tcsetattr(0, TCSAFLUSH, &saved)
            prompt("\n")
        }
        prompt("password receivers must prove: ")
        let first = readLine(strippingNewline: true)
        prompt("\nagain: ")
        let second = readLine(strippingNewline: true)
        return first == second ? first : nil
    }

    private static func prompt(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    /// Writes `text` beside `path` with its mode, then renames it over: never half a config.
    private static func replace(_ path: String, with text: String) -> Errno? {
        var info = stat()
        let mode = stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0o600
        let temporary = path + ".mshost-passwd"
        // Made afresh, never opened through a link someone left there (nor a stale copy reused).
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { return .current }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            let e = Errno.current
            unlink(temporary)
            return e
        }
        return nil
    }
}
