import LuukkuCore
import LuukkuMatching
import Testing

@Suite struct MatchingStateMachineTests {
    static let kelaFi = QueueKey(agency: AgencyID("kela")!, language: .finnish)
    static let kelaSv = QueueKey(agency: AgencyID("kela")!, language: .swedish)
    static let veroFi = QueueKey(agency: AgencyID("vero")!, language: .finnish)
    static let aino = ExpertID("kela-aino")!
    static let bjorn = ExpertID("kela-bjorn")!
    static let eero = ExpertID("vero-eero")!

    @Test func ticketsAreServedFirstInFirstOut() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let first = try machine.request(Self.kelaFi)
        let second = try machine.request(Self.kelaFi)
        #expect(first.match == nil && second.match == nil)
        #expect(first.ticket < second.ticket)
        #expect(machine.position(of: first.ticket) == 1 && machine.position(of: second.ticket) == 2)
        #expect(
            machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
                == Match(ticket: first.ticket, expert: Self.aino, queue: Self.kelaFi)
        )
        #expect(machine.position(of: first.ticket) == nil, "an offered ticket has no position")
        #expect(machine.position(of: second.ticket) == 1)
    }

    @Test func newTicketGoesToTheLongestIdleExpert() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let result1 = machine.expertAvailable(Self.bjorn, queues: [Self.kelaFi, Self.kelaSv])
        #expect(result1 == nil)
        let result2 = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        #expect(result2 == nil)
        let request = try machine.request(Self.kelaFi)
        #expect(request.match?.expert == Self.bjorn)
        let next = try machine.request(Self.kelaFi)
        #expect(next.match?.expert == Self.aino)
    }

    @Test func multiSkillExpertGetsTheOldestTicketAcrossItsQueues() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let swedish = try machine.request(Self.kelaSv)
        _ = try machine.request(Self.kelaFi)
        _ = try machine.request(Self.veroFi)
        let match = machine.expertAvailable(Self.bjorn, queues: [Self.kelaFi, Self.kelaSv])
        #expect(match == Match(ticket: swedish.ticket, expert: Self.bjorn, queue: Self.kelaSv))
    }

    @Test func declinedTicketKeepsItsPlaceAndGoesToTheNextExpert() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let old = try machine.request(Self.kelaFi)
        let young = try machine.request(Self.kelaFi)
        let result3 = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        let offer = try #require(result3)
        #expect(offer.ticket == old.ticket)
        _ = machine.expertAvailable(Self.bjorn, queues: [Self.kelaFi])  // gets the young one
        #expect(machine.offeredTo(young.ticket) == Self.bjorn)
        let result4 = machine.decline(old.ticket, by: Self.aino)
        #expect(result4 == nil, "nobody else is available")
        #expect(machine.position(of: old.ticket) == 1)
        _ = machine.decline(young.ticket, by: Self.bjorn)
        #expect(machine.position(of: old.ticket) == 1 && machine.position(of: young.ticket) == 2)
        // Aino is back (the presence rules allowed it): she gets the old ticket again, before the young one.
        let result5 = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        #expect(result5?.ticket == old.ticket)
    }

    @Test func declineHandsTheTicketToAnotherAvailableExpertAtOnce() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let ticket = try machine.request(Self.kelaFi).ticket
        _ = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        _ = machine.expertAvailable(Self.bjorn, queues: [Self.kelaFi])
        let result6 = machine.decline(ticket, by: Self.aino)
        #expect(result6 == Match(ticket: ticket, expert: Self.bjorn, queue: Self.kelaFi))
    }

    @Test func cancelWhileOfferedWithdrawsAndFreesTheExpertToBeMadeAvailable() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let ticket = try machine.request(Self.kelaFi).ticket
        _ = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        let result7 = machine.cancel(ticket)
        #expect(result7 == .wasOffered(to: Self.aino))
        let result8 = machine.cancel(ticket)
        #expect(result8 == .notOpen)
        let result9 = machine.accept(ticket, by: Self.aino)
        #expect(!result9)
        #expect(machine.snapshot(of: Self.kelaFi).depth == 0)
        let next = try machine.request(Self.kelaFi).ticket
        let result10 = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        #expect(result10?.ticket == next)
    }

    @Test func acceptRemovesTheTicketAndOnlyTheOfferedExpertMayAccept() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let ticket = try machine.request(Self.kelaFi).ticket
        _ = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        let result11 = machine.accept(ticket, by: Self.bjorn)
        #expect(!result11)
        let result12 = machine.expertUnavailable(Self.aino)
        #expect(!result12, "an expert holding an offer must answer it first")
        let result13 = machine.accept(ticket, by: Self.aino)
        #expect(result13)
        #expect(machine.snapshot(of: Self.kelaFi).depth == 0)
        let result14 = machine.cancel(ticket)
        #expect(result14 == .notOpen)
    }

    @Test func unavailableExpertIsSkippedLazily() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        _ = machine.expertAvailable(Self.aino, queues: [Self.kelaFi])
        _ = machine.expertAvailable(Self.bjorn, queues: [Self.kelaFi])
        let result15 = machine.expertUnavailable(Self.aino)
        #expect(result15)
        let result16 = try machine.request(Self.kelaFi)
        #expect(result16.match?.expert == Self.bjorn)
    }

    @Test func fullQueueIsAClearError() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 2)
        _ = try machine.request(Self.kelaFi)
        _ = try machine.request(Self.kelaFi)
        #expect(throws: MatcherError(.queueFull)) { try machine.request(Self.kelaFi) }
        _ = try machine.request(Self.kelaSv)  // other queues are not affected
        #expect(machine.snapshot(of: Self.kelaFi).depth == 2)
    }
}
