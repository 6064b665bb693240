import Foundation
import LuukkuClient
import LuukkuLedger
import LuukkuMedia
import LuukkuProtocol
import NIOConcurrencyHelpers
import Testing

/// SIGTERM drains and exits 0; kill -9 loses nothing a client was told, and the next start closes what was
/// open as interrupted; a connection dropped during a session resumes it.
@Suite(.serialized, .timeLimit(.minutes(2))) struct LifecycleTests {
    /// A session between `point` and the expert `expert` of `agency` in `language`, both over LuukkuClient.
    static func session(
        _ daemon: Daemon, point: String, expert name: String, agency: String = "kela", language: String = "fi"
    ) async throws -> (
        terminal: ClientConnection, expert: ClientConnection, started: Luukku_V1_SessionStarted,
        expertStarted: Luukku_V1_SessionStarted
    ) {
        let expert = try await daemon.connect(name)
        try await expert.becomeAvailable()
        let terminal = try await daemon.connect(point)
        terminal.requestService(agency, language)
        let offer = try await expert.expectOffer()
        expert.send(.accept(.with { $0.ticketID = offer.ticketID }))
        let expertStarted = try await expert.expectSessionStarted()
        return (terminal, expert, try await terminal.expectSessionStarted(), expertStarted)
    }

    @Test func sigtermLetsTheRunningSessionFinishThenExitsZero() async throws {
        let daemon = try await Daemon.start()
        let (terminal, expert, started, _) = try await Self.session(
            daemon, point: "terminal-parainen", expert: "expert-kela-aino")
        let waiting = try await daemon.connect("terminal-mikkeli")
        let request = waiting.requestService("vero", "fi")
        let ticket = try await waiting.expectQueueStatus()
        #expect(ticket.position == 1)
        _ = request

        daemon.signal(SIGTERM)
        let closed = try await waiting.expectTicketClosed()
        #expect(closed.ticketID == ticket.ticketID && closed.reason == .queueClosed)
        // No new requests while draining; the running session goes on.
        waiting.requestService("vero", "fi")
        #expect(try await waiting.expectError().code == .queueClosed)
        // Connections are still accepted with a normal Welcome (a dropped party must be able to resume; there is
        // no SHUTTING_DOWN), and refused only their requests.
        let late = try await daemon.connect("terminal-saarijarvi")
        #expect(late.welcome.identity == "saarijarvi")
        late.requestService("kela", "fi")
        #expect(try await late.expectError().code == .queueClosed)
        terminal.send(.ping(.with { $0.nonce = 7 }))
        _ = try await terminal.expect("Pong") { frame -> UInt64? in
            if case .pong(let pong) = frame.message, pong.nonce == 7 { return pong.nonce }
            return nil
        }
        terminal.send(
            .hangup(
                .with {
                    $0.sessionID = started.sessionID; $0.reason = .customerEnded
                }))
        _ = try await expert.expectHangup()
        // At exit every connection is told Goodbye{SERVER_SHUTDOWN}.
        for client in [terminal, expert, waiting, late] {
            #expect(try await client.expectGoodbye().reason == .serverShutdown)
        }
        #expect(await daemon.exitStatus() == 0, "\(daemon.log)")

        let ledger = try daemon.ledger()
        let sessions = try await ledger.sessions()
        #expect(sessions.map { "\($0.outcome ?? "open")/\($0.reason ?? "")" } == ["completed/customer-ended"])
        let tickets = try await ledger.tickets()
        #expect(tickets.first { "t-\($0.stamp)" == ticket.ticketID }?.reason == "queue-closed")
        #expect(ledger.recovered.sessions == 0 && ledger.recovered.tickets == 0)
    }

    /// Two runs on one ledger: the second numbers its tickets and sessions after the first's, so an operator
    /// never sees two different `s-1` in one month's records.
    @Test func sessionAndTicketIdsAreNeverReusedAcrossRestarts() async throws {
        let ledger = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-ids-\(UUID()).sqlite").path
        var seen: [(session: String, ticket: String)] = []
        for _ in 0..<2 {
            let daemon = try await Daemon.start(ledger: ledger)
            let (terminal, expert, started, _) = try await Self.session(
                daemon, point: "terminal-parainen", expert: "expert-kela-aino")
            terminal.send(
                .hangup(
                    .with {
                        $0.sessionID = started.sessionID; $0.reason = .customerEnded
                    }))
            _ = try await expert.expectHangup()
            seen.append((started.sessionID, started.ticketID))
            await terminal.goodbye()
            await expert.goodbye()
            #expect(await daemon.terminate() == 0)
        }
        #expect(seen[0].session != seen[1].session && seen[0].ticket != seen[1].ticket, "\(seen)")
        // The ledger holds both runs' sessions under the ids the clients were told.
        let sessions = try await SQLiteLedger(path: ledger).sessions()
        #expect(Set(sessions.map { "s-\($0.id)" }) == Set(seen.map(\.session)), "\(sessions)")
    }

    @Test func theDrainDeadlineEndsSessionsThatRunOn() async throws {
        let daemon = try await Daemon.start { tree in
            var server = tree["server"] as! [String: Any]
            server["timeouts"] = ["offerAnswer": 20, "wrapUp": 60, "resumeGrace": 30, "drain": 1]
            tree["server"] = server
        }
        let (terminal, expert, started, _) = try await Self.session(
            daemon, point: "terminal-oulu-kiiminki", expert: "expert-kela-aino")
        daemon.signal(SIGTERM)
        for client in [terminal, expert] {
            let hangup = try await client.expectHangup()
            #expect(hangup.sessionID == started.sessionID && hangup.reason == .shutdown)
        }
        #expect(await daemon.exitStatus() == 0)
        let sessions = try await daemon.ledger().sessions()
        #expect(sessions.map { "\($0.outcome ?? "open")/\($0.reason ?? "")" } == ["completed/shutdown"])
    }

    @Test func aDroppedConnectionResumesItsRunningSession() async throws {
        let daemon = try await Daemon.start()
        var (terminal, expert, started, _) = try await Self.session(
            daemon, point: "terminal-parainen", expert: "expert-kela-aino")
        let token = terminal.welcome.resumeToken
        await terminal.drop()
        terminal = try await daemon.connect("terminal-parainen")
        terminal.send(.resume(.with { $0.resumeToken = token }))
        let again = try await terminal.expectSessionStarted()
        #expect(again == started)  // same session, port and keys: the legs stayed up
        terminal.send(.hangup(.with { $0.sessionID = started.sessionID }))
        _ = try await expert.expectHangup()
        for client in [terminal, expert] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
        #expect(try await daemon.ledger().sessions().map(\.reason) == ["customer-ended"])
    }

    /// What the clients were told before the daemon was killed.
    final class Told: Sendable {
        let tickets = NIOLockedValueBox<[String]>([])
        let cancelled = NIOLockedValueBox<[String]>([])
        /// The test waiting for a count of cancels, and whether the traffic has stopped.
        private let waiting = NIOLockedValueBox<
            (stopped: Bool, waiter: (count: Int, continuation: CheckedContinuation<Void, Never>)?)
        >((false, nil))

        func cancelled(_ ticket: String) {
            let count = cancelled.withLockedValue { list in
                list.append(ticket)
                return list.count
            }
            let ready = waiting.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiter, count >= waiter.count else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            ready?.resume()
        }

        /// The traffic stopped (its connection ended or a request was refused): the waiter returns now.
        func stop() {
            let ready = waiting.withLockedValue { state -> CheckedContinuation<Void, Never>? in
                state.stopped = true
                defer { state.waiter = nil }
                return state.waiter?.continuation
            }
            ready?.resume()
        }

        /// Returns once `count` cancels were told, or the traffic stopped.
        func cancelledCount(reaches count: Int) async {
            await withCheckedContinuation { continuation in
                let done = waiting.withLockedValue { state -> Bool in
                    if state.stopped || cancelled.withLockedValue({ $0.count }) >= count { return true }
                    state.waiter = (count, continuation)
                    return false
                }
                if done { continuation.resume() }
            }
        }
    }

    @Test func killNineLosesNothingAClientWasToldAndTheNextStartClosesWhatWasOpen() async throws {
        let daemon = try await Daemon.start()
        let (terminal, expert, started, expertStarted) = try await Self.session(
            daemon, point: "terminal-parainen", expert: "expert-kela-aino")
        // Media through the relay while requests and cancels come and go.
        let terminalMedia = try TestMedia(started)
        let expertMedia = try TestMedia(expertStarted)
        let media = [terminalMedia, expertMedia].map { stream in
            Task { try? await stream.stream(count: nil, linger: .zero, probeLimit: .seconds(30)) }
        }
        let told = Told()
        let busy = try await daemon.connect("terminal-mikkeli")
        // The answer to request `id`, or nil once the connection is gone (the kill).
        func answer(_ id: UInt64) async -> Luukku_V1_Envelope? {
            while let frame = await busy.next() {
                if frame.correlationID == id { return frame }
            }
            return nil
        }
        let traffic = Task {
            defer { told.stop() }
            while true {
                let id = busy.requestService("vero", "sv")
                guard case .queueStatus(let status)? = await answer(id)?.message else { return }
                told.tickets.withLockedValue { $0.append(status.ticketID) }
                let cancel = busy.send(.cancelRequest(.with { $0.ticketID = status.ticketID }))
                guard case .ticketClosed? = await answer(cancel)?.message else { return }
                told.cancelled(status.ticketID)
            }
        }
        // Kill once some traffic has been told.
        await told.cancelledCount(reaches: 20)
        try #require(told.cancelled.withLockedValue { $0.count } >= 20, "the traffic stopped early: \(daemon.log)")
        daemon.signal(SIGKILL)
        #expect(await daemon.exitStatus() == 9)
        await traffic.value
        for stream in [terminalMedia, expertMedia] { stream.stop() }
        for task in media { _ = await task.value }
        _ = (terminal, expert)

        // The next start on the same ledger closes what the killed run left open.
        let restarted = try await Daemon.start(ledger: daemon.ledgerPath)
        #expect(await restarted.terminate() == 0)
        #expect(restarted.log.contains("interrupted_sessions=1"), "\(restarted.log)")
        let ledger = try restarted.ledger()
        let tickets = try await ledger.tickets().filter { $0.run == 1 }
        let byID = Dictionary(uniqueKeysWithValues: tickets.map { ("t-\($0.stamp)", $0) })
        for ticket in told.tickets.withLockedValue({ $0 }) {
            #expect(byID[ticket] != nil, "ticket \(ticket) was told but lost")
        }
        for ticket in told.cancelled.withLockedValue({ $0 }) {
            #expect(byID[ticket]?.outcome == "cancelled", "cancel of \(ticket) was told but lost")
        }
        #expect(tickets.allSatisfy { $0.outcome != nil }, "a ticket of the killed run is still open")
        let sessions = try await ledger.sessions().filter { $0.run == 1 }
        #expect(sessions.map { "\($0.outcome ?? "open")/\($0.reason ?? "")" } == ["interrupted/restart"])
        #expect("s-\(sessions.first?.id ?? 0)" == started.sessionID)
    }
}
