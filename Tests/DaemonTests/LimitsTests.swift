import Foundation
import LuukkuClient
import LuukkuProtocol
import NIOPosix
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The connection's limits and timeouts, and SIGHUP: each refusal is a clear error frame, and everyone else
/// is still served.
@Suite(.serialized, .timeLimit(.minutes(2))) struct LimitsTests {
    static func server(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
        { tree in
            var server = tree["server"] as! [String: Any]
            change(&server)
            tree["server"] = server
        }
    }

    @Test func openRequestsPerTerminalAreCapped() async throws {
        let daemon = try await Daemon.start(Self.server { $0["maxRequestsPerTerminal"] = 2 })
        let terminal = try await daemon.connect("terminal-parainen")
        #expect(terminal.welcome.limits.maxOpenRequests == 2)
        for language in ["fi", "sv"] {
            terminal.requestService("vero", language)
            _ = try await terminal.expectQueueStatus()
        }
        let third = terminal.requestService("kela", "fi")
        let error = try await terminal.expectError(answering: third)
        #expect(error.code == .tooManyRequests && !error.fatal)
        // Bad requests get their own codes.
        terminal.requestService("nasa", "fi")
        #expect(try await terminal.expectError().code == .unknownAgency)
        await terminal.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    @Test func aFrameOverTheLimitIsFatalForThatConnectionOnly() async throws {
        let daemon = try await Daemon.start(Self.server { $0["maxFrameBytes"] = 1_024 })
        let big = try await daemon.connect("terminal-parainen")
        let other = try await daemon.connect("terminal-mikkeli")
        big.send(
            .feedback(
                .with {
                    $0.sessionID = "s-1"; $0.comment = String(repeating: "x", count: 2_000)
                }))
        let error = try await big.expectError()
        #expect(error.code == .frameTooLarge && error.fatal, "\(daemon.log)")
        #expect(await big.next() == nil)  // closed
        other.send(.ping(.with { $0.nonce = 1 }))
        _ = try await other.expect("Pong") { frame -> Bool? in
            if case .pong = frame.message { return true }
            return nil
        }
        await other.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    @Test func versionConnectionCapHeartbeatAndHandshakeTimeouts() async throws {
        let daemon = try await Daemon.start(
            Self.server {
                $0["maxConnections"] = 3
                $0["timeouts"] = [
                    "handshake": 2, "heartbeat": 1, "idle": 3, "offerAnswer": 20, "wrapUp": 60, "resumeGrace": 30,
                    "drain": 60,
                ]
            })
        // No common protocol version.
        do {
            _ = try await ClientConnection.connect(
                host: "127.0.0.1", port: daemon.port,
                identity: ClientIdentity(
                    certificate: Daemon.certificates.appendingPathComponent("terminal-parainen.pem").path,
                    privateKey: Daemon.certificates.appendingPathComponent("terminal-parainen.key").path,
                    trustRoots: Daemon.certificates.appendingPathComponent("ca.pem").path),
                software: "tests", group: MultiThreadedEventLoopGroup.singleton, versions: [2])
            Issue.record("a version-2-only client got a Welcome")
        } catch {
            guard case .refused(let code, _) = error.code else { throw error }
            #expect(code == .unsupportedVersion)
        }
        // A TCP client that never starts TLS is closed after the handshake timeout.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(daemon.port).bigEndian)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        #expect(connected == 0)
        // EOF: the server closed it (read on a thread of its own; 30 s bound only so a broken server fails the
        // test instead of hanging it).
        var bound = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        let received = await onThread {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0)
        }
        #expect(received == 0)
        close(fd)

        // A connection that stays silent is closed with HEARTBEAT_TIMEOUT; one that pings (as LuukkuClient does
        // every heartbeat interval) outlives it.
        let pinging = try await daemon.connect("terminal-pelkosenniemi")
        let silent = try await daemon.connect("terminal-parainen", heartbeats: false)
        #expect(silent.welcome.heartbeatIntervalMs == 1_000 && silent.welcome.idleTimeoutMs == 3_000)
        let error = try await silent.expectError()
        #expect(error.code == .heartbeatTimeout && error.fatal)
        #expect(await silent.next() == nil)  // closed by the server, so it no longer counts below
        pinging.requestService("kela", "fi")
        #expect(try await pinging.expectQueueStatus().agency == "kela")

        // At the connection cap (3: the pinging one and these two; the server closed the silent one itself, so
        // it no longer counts) the next client is told OVERLOADED.
        let first = try await daemon.connect("terminal-mikkeli")
        let second = try await daemon.connect("terminal-oulu-kiiminki")
        do {
            _ = try await daemon.connect("terminal-saarijarvi")
            Issue.record("a connection over the cap got a Welcome")
        } catch {
            #expect(error.code == .refused(.overloaded, "server has too many connections"), "\(error)")
        }
        for client in [pinging, first, second] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
    }

    @Test func sighupReloadsRevocationsAndRefusesABrokenFile() async throws {
        let daemon = try await Daemon.start()
        let terminal = try await daemon.connect("terminal-oulu-kiiminki")
        terminal.requestService("vero", "fi")
        _ = try await terminal.expectQueueStatus()
        let bystander = try await daemon.connect("terminal-parainen")

        var tree = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.configurationFile)) as? [String: Any])
        var server = try #require(tree["server"] as? [String: Any])
        server["revokedIdentities"] = ["luukku:terminal:oulu-kiiminki"]
        tree["server"] = server
        try JSONSerialization.data(withJSONObject: tree).write(to: daemon.configurationFile)
        daemon.signal(SIGHUP)
        #expect(await daemon.line(startingWith: "luukkud: reloaded") != nil)
        // The revoked terminal's connection is closed with REVOKED; a new one is refused.
        let revoked = try await terminal.expectError()
        #expect(revoked.code == .revoked && revoked.fatal)
        do {
            _ = try await daemon.connect("terminal-oulu-kiiminki")
            Issue.record("a revoked terminal got a Welcome after the reload")
        } catch {
            #expect(error.code == .refused(.revoked, "identity has been revoked"))
        }

        // A broken file is refused and the running configuration stays.
        try Data("{ not json".utf8).write(to: daemon.configurationFile)
        daemon.signal(SIGHUP)
        #expect(await daemon.line(startingWith: "luukkud: reload refused") != nil)
        bystander.requestService("kela", "sv")
        #expect(try await bystander.expectQueueStatus().agency == "kela")
        await bystander.goodbye()
        #expect(await daemon.terminate() == 0)
        let tickets = try await daemon.ledger().tickets()
        #expect(tickets.first?.reason == "connection-lost")
    }
}
