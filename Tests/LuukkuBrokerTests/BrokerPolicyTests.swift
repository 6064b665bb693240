import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import Testing

@testable import LuukkuBroker

/// The broker's policies on a manual clock (docs/server.md, "The broker"): each test runs its timeouts by
/// moving the clock, never by waiting.
@Suite struct BrokerPolicyTests {
    @Test func anOfferNotAnsweredLapsesAndTheSecondMissSetsTheExpertAway() throws {
        var broker = try BrokerHarness()
        let aino = broker.expert()
        let kiosk = broker.terminal()
        let ticket = broker.request(kiosk)
        #expect(broker.offers(aino) == [ticket])
        #expect(broker.armed[.offer(ExpertID("kela-aino")!, TicketID(wireValue: ticket)!)] != nil)

        broker.advance(by: .seconds(19))
        #expect(broker.offers(aino) == [ticket], "not yet: the answer time is 20 s")
        broker.advance(by: .seconds(1))
        // The first miss: the ticket goes back to its place and, as the oldest, to the same expert at once.
        #expect(broker.offers(aino) == [ticket, ticket])
        #expect(broker.presences(aino).suffix(2) == [.available, .offered])
        broker.advance(by: .seconds(20))
        // The second miss in a row (maxMissedOffers 2): away, the ticket waits with no estimate.
        #expect(broker.presences(aino).last == .away)
        #expect(broker.offers(aino).count == 2)
        let status = try #require(broker.statuses(kiosk).last)
        #expect(status.offered == false)
        #expect(status.hasEstimatedWaitSeconds == false)
        #expect(
            broker.recordKinds == [
                "ticketOpened", "offerMade", "offerAnswered:no-answer", "offerMade", "offerAnswered:no-answer",
            ])
    }

    @Test func aDeclinedTicketKeepsItsPlaceAheadOfYoungerOnes() throws {
        var broker = try BrokerHarness()
        let first = broker.terminal()
        let second = broker.terminal("mikkeli")
        let t1 = broker.request(first)
        let t2 = broker.request(second)
        #expect(broker.statuses(second).last?.position == 2)
        let aino = broker.expert()
        #expect(broker.offers(aino) == [t1])
        broker.send(aino, .decline(.with { $0.ticketID = t1 }))
        // Back at its place: the oldest goes to the (again available) expert before the younger one.
        #expect(broker.offers(aino) == [t1, t1])
        #expect(broker.statuses(second).last?.position == 1, "t1 is offered, so t2 is next in line")
        broker.send(aino, .decline(.with { $0.ticketID = t1 }))
        #expect(broker.presences(aino).last == .away)
        #expect(broker.statuses(first).last?.position == 1)
        #expect(broker.statuses(second).last?.position == 2)
        _ = t2
    }

    @Test func aDroppedTerminalKeepsItsTicketForTheGraceAndLosesItAfter() throws {
        var broker = try BrokerHarness()
        let kiosk = broker.terminal()
        let token = try #require(broker.frames(kiosk).first.flatMap { if case .welcome(let w) = $0 { w } else { nil } })
            .resumeToken
        let ticket = broker.request(kiosk)
        broker.apply(broker.machine.detach(connection: kiosk, clean: false))
        broker.advance(by: .seconds(29))
        // Back within the 30 s grace: the ticket is still there, at its place.
        let again = broker.terminal()
        broker.send(again, .resume(.with { $0.resumeToken = token }), correlation: 3)
        #expect(broker.statuses(again).map(\.ticketID) == [ticket])
        #expect(broker.armed.keys.contains { if case .resumeGrace = $0 { true } else { false } } == false)
        // Dropped again, and this time the grace runs out: the ticket closes as connection-lost.
        broker.apply(broker.machine.detach(connection: again, clean: false))
        broker.advance(by: .seconds(30))
        #expect(broker.recordKinds.last == "ticketClosed:cancelled (connection-lost)")
        #expect(broker.machine.tickets.isEmpty)
    }

    @Test func wrapUpEndsOnItsTimerAndTheExpertGetsTheNextCustomer() throws {
        var broker = try BrokerHarness()
        let (aino, kiosk, ticket, session) = broker.runningSession()
        #expect(!session.isEmpty)
        #expect(broker.started(kiosk).map(\.sessionID) == [session])
        let next = broker.terminal()
        let waiting = broker.request(next)
        broker.send(kiosk, .hangup(.with { $0.sessionID = session }))
        #expect(broker.hangups(aino) == [.customerEnded])
        #expect(broker.presences(aino).last == .wrapUp)
        #expect(broker.offers(aino) == [ticket], "no offer during wrap-up")
        broker.advance(by: .seconds(59))
        #expect(broker.presences(aino).last == .wrapUp)
        broker.advance(by: .seconds(1))
        #expect(broker.offers(aino) == [ticket, waiting])
        #expect(broker.recordKinds.contains("sessionEnded:completed (customer-ended)"))
    }

    @Test func wrapUpDoneCancelsTheWrapUpTimer() throws {
        var broker = try BrokerHarness()
        let (aino, _, _, session) = broker.runningSession()
        #expect(!session.isEmpty)
        broker.send(aino, .hangup(.with { $0.sessionID = session }))
        #expect(broker.armed[.wrapUp(ExpertID("kela-aino")!)] != nil)
        broker.send(aino, .wrapUpDone(.with { $0.sessionID = session }))
        #expect(broker.armed[.wrapUp(ExpertID("kela-aino")!)] == nil)
        #expect(broker.presences(aino).last == .available)
    }

    @Test func theDrainDeadlineEndsRunningSessionsAndClosesWaitingTickets() throws {
        var broker = try BrokerHarness()
        let (aino, kiosk, _, _) = broker.runningSession()
        let other = broker.terminal()
        _ = broker.request(other)
        broker.apply(broker.machine.drain())
        #expect(broker.closes(other) == [.queueClosed])
        #expect(broker.machine.sessionCount == 1)
        broker.advance(by: .seconds(299))
        #expect(broker.machine.sessionCount == 1, "sessions may finish until the 300 s deadline")
        broker.advance(by: .seconds(1))
        #expect(broker.machine.sessionCount == 0)
        #expect(broker.hangups(kiosk) == [.shutdown])
        #expect(broker.hangups(aino) == [.shutdown])
        #expect(broker.recordKinds.last(where: { $0.hasPrefix("sessionEnded") }) == "sessionEnded:completed (shutdown)")
    }

    @Test func aTicketExpiresAtMaxWaitWhenConfigured() throws {
        var broker = try BrokerHarness { $0.server.timeouts.maxWait = 600 }
        let kiosk = broker.terminal()
        let ticket = broker.request(kiosk)
        broker.advance(by: .seconds(599))
        #expect(broker.closes(kiosk).isEmpty)
        broker.advance(by: .seconds(1))
        #expect(broker.closes(kiosk) == [.expired])
        #expect(broker.recordKinds == ["ticketOpened", "ticketClosed:expired (wait-limit)"])
        // The queue is empty again: an expert who comes now gets no offer for it.
        let aino = broker.expert()
        #expect(broker.offers(aino).isEmpty)
        _ = ticket
    }

    @Test func withoutMaxWaitATicketWaitsAsLongAsItTakes() throws {
        var broker = try BrokerHarness()
        let kiosk = broker.terminal()
        _ = broker.request(kiosk)
        #expect(broker.armed.isEmpty)
        broker.advance(by: .seconds(86_400))
        #expect(broker.closes(kiosk).isEmpty)
    }

    @Test func aCancelThatCrossesAnAcceptWinsAndTheLegsClose() throws {
        var broker = try BrokerHarness()
        let (aino, kiosk, ticket) = broker.acceptWithLegsHeld()
        let legs = try #require(broker.heldLegs.first)
        // The customer leaves while the relay opens the legs.
        broker.send(kiosk, .cancelRequest(.with { $0.ticketID = ticket }))
        #expect(broker.closes(kiosk) == [.cancelled])
        broker.holdClosing = true
        broker.openHeld(legs)
        #expect(broker.closing == [legs.session], "the legs opened for nothing close again")
        #expect(broker.errors(aino) == [.offerExpired])
        #expect(broker.started(aino).isEmpty && broker.started(kiosk).isEmpty)
        #expect(!broker.recordKinds.contains("sessionStarted"))
        #expect(broker.presences(aino).last == .available)
    }

    @Test func legsThatCannotOpenLeaveTheOfferStanding() throws {
        var broker = try BrokerHarness()
        let (aino, _, ticket) = broker.acceptWithLegsHeld()
        let legs = try #require(broker.heldLegs.first)
        broker.apply(broker.machine.legsFailed(session: legs.session, reason: "no ports"))
        #expect(broker.errors(aino) == [.overloaded])
        #expect(broker.presences(aino).last == .offered)
        // Accepting again works, with a new session id (ids are never reused).
        broker.send(aino, .accept(.with { $0.ticketID = ticket }))
        let session = try #require(broker.started(aino).first)
        #expect(session.sessionID != SessionWire.wireValue(legs.session))
    }

    @Test func aPingTouchesNoQueue() throws {
        var broker = try BrokerHarness()
        _ = broker.expert()
        let kiosk = broker.terminal()
        _ = broker.request(kiosk)
        var ping = Luukku_V1_Envelope()
        ping.ping = .with { $0.nonce = 5 }
        let step = broker.machine.receive(connection: kiosk, envelope: ping)
        #expect(step.records.isEmpty)
        #expect(step.actions.count == 1)
        guard case .send(_, let pong) = step.actions.first, case .pong(let answer) = pong.message else {
            Issue.record("expected one Pong, got \(step.actions)")
            return
        }
        #expect(answer.nonce == 5)
    }

    /// Tokens and keys come from the injected generator: the same seed replays the same run, frame for frame.
    @Test func theSameSeedReplaysTheSameRun() throws {
        func run(seed: UInt64) throws -> BrokerHarness {
            var broker = try BrokerHarness(seed: seed)
            _ = broker.runningSession()
            return broker
        }
        let one = try run(seed: 42)
        let two = try run(seed: 42)
        let three = try run(seed: 43)
        #expect(one.sent == two.sent)
        let key = try #require(one.started(101).first).outboundKey
        #expect(key.keyAndSalt.count == 30)
        #expect(three.started(101).first?.outboundKey != key)
    }
}
