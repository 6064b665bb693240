import LuukkuCore
import LuukkuTestSupport
import Testing

@Suite struct PresenceStateMachineTests {
    typealias Machine = PresenceStateMachine<ManualClock>
    static let policy = PresencePolicy<Duration>(
        answerTimeout: .seconds(20), wrapUpDuration: .seconds(60), maxMissedOffers: 2)
    static let t1 = TicketID(stamp: 1)
    static let t2 = TicketID(stamp: 2)

    /// An expert logged in and available at `clock.now`.
    static func availableExpert(_ clock: ManualClock) -> Machine {
        var machine = Machine(policy: policy)
        _ = machine.loggedIn(now: clock.now)
        _ = machine.setAvailable(now: clock.now)
        return machine
    }

    @Test func loginStartsAwayUntilTheExpertAsks() {
        let clock = ManualClock()
        var machine = Machine(policy: Self.policy)
        #expect(machine.presence == .offline)
        #expect(machine.loggedIn(now: clock.now) == .changed(.away))
        #expect(machine.awayReason == .unspecified)
        #expect(machine.offer(ticket: Self.t1, now: clock.now) == .rejected(.notAvailable))
        #expect(machine.setAvailable(now: clock.now) == .changed(.available))
        #expect(machine.setAvailable(now: clock.now) == .none)
        #expect(machine.availableSince == clock.now)
    }

    @Test func offerAcceptSessionWrapUpAndBack() {
        var clock = ManualClock()
        var machine = Self.availableExpert(clock)
        #expect(
            machine.offer(ticket: Self.t1, now: clock.now)
                == .offer(ticket: Self.t1, answerBy: clock.now.advanced(by: .seconds(20))))
        #expect(machine.presence == .offered && machine.ticket == Self.t1)
        clock.advance(by: .seconds(5))
        #expect(machine.accept(ticket: Self.t1, now: clock.now) == .connect(ticket: Self.t1))
        #expect(machine.presence == .inSession)
        #expect(machine.setAway(reason: .meeting, now: clock.now) == .rejected(.invalidTransition))
        clock.advance(by: .seconds(600))
        let wrapUpEnds = clock.now.advanced(by: .seconds(60))
        #expect(machine.sessionEnded(now: clock.now) == .wrapUp(until: wrapUpEnds))
        #expect(machine.presence == .wrapUp)
        clock.advance(by: .seconds(59))
        #expect(machine.wrapUpTimedOut(now: clock.now) == .none, "an early timer must not end wrap-up")
        clock.advance(by: .seconds(1))
        #expect(machine.wrapUpTimedOut(now: clock.now) == .changed(.available))
        #expect(machine.availableSince == clock.now)
    }

    @Test func wrapUpDoneEndsWrapUpEarlyAndTheLateTimerIsIgnored() {
        var clock = ManualClock()
        var machine = Self.availableExpert(clock)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        _ = machine.accept(ticket: Self.t1, now: clock.now)
        _ = machine.sessionEnded(now: clock.now)
        clock.advance(by: .seconds(10))
        #expect(machine.wrapUpDone(now: clock.now) == .changed(.available))
        _ = machine.offer(ticket: Self.t2, now: clock.now)
        clock.advance(by: .seconds(50))
        #expect(machine.wrapUpTimedOut(now: clock.now) == .none)
        #expect(machine.presence == .offered)
    }

    @Test func declinesAndLapsesInARowPutTheExpertAway() {
        var clock = ManualClock()
        var machine = Self.availableExpert(clock)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        #expect(
            machine.decline(ticket: Self.t1, now: clock.now) == .missed(ticket: Self.t1, lapsed: false, now: .available)
        )
        _ = machine.offer(ticket: Self.t2, now: clock.now)
        clock.advance(by: .seconds(20))
        #expect(
            machine.offerTimedOut(ticket: Self.t2, now: clock.now) == .missed(ticket: Self.t2, lapsed: true, now: .away)
        )
        #expect(machine.awayReason == .noAnswer)
        #expect(machine.offer(ticket: Self.t1, now: clock.now) == .rejected(.notAvailable))
    }

    @Test func anAcceptedOfferResetsTheMissedCount() {
        let clock = ManualClock()
        var machine = Self.availableExpert(clock)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        _ = machine.decline(ticket: Self.t1, now: clock.now)
        _ = machine.offer(ticket: Self.t2, now: clock.now)
        _ = machine.accept(ticket: Self.t2, now: clock.now)
        _ = machine.sessionEnded(now: clock.now)
        _ = machine.wrapUpDone(now: clock.now)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        #expect(
            machine.decline(ticket: Self.t1, now: clock.now) == .missed(ticket: Self.t1, lapsed: false, now: .available)
        )
    }

    @Test func acceptAfterTheDeadlineCountsAsLapsed() {
        var clock = ManualClock()
        var machine = Self.availableExpert(clock)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        clock.advance(by: .seconds(20))
        #expect(
            machine.accept(ticket: Self.t1, now: clock.now) == .missed(ticket: Self.t1, lapsed: true, now: .available))
        #expect(machine.presence == .available)
    }

    @Test func answersForAnotherTicketAndStaleTimersChangeNothing() {
        var clock = ManualClock()
        var machine = Self.availableExpert(clock)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        #expect(machine.accept(ticket: Self.t2, now: clock.now) == .rejected(.noOffer))
        #expect(machine.decline(ticket: Self.t2, now: clock.now) == .rejected(.noOffer))
        #expect(machine.offerTimedOut(ticket: Self.t2, now: clock.now.advanced(by: .seconds(30))) == .none)
        clock.advance(by: .seconds(19))
        #expect(machine.offerTimedOut(ticket: Self.t1, now: clock.now) == .none, "timer early: offer still stands")
        #expect(machine.accept(ticket: Self.t1, now: clock.now) == .connect(ticket: Self.t1))
        #expect(machine.offerTimedOut(ticket: Self.t1, now: clock.now.advanced(by: .seconds(5))) == .none)
    }

    @Test func withdrawnOfferMakesTheExpertAvailableWithoutCountingAMiss() {
        let clock = ManualClock()
        var machine = Self.availableExpert(clock)
        _ = machine.offer(ticket: Self.t1, now: clock.now)
        #expect(machine.offerWithdrawn(ticket: Self.t1, now: clock.now) == .withdrawn(ticket: Self.t1))
        _ = machine.offer(ticket: Self.t2, now: clock.now)
        #expect(
            machine.decline(ticket: Self.t2, now: clock.now) == .missed(ticket: Self.t2, lapsed: false, now: .available)
        )
    }

    @Test func logoutGivesBackTheOfferOrEndsTheSession() {
        let clock = ManualClock()
        var offered = Self.availableExpert(clock)
        _ = offered.offer(ticket: Self.t1, now: clock.now)
        #expect(offered.loggedOut() == .loggedOut(returnTicket: Self.t1, endSession: nil))
        #expect(offered.presence == .offline)

        var serving = Self.availableExpert(clock)
        _ = serving.offer(ticket: Self.t2, now: clock.now)
        _ = serving.accept(ticket: Self.t2, now: clock.now)
        #expect(serving.loggedOut() == .loggedOut(returnTicket: nil, endSession: Self.t2))
        #expect(serving.loggedOut() == .none)
    }

    @Test func awayReasonsChangeOnlyBetweenTasks() {
        let clock = ManualClock()
        var machine = Self.availableExpert(clock)
        #expect(machine.setAway(reason: .breakTime, now: clock.now) == .changed(.away))
        #expect(machine.setAway(reason: .breakTime, now: clock.now) == .none)
        #expect(machine.setAway(reason: .training, now: clock.now) == .changed(.away))
        #expect(machine.awayReason == .training)
        #expect(machine.wrapUpDone(now: clock.now) == .rejected(.invalidTransition))
    }
}
