import Config
import Core
import Discovery
import Platform
import ProtocolMessages
import Receiver
import Transport

/// `msrecv discover [--config F] [--json] [--timeout 3s]`: browses for Moosync hosts for the
/// timeout, prints each with its advertisement (one line each, or a JSON array), and exits:
/// 0 if it found any, 1 if none (or mDNS is not available), 2 on bad usage. With a config, the
/// host its receiving.host_id / host_name picks is marked.
enum DiscoverCommand {
    static var usage: String { msrecvCommands.usage("discover") }

    static func run(_ arguments: [String], log: Logger) -> Int32 {
        var json = false
        var timeout: Microseconds = 3_000_000
        var configPath: String?
        var i = 0
        while i < arguments.count {
            let arg = arguments[i]
            switch arg {
            case "--json": json = true
            case "--timeout", "--config", "-c":
                guard i + 1 < arguments.count else {
                    log.error("\(arg) needs a value (\(usage))")
                    return 2
                }
                i += 1
                if arg == "--timeout" {
                    guard let t = parseDuration(arguments[i]), t > 0, t <= 600_000_000 else {
                        log.error("--timeout: expected a duration such as 3s or 500ms (at most 10 min), got \"\(arguments[i])\"")
                        return 2
                    }
                    timeout = t
                } else {
                    configPath = arguments[i]
                }
            default:
                log.error("unknown option \(arg) (\(usage))")
                return 2
            }
            i += 1
        }
        var picks: (id: String?, name: String?) = (nil, nil)
        if let configPath {
            do throws(ConfigErrors) {
                let receiving = try ConfigLoader.load(path: configPath).receiving
                picks = (receiving.hostID, receiving.hostName)
            } catch {
                log.error("\(configPath):\n\(error)")
                return 1
            }
        }

        let finder: HostFinder
        do { finder = try HostFinder(log: log) } catch {
            log.error("\(error)")
            return 1
        }
        var reactor = Reactor<Int32>()
        _ = finder.handle(nil, id: 0, &reactor, token: { $0 })
        let deadline = reactor.now + timeout
        while reactor.now < deadline {
            for event in reactor.wait(maxWait: deadline - reactor.now) {
                switch event {
                case .ready(let id, _), .timer(let id): _ = finder.handle(event, id: id, &reactor, token: { $0 })
                }
            }
        }
        let hosts = finder.directory.sorted
        var picked: String?
        if picks.id != nil || picks.name != nil, case .host(let host) = finder.directory.choose(id: picks.id, name: picks.name) {
            picked = host.service.name
        }
        if json {
            let items = hosts.map { host in
                var item = JSONWriter()
                item.add("name", host.service.name)
                item.add("address", host.service.address)
                item.add("port", Int(host.service.port))
                if configPath != nil { item.add("picked_by_config", picked == host.service.name) }
                if let ad = host.advertisement { item.add("advertisement", json: ad.json) } else { item.add("problem", host.problem ?? "") }
                return item.finished
            }
            print("[" + items.joined(separator: ",\n ") + "]")
        } else {
            for host in hosts { print(host.summary + (picked == host.service.name ? "  <- picked by \(configPath ?? "")" : "")) }
        }
        if hosts.isEmpty {
            log.info("no Moosync host answered within \(formatDuration(timeout)) (\(MDNSService.type))")
            return 1
        }
        return 0
    }
}
