import Foundation
import LuukkuClient
import LuukkuProtocol
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The front door under a flood (docs/server.md, "The front door"): sockets that never finish TLS use up only
/// the pending budget, so a terminal and an expert with valid certificates still complete a session; every
/// refusal is counted by reason and the log holds a bounded number of refusal lines.
@Suite(.serialized, .timeLimit(.minutes(2))) struct FloodTests {
    /// A TCP connection to the daemon from `source` (a loopback address), optionally sending `bytes`; its fd.
    static func open(from source: String, port: Int, sending bytes: [UInt8] = []) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var local = sockaddr_in()
        local.sin_family = sa_family_t(AF_INET)
        inet_pton(AF_INET, source, &local.sin_addr)
        var remote = sockaddr_in()
        remote.sin_family = sa_family_t(AF_INET)
        remote.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &remote.sin_addr)
        let ok =
            withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
            && withUnsafePointer(to: &remote) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            } == 0
        precondition(ok, "cannot connect from \(source): errno \(errno)")
        if !bytes.isEmpty { _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, bytes.count, 0) } }
        return fd
    }

    /// Waits until `count` of `fds` have been closed by the server (EOF or reset), on a thread of its own;
    /// 30 s bound only so a broken server fails the test instead of hanging it. Returns how many closed.
    static func closedByServer(_ fds: [Int32], count: Int) async -> Int {
        await onThread {
            var closed = Set<Int32>()
            let deadline = Date().addingTimeInterval(30)
            while closed.count < count, Date() < deadline {
                var polls = fds.filter { !closed.contains($0) }.map {
                    pollfd(fd: $0, events: Int16(POLLIN), revents: 0)
                }
                guard poll(&polls, nfds_t(polls.count), 1_000) > 0 else { continue }
                for entry in polls where entry.revents != 0 {
                    var byte: UInt8 = 0
                    if recv(entry.fd, &byte, 1, Int32(MSG_DONTWAIT)) <= 0 { closed.insert(entry.fd) }
                }
            }
            return closed.count
        }
    }

    @Test func aFloodOfHandshakesNeverLocksOutAuthenticatedClients() async throws {
        let daemon = try await Daemon.start { tree in
            var server = tree["server"] as! [String: Any]
            server["maxPendingConnections"] = 110
            server["maxPendingPerAddress"] = 100
            // The flood's sockets stay pending for the whole test (none times out meanwhile).
            server["timeouts"] = [
                "handshake": 60, "heartbeat": 15, "idle": 45, "offerAnswer": 20, "wrapUp": 60, "resumeGrace": 30,
                "drain": 60,
            ]
            tree["server"] = server
        }
        let port = daemon.port
        // 500 idle TCP sockets from 127.0.0.2: 100 are held (its share), the other 400 closed at once.
        let idle = await onThread { (0..<500).map { _ in Self.open(from: "127.0.0.2", port: port) } }
        #expect(await Self.closedByServer(idle, count: 400) == 400)
        // 20 slow TLS hellos from 127.0.0.3 (a record header announcing 512 bytes that never come): the pending
        // budget (110) is full after 10 of them, so each further one pushes out the oldest idle socket.
        let slow = await onThread {
            (0..<20).map { _ in Self.open(from: "127.0.0.3", port: port, sending: [0x16, 0x03, 0x01, 0x02, 0x00]) }
        }
        #expect(await Self.closedByServer(idle, count: 410) == 410)

        // A terminal and an expert with valid certificates: a whole session.
        let (terminal, expert, started, _) = try await LifecycleTests.session(
            daemon, point: "terminal-parainen", expert: "expert-kela-aino")
        terminal.send(
            .hangup(
                .with {
                    $0.sessionID = started.sessionID; $0.reason = .customerEnded
                }))
        #expect(try await expert.expectHangup().reason == .customerEnded)

        // Counted by reason and stage: show info as JSON.
        let path = daemon.directory.appendingPathComponent("luukkud.sock").path
        let answer = try await StatusSocketTests.ask(path, "show info json")
        let info = try #require(
            try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any], "\(answer)")
        let refusals = try #require(info["refusals"] as? [String: Int], "\(answer)")
        let stages = try #require(info["connections_by_stage"] as? [String: Int], "\(answer)")
        #expect(refusals["per_address"] == 400, "\(answer)")
        // 10 for the slow hellos, one more for the first client's own handshake (the expert: the budget was full).
        #expect(refusals["evicted"] == 11, "\(answer)")
        #expect(stages["tcp"] == 110 - 1 && stages["authenticated"] == 2, "\(answer)")
        // One line per source and reason, not one per socket.
        let lines = daemon.log.split(separator: "\n").filter { $0.contains("refused a connection") }
        #expect(lines.filter { $0.contains("peer=127.0.0.2") }.count == 2, "\(lines)")
        #expect(lines.count <= 3, "\(lines)")

        for fd in idle + slow { close(fd) }
        await terminal.goodbye()
        await expert.goodbye()
        #expect(await daemon.terminate() == 0)
    }
}
