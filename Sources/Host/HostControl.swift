import Config
import Core
import Platform
import ProtocolMessages
import Transport

#if canImport(Glibc)
import Glibc
#endif

/// Where the host's local control socket is, and how it is opened: in `sharing.state_dir`,
/// for the host's user and the members of `sharing.control_group`.
public enum HostControl {
    /// Where a host with this state directory listens (and where `mshost clients` asks).
    public static func socketPath(stateDirectory: String) -> String { stateDirectory + "/mshost.sock" }

    /// Without it the host streams all the same, and says why.
    static func open(settings: SharingSettings, log: Logger) -> LocalControlServer? {
        let directory = settings.stateDirectory
        var group: gid_t?
        if let name = settings.controlGroup {
            if let entry = getgrnam(name) {
                group = entry.pointee.gr_gid
            } else {
                log.error("sharing.control_group: there is no group \"\(name)\"; the local control socket is for this host's user only")
            }
        }
        do throws(Errno) { try makeDirectory(directory, mode: 0o700) } catch {
            log.error("sharing.state_dir: cannot create \(directory) for the local control socket: \(error)")
            return nil
        }
        // The group must be able to reach the socket in the directory; the keys in it stay the
        // user's own (their files are 0600).
        if let group, chown(directory, uid_t.max, group) != 0 || chmod(directory, 0o750) != 0 {
            log.error("sharing.control_group: cannot open \(directory) to the group: \(Errno.current)")
        }
        let path = socketPath(stateDirectory: directory)
        do {
            let server = LocalControlServer(listener: try LocalListener(path: path, group: group))
            log.info(
                "local control on \(path)\(group == nil ? "" : " (and group \(settings.controlGroup ?? ""))"): mshost clients, kick, volume, mute, "
                    + "events, now-playing"
            )
            return server
        } catch {
            log.error("local control socket: \(error); mshost clients and the other commands cannot reach this host")
            return nil
        }
    }
}
