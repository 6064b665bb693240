import Foundation
import LuukkuProtocol
import LuukkuTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The operators' status socket over a real Unix socket: several commands on one line, text tables, JSON,
/// an unknown command, and drain/undrain acting on the daemon.
@Suite(.serialized, .timeLimit(.minutes(2))) struct StatusSocketTests {
    /// Sends one line to the socket and reads the answer until the daemon closes (on a thread of its own).
    static func ask(_ path: String, _ line: String) async throws -> String {
        try #require(FileManager.default.fileExists(atPath: path), "no status socket at \(path)")
        return await onThread {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            let connected = withUnixAddress(path) { connect(fd, $0, $1) }
            guard connected == 0 else { return "connect failed: \(errno)" }
            return exchange(fd, line + "\n")
        }
    }

    @Test func showCommandsInTextAndJSONAndDrainUndrain() async throws {
        let daemon = try await Daemon.start()
        let path = daemon.directory.appendingPathComponent("luukkud.sock").path
        let expert = try await daemon.connect("expert-vero-eero")
        _ = try await expert.expectPresence(.away)
        let terminal = try await daemon.connect("terminal-parainen")
        terminal.requestService("kela", "fi")
        let ticket = try await terminal.expectQueueStatus()

        let answer = try await Self.ask(path, "show info; show queues json;show experts ; bogus thing")
        let parts = answer.components(separatedBy: "\n\n")
        try #require(parts.count >= 4, "\(answer)")
        let info = parts[0].split(separator: "\n")
        #expect(info.first?.hasPrefix("field") == true)
        #expect(info.contains { $0.hasPrefix("tickets_waiting ") && $0.hasSuffix(" 1") }, "\(parts[0])")
        #expect(info.contains { $0.hasPrefix("draining ") && $0.hasSuffix(" false") }, "\(parts[0])")
        let queues = try #require(
            try JSONSerialization.jsonObject(with: Data(parts[1].utf8)) as? [[String: Any]], "\(parts[1])")
        let kelaFI = try #require(
            queues.first { $0["agency"] as? String == "kela" && $0["language"] as? String == "fi" })
        #expect(kelaFI["waiting"] as? Int == 1 && kelaFI["experts_online"] as? Int == 0)
        let vero = try #require(parts[2].split(separator: "\n").first { $0.hasPrefix("vero-eero ") }, "\(parts[2])")
        #expect(vero.contains(" away ") && vero.contains(" true "), "\(vero)")
        #expect(parts[3] == "error: unknown command 'bogus thing'; 'help' lists the commands", "\(parts[3])")

        // drain (this test runs as root: the operator level) closes the queue; undrain opens it again.
        #expect(try await Self.ask(path, "drain") == "queues closed: new requests are refused\n\n")
        let closed = try await terminal.expectTicketClosed()
        #expect(closed.ticketID == ticket.ticketID && closed.reason == .queueClosed)
        terminal.requestService("kela", "fi")
        #expect(try await terminal.expectError().code == .queueClosed)
        #expect(try await Self.ask(path, "undrain; show info json").hasPrefix("queues open\n\n{"))
        terminal.requestService("kela", "fi")
        #expect(try await terminal.expectQueueStatus().position == 1)

        let help = try await Self.ask(path, "help")
        #expect(help.contains("report transactions <YYYY-MM>") && help.contains("Several commands on one line"))

        for client in [expert, terminal] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
        #expect(!FileManager.default.fileExists(atPath: path), "the socket file is removed at exit")
    }
}

extension StatusSocketTests {
    /// The line through socat, as an operator types it (`echo LINE | socat - UNIX-CONNECT:PATH`).
    static func socat(_ path: String, _ line: String) async throws -> String {
        let socat = try #require(SDPInteropTests.which("socat"), "socat is not installed (make test installs it)")
        let run = try await runProcess(socat, ["-", "UNIX-CONNECT:\(path)"], input: line + "\n")
        #expect(run.status == 0, "\(run.error)")
        return run.output
    }

    @Test func showRelayAndKickAnExpertOutOfARunningSession() async throws {
        let daemon = try await Daemon.start()
        let path = daemon.directory.appendingPathComponent("luukkud.sock").path
        let (terminal, expert, started, _) = try await LifecycleTests.session(
            daemon, point: "terminal-saarijarvi", expert: "expert-kela-aino")

        let relay = try await Self.socat(path, "show relay; show sessions")
        let lines = relay.split(separator: "\n")
        #expect(lines.contains { $0.hasPrefix("sessions ") && $0.hasSuffix(" 1") }, "\(relay)")
        let configuration = try JSONSerialization.jsonObject(with: Data(contentsOf: daemon.configurationFile))
        let ports = try #require(((configuration as? [String: Any])?["relay"] as? [String: Any])?["ports"] as? [Int])
        #expect(lines.contains { $0.hasPrefix("ports ") && $0.hasSuffix(" \(ports[0])-\(ports[1])") }, "\(relay)")
        #expect(lines.contains { $0.hasPrefix("\(started.sessionID) ") && $0.contains(" saarijarvi ") }, "\(relay)")

        #expect(try await Self.socat(path, "kick expert kela-aino") == "expert kela-aino logged out\n\n")
        let hangup = try await terminal.expectHangup()
        #expect(hangup.sessionID == started.sessionID && hangup.reason == .operator)
        let goodbye = try await expert.expectGoodbye()
        #expect(goodbye.reason == .kicked)
        let experts = try await Self.socat(path, "show experts json; kick expert kela-aino")
        let parts = experts.components(separatedBy: "\n\n")
        let list = try #require(try JSONSerialization.jsonObject(with: Data(parts[0].utf8)) as? [[String: Any]])
        let aino = try #require(list.first { $0["id"] as? String == "kela-aino" })
        #expect(aino["presence"] as? String == "offline" && aino["connected"] as? Bool == false, "\(aino)")
        #expect(parts[1] == "error: expert kela-aino is not connected")

        await terminal.goodbye()
        #expect(await daemon.terminate() == 0)
        let sessions = try await daemon.ledger().sessions()
        #expect(sessions.map { "\($0.outcome ?? "open")/\($0.reason ?? "")" } == ["completed/operator"])
    }
}
