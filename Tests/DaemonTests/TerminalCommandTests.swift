import Foundation
import LuukkuClient
import LuukkuProtocol
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
}
