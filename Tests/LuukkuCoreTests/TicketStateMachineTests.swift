import LuukkuCore
import LuukkuTestSupport
import Testing

@Suite struct TicketStateMachineTests {
    typealias Machine = TicketStateMachine<ManualClock>
    static let aino = ExpertID("kela-aino")!
    static let saga = ExpertID("vero-saga")!

    static func waiting(_ clock: ManualClock, maxWait: Duration? = .seconds(1800)) -> Machine {
        Machine(id: TicketID(stamp: 9), createdAt: clock.now, maxWait: maxWait)
    }

    @Test func servedTicketRecordsHowTheSessionEnded() {
        let clock = ManualClock()
        var ticket = Self.waiting(clock)
        #expect(ticket.phase == .waiting)
        #expect(ticket.expiresAt == clock.now.advanced(by: .seconds(1800)))
        #expect(ticket.offered(to: Self.aino) == .none)
        #expect(ticket.expert == Self.aino)
        #expect(ticket.offered(to: Self.saga) == .rejected, "a ticket is never offered twice")
        #expect(ticket.connected() == .none)
        #expect(ticket.cancel(.customer) == .rejected, "a connected ticket ends with its session")
        #expect(ticket.completed(.expertEnded) == .closed(.completed(.expertEnded)))
        #expect(ticket.phase == .closed(.completed(.expertEnded)))
        #expect(ticket.completed(.customerEnded) == .rejected)
    }

    @Test func declinedTicketGoesBackToWaitingAndCanBeOfferedAgain() {
        let clock = ManualClock()
        var ticket = Self.waiting(clock)
        _ = ticket.offered(to: Self.aino)
        #expect(ticket.returned(now: clock.now) == .requeue)
        #expect(ticket.phase == .waiting && ticket.expert == nil)
        #expect(ticket.offered(to: Self.saga) == .none)
    }

    @Test func cancelWhileOfferedWithdrawsTheOffer() {
        let clock = ManualClock()
        var ticket = Self.waiting(clock)
        _ = ticket.offered(to: Self.aino)
        #expect(ticket.cancel(.customer) == .withdrawOffer(from: Self.aino, outcome: .cancelled(.customer)))
        #expect(ticket.returned(now: clock.now) == .rejected)
        #expect(ticket.phase == .closed(.cancelled(.customer)))
    }

    @Test func cancelWhileWaiting() {
        var ticket = Self.waiting(ManualClock())
        #expect(ticket.cancel(.connectionLost) == .closed(.cancelled(.connectionLost)))
        #expect(ticket.cancel(.customer) == .rejected)
    }

    @Test func expiresOnlyWhenWaitingAndDue() {
        var clock = ManualClock()
        var ticket = Self.waiting(clock, maxWait: .seconds(60))
        clock.advance(by: .seconds(59))
        #expect(ticket.expiryTimerFired(now: clock.now) == .none)
        clock.advance(by: .seconds(1))
        #expect(ticket.expiryTimerFired(now: clock.now) == .closed(.expired))
        #expect(ticket.phase == .closed(.expired))
    }

    @Test func offeredTicketPastItsLimitExpiresWhenTheOfferComesBack() {
        var clock = ManualClock()
        var ticket = Self.waiting(clock, maxWait: .seconds(60))
        clock.advance(by: .seconds(50))
        _ = ticket.offered(to: Self.aino)
        clock.advance(by: .seconds(20))
        #expect(ticket.expiryTimerFired(now: clock.now) == .none, "the offer runs its course")
        #expect(ticket.returned(now: clock.now) == .closed(.expired))
    }

    @Test func noLimitMeansNoExpiry() {
        var clock = ManualClock()
        var ticket = Self.waiting(clock, maxWait: nil)
        #expect(ticket.expiresAt == nil)
        clock.advance(by: .seconds(86_400))
        #expect(ticket.expiryTimerFired(now: clock.now) == .none)
        #expect(ticket.phase == .waiting)
    }
}
