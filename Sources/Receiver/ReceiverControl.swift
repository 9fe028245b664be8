import Config
import Core
import Platform
import ProtocolMessages
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Where the receiver's local control socket is (`msrecv status` asks it): in
/// `receiving.state_dir`, for the receiver's user only.
public enum ReceiverControl {
    public static func socketPath(stateDirectory: String) -> String { stateDirectory + "/msrecv.sock" }

    /// Without it the speaker plays all the same, and says why.
    static func open(settings: ReceivingSettings, log: Logger) -> LocalControlServer? {
        do throws(Errno) { try makeDirectory(settings.stateDirectory, mode: 0o700) } catch {
            log.error("receiving.state_dir: cannot create \(settings.stateDirectory) for the local control socket: \(error)")
            return nil
        }
        let path = socketPath(stateDirectory: settings.stateDirectory)
        do {
            return LocalControlServer(listener: try LocalListener(path: path))
        } catch {
            log.error("local control socket: \(error); msrecv status cannot reach this receiver")
            return nil
        }
    }
}
