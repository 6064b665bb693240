import Foundation
import LuukkuClient
import LuukkuLedger
import LuukkuProtocol
import LuukkuTestSupport
import Testing

/// The queue's promises over real connections: a declined or unanswered ticket keeps its place, a cancel and
/// a lost connection are recorded with their reasons, and Resume keeps the place.
@Suite(.serialized, .timeLimit(.minutes(2))) struct QueueTests {
    static func request(_ client: ClientConnection, _ agency: String, _ language: String) async throws
        -> Luukku_V1_QueueStatus
    {
        let id = client.requestService(agency, language)
        return try await client.expect("the request's QueueStatus") { frame in
            if frame.correlationID == id, case .queueStatus(let status) = frame.message { return status }
            if frame.correlationID == id, case .error(let error) = frame.message {
                Issue.record("request refused: \(error.code)")
                return Luukku_V1_QueueStatus()
            }
            return nil
        }
    }

    static func server(_ tree: inout [String: Any], _ change: (inout [String: Any]) -> Void) {
        var server = tree["server"] as! [String: Any]
        change(&server)
        tree["server"] = server
    }

    /// A decline over the wire and into the ledger. The answer time and ring-no-answer themselves are
    /// policies, tested on a manual clock (BrokerPolicyTests); nothing here waits on a timer.
    @Test func aDeclinePutsTheTicketBackAtItsPlace() async throws {
        let daemon = try await Daemon.start { tree in
            Self.server(&tree) { server in server["maxMissedOffers"] = 1 }
        }
        let first = try await daemon.connect("terminal-parainen")
        let second = try await daemon.connect("terminal-mikkeli")
        let a = try await Self.request(first, "kela", "fi")
        let b = try await Self.request(second, "kela", "fi")
        #expect(a.position == 1 && b.position == 2)
        #expect(!a.hasEstimatedWaitSeconds && a.expertsOnline == 0)

        let expert = try await daemon.connect("expert-kela-aino")
        try await expert.becomeAvailable()
        let offer = try await expert.expectOffer()
        #expect(offer.ticketID == a.ticketID)
        expert.send(.decline(.with { $0.ticketID = a.ticketID }))
        _ = try await first.expectQueueStatus { $0.offered }
        let away = try await expert.expectPresence(.away)
        #expect(away.awayReason == .noAnswer)  // maxMissedOffers 1
        let back = try await first.expectQueueStatus { !$0.offered }
        #expect(back.position == 1 && back.ticketID == a.ticketID)
        _ = try await second.expectQueueStatus { $0.position == 2 && $0.expertsOnline == 1 }

        // Available again: the same ticket, first in line, is offered again.
        try await expert.becomeAvailable()
        let again = try await expert.expectOffer()
        #expect(again.ticketID == a.ticketID)

        for client in [first, second, expert] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
        let ledger = try daemon.ledger()
        let stamp = try #require(UInt64(a.ticketID.dropFirst(2)))
        // The second offer stood when the customer said Goodbye: it was withdrawn.
        #expect(try await ledger.offerAnswers(run: 1, ticket: stamp) == ["declined", "withdrawn"])
    }

    @Test func cancelIsRecordedAndResumeKeepsThePlace() async throws {
        let daemon = try await Daemon.start()
        let first = try await daemon.connect("terminal-parainen")
        let second = try await daemon.connect("terminal-mikkeli")
        var third = try await daemon.connect("terminal-saarijarvi")
        let a = try await Self.request(first, "vero", "sv")
        let b = try await Self.request(second, "vero", "sv")
        let c = try await Self.request(third, "vero", "sv")
        #expect([a.position, b.position, c.position] == [1, 2, 3])

        // Only the ticket's own connection may cancel it.
        first.send(.cancelRequest(.with { $0.ticketID = c.ticketID }))
        #expect(try await first.expectError().code == .forbidden)
        let cancel = second.send(.cancelRequest(.with { $0.ticketID = b.ticketID }))
        let closed = try await second.expect("TicketClosed") { frame -> Luukku_V1_TicketClosed? in
            if case .ticketClosed(let closed) = frame.message, frame.correlationID == cancel { return closed }
            return nil
        }
        #expect(closed.ticketID == b.ticketID && closed.reason == .cancelled)
        _ = try await third.expectQueueStatus { $0.position == 2 }

        // The third terminal's connection drops; it comes back within the grace and keeps its place.
        let token = third.welcome.resumeToken
        await third.drop()
        third = try await daemon.connect("terminal-saarijarvi")
        let resume = third.send(.resume(.with { $0.resumeToken = token }))
        let resumed = try await third.expect("the resumed QueueStatus") { frame -> Luukku_V1_QueueStatus? in
            if case .queueStatus(let status) = frame.message, frame.correlationID == resume { return status }
            return nil
        }
        #expect(resumed.ticketID == c.ticketID && resumed.position == 2)
        // The old token is spent, and a token is only good for its own identity.
        let stranger = try await daemon.connect("terminal-pelkosenniemi")
        stranger.send(.resume(.with { $0.resumeToken = third.welcome.resumeToken }))
        #expect(try await stranger.expectError().code == .resumeFailed)
        stranger.send(.resume(.with { $0.resumeToken = token }))
        #expect(try await stranger.expectError().code == .resumeFailed)

        for client in [first, second, third, stranger] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
        let tickets = try await daemon.ledger().tickets()
        let outcomes = Dictionary(
            uniqueKeysWithValues: tickets.map { ("t-\($0.stamp)", "\($0.outcome ?? "open")/\($0.reason ?? "")") })
        #expect(outcomes[b.ticketID] == "cancelled/customer")
        #expect(outcomes[a.ticketID] == "cancelled/customer")  // Goodbye: the customer left
        #expect(outcomes[c.ticketID] == "cancelled/customer")
    }

    /// A terminal process killed with -9 leaves without a TLS close: its party still gets the resume grace and
    /// then loses its ticket, and the queue moves up.
    @Test func aKilledTerminalProcessLosesItsTicketAfterTheGrace() async throws {
        let daemon = try await Daemon.start { tree in
            Self.server(&tree) { server in
                server["timeouts"] = ["offerAnswer": 20, "wrapUp": 60, "resumeGrace": 1, "drain": 60]
            }
        }
        let killed = try RunningProcess(
            Repository.products.appendingPathComponent("luukku-terminal").path,
            [
                "request", "--daemon", "127.0.0.1:\(daemon.port)", "--certs", Daemon.certificates.path, "--agency",
                "te", "--language", "sv",
            ], in: daemon.directory)
        let line = try #require(await killed.line(startingWith: "ticket t-"))
        let ticket = String(line.dropFirst("ticket ".count).prefix { $0 != ":" })
        let second = try await daemon.connect("terminal-mikkeli")
        let b = try await Self.request(second, "te", "sv")
        #expect(b.position == 2)
        _ = await killed.stop()
        let moved = try await second.expectQueueStatus { $0.position == 1 }
        #expect(moved.ticketID == b.ticketID)
        await second.goodbye()
        #expect(await daemon.terminate() == 0)
        let closed = try await daemon.ledger().tickets().first { "t-\($0.stamp)" == ticket }
        #expect(closed?.outcome == "cancelled" && closed?.reason == "connection-lost", "\(String(describing: closed))")
    }

    @Test func anAcceptThatCrossesTheCustomersCancelGetsOfferExpired() async throws {
        let daemon = try await Daemon.start()
        let expert = try await daemon.connect("expert-vero-saga")
        try await expert.becomeAvailable()
        let terminal = try await daemon.connect("terminal-parainen")
        let status = try await Self.request(terminal, "vero", "sv")
        let offer = try await expert.expectOffer()
        #expect(offer.ticketID == status.ticketID)
        terminal.send(.cancelRequest(.with { $0.ticketID = status.ticketID }))
        let withdrawn = try await expert.expectOfferWithdrawn()
        #expect(withdrawn.reason == .customerLeft)
        let accept = expert.send(.accept(.with { $0.ticketID = offer.ticketID }))
        let error = try await expert.expectError(answering: accept)
        #expect(error.code == .offerExpired && !error.fatal)
        for client in [expert, terminal] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
        let answers = try await daemon.ledger().offerAnswers(run: 1, ticket: UInt64(status.ticketID.dropFirst(2))!)
        #expect(answers == ["withdrawn"])
    }
}
