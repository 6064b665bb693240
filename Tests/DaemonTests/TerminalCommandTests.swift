import Foundation
import LuukkuClient
import LuukkuProtocol
import LuukkuTestSupport
import Testing

/// luukku-terminal's exit status and messages when it cannot be served: refused, queue closed, unreachable.
@Suite(.serialized, .timeLimit(.minutes(2))) struct TerminalCommandTests {
    @Test func refusedQueueClosedAndUnreachableHaveTheirOwnExitStatus() async throws {
        let daemon = try await Daemon.start { tree in
            var server = tree["server"] as! [String: Any]
            server["revokedIdentities"] = ["luukku:terminal:pelkosenniemi"]
            tree["server"] = server
        }
        let revoked = try await daemon.runTerminal(["--agency", "kela", "--language", "fi", "--point", "pelkosenniemi"])
        #expect(revoked.status == 77, "\(revoked.output)")
        #expect(revoked.output.contains("refused by the daemon (revoked)"), "\(revoked.output)")

        // --cancel-after 0 fires before the ticket id is known: the cancel waits for it.
        let cancelled = try await daemon.runTerminal(["--agency", "vero", "--language", "sv", "--cancel-after", "0"])
        #expect(cancelled.status == 0, "\(cancelled.output)")
        #expect(cancelled.output.contains("closed: cancelled"), "\(cancelled.output)")
        // The customer's language is the terminal's ui_language: Parainen is named in Swedish.
        #expect(cancelled.output.contains("as parainen (Servicepunkten i Pargas)"), "\(cancelled.output)")
        #expect(cancelled.output.contains("no estimate (no expert online), 0 expert(s) online"), "\(cancelled.output)")
        // An expert logged in but away (as after login): online, yet no estimate, and the line says why.
        let away = try await daemon.connect("expert-vero-saga")
        _ = try await away.expectPresence(.away)
        let waiting = try await daemon.runTerminal(["--agency", "vero", "--language", "sv", "--cancel-after", "0"])
        #expect(
            waiting.output.contains("no estimate (every expert of the queue is away), 1 expert(s) online"),
            "\(waiting.output)")
        await away.goodbye()

        let unknown = try await daemon.runTerminal(["--agency", "nasa", "--language", "fi"])
        #expect(unknown.status == 77, "\(unknown.output)")
        #expect(unknown.output.contains("unknownAgency"), "\(unknown.output)")

        // A running session keeps the draining daemon up; a new request is told the queue is closed.
        let (terminal, expert, started, _) = try await LifecycleTests.session(
            daemon, point: "terminal-parainen", expert: "expert-kela-aino")
        daemon.signal(SIGTERM)
        // Whether the request lands before the drain starts (its ticket is then closed) or after (refused),
        // the terminal ends with 75 and names the closed queue.
        let closed = try await daemon.runTerminal(["--agency", "vero", "--language", "fi", "--point", "mikkeli"])
        #expect(closed.status == 75, "\(closed.output)")
        #expect(closed.output.contains("queueClosed"), "\(closed.output)")
        terminal.send(.hangup(.with { $0.sessionID = started.sessionID }))
        #expect(await daemon.exitStatus() == 0)
        _ = expert

        let unreachable = try await daemon.runTerminal(["--agency", "kela", "--language", "fi"])
        #expect(unreachable.status == 69, "\(unreachable.output)")
        #expect(unreachable.output.contains("cannot reach the daemon"), "\(unreachable.output)")
    }

    /// A certificate the daemon refuses in the TLS handshake is not "cannot reach the daemon"; a certificate of
    /// the other role is refused by the client itself, from Welcome's role. Both exit 77, terminal and console.
    @Test func aRefusedCertificateOrRoleSaysSoAndExits77() async throws {
        let daemon = try await Daemon.start()
        let other = try await ConformanceTests.certificates(in: "foreign")
        let ca = Daemon.certificates.appendingPathComponent("ca.pem").path
        let foreign = try await daemon.runTerminal([
            "--agency", "kela", "--language", "fi", "--certificate",
            other.appendingPathComponent("terminal-parainen.pem").path,
            "--key", other.appendingPathComponent("terminal-parainen.key").path, "--ca", ca,
        ])
        #expect(foreign.status == 77, "\(foreign.output)")
        #expect(foreign.output.contains("the daemon refused this client's certificate (TLS alert"), "\(foreign.output)")
        #expect(!foreign.output.contains("cannot reach"), "\(foreign.output)")

        let expert = Daemon.certificates.appendingPathComponent("expert-kela-aino")
        let wrongRole = try await daemon.runTerminal([
            "--agency", "kela", "--language", "fi", "--certificate", expert.path + ".pem", "--key",
            expert.path + ".key",
            "--ca", ca,
        ])
        #expect(wrongRole.status == 77, "\(wrongRole.output)")
        #expect(wrongRole.output.contains("this certificate is an expert's (kela-aino)"), "\(wrongRole.output)")

        // The console with a service point's certificate under an expert's file name.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-role-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (from, to) in [
            ("terminal-parainen.pem", "expert-x.pem"), ("terminal-parainen.key", "expert-x.key"), ("ca.pem", "ca.pem"),
        ] {
            try FileManager.default.copyItem(
                at: Daemon.certificates.appendingPathComponent(from), to: folder.appendingPathComponent(to))
        }
        let console = try await runProcess(
            Repository.products.appendingPathComponent("luukku-console").path,
            ["--line", "--daemon", "127.0.0.1:\(daemon.port)", "--certs", folder.path, "--expert", "x"],
            errorsToOutput: true)
        #expect(console.status == 77, "\(console.output)")
        #expect(console.output.contains("this certificate is a service point's (parainen)"), "\(console.output)")
        let foreignConsole = try await runProcess(
            Repository.products.appendingPathComponent("luukku-console").path,
            ["--line", "--daemon", "127.0.0.1:\(daemon.port)", "--certs", other.path, "--expert", "kela-aino"],
            errorsToOutput: true)
        // Its own CA does not sign the daemon's certificate: this is the console not trusting the daemon (69).
        #expect(foreignConsole.status == 69, "\(foreignConsole.output)")
        #expect(await daemon.terminate() == 0)
    }
}
