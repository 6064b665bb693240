import LuukkuCore
import LuukkuMatching
import Testing

@Suite struct MatchingStateMachineTests {

    @Test func ticketsAreServedFirstInFirstOut() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let first = try machine.request(Sample.kelaFi)
        let second = try machine.request(Sample.kelaFi)
        #expect(first.match == nil && second.match == nil)
        #expect(first.ticket < second.ticket)
        #expect(machine.position(of: first.ticket) == 1 && machine.position(of: second.ticket) == 2)
        #expect(
            machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
                == Match(ticket: first.ticket, expert: Sample.aino, queue: Sample.kelaFi)
        )
        #expect(machine.position(of: first.ticket) == nil, "an offered ticket has no position")
        #expect(machine.position(of: second.ticket) == 1)
    }

    @Test func newTicketGoesToTheLongestIdleExpert() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let result1 = machine.expertAvailable(Sample.bjorn, queues: [Sample.kelaFi, Sample.kelaSv])
        #expect(result1 == nil)
        let result2 = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        #expect(result2 == nil)
        let request = try machine.request(Sample.kelaFi)
        #expect(request.match?.expert == Sample.bjorn)
        let next = try machine.request(Sample.kelaFi)
        #expect(next.match?.expert == Sample.aino)
    }

    @Test func multiSkillExpertGetsTheOldestTicketAcrossItsQueues() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let swedish = try machine.request(Sample.kelaSv)
        _ = try machine.request(Sample.kelaFi)
        _ = try machine.request(Sample.veroFi)
        let match = machine.expertAvailable(Sample.bjorn, queues: [Sample.kelaFi, Sample.kelaSv])
        #expect(match == Match(ticket: swedish.ticket, expert: Sample.bjorn, queue: Sample.kelaSv))
    }

    @Test func declinedTicketKeepsItsPlaceAndGoesToTheNextExpert() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let old = try machine.request(Sample.kelaFi)
        let young = try machine.request(Sample.kelaFi)
        let result3 = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        let offer = try #require(result3)
        #expect(offer.ticket == old.ticket)
        _ = machine.expertAvailable(Sample.bjorn, queues: [Sample.kelaFi])  // gets the young one
        #expect(machine.offeredTo(young.ticket) == Sample.bjorn)
        let result4 = machine.decline(old.ticket, by: Sample.aino)
        #expect(result4 == nil, "nobody else is available")
        #expect(machine.position(of: old.ticket) == 1)
        _ = machine.decline(young.ticket, by: Sample.bjorn)
        #expect(machine.position(of: old.ticket) == 1 && machine.position(of: young.ticket) == 2)
        // Aino is back (the presence rules allowed it): she gets the old ticket again, before the young one.
        let result5 = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        #expect(result5?.ticket == old.ticket)
    }

    @Test func declineHandsTheTicketToAnotherAvailableExpertAtOnce() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let ticket = try machine.request(Sample.kelaFi).ticket
        _ = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        _ = machine.expertAvailable(Sample.bjorn, queues: [Sample.kelaFi])
        let result6 = machine.decline(ticket, by: Sample.aino)
        #expect(result6 == Match(ticket: ticket, expert: Sample.bjorn, queue: Sample.kelaFi))
    }

    @Test func cancelWhileOfferedWithdrawsAndFreesTheExpertToBeMadeAvailable() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let ticket = try machine.request(Sample.kelaFi).ticket
        _ = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        let result7 = machine.cancel(ticket)
        #expect(result7 == .wasOffered(to: Sample.aino))
        let result8 = machine.cancel(ticket)
        #expect(result8 == .notOpen)
        let result9 = machine.accept(ticket, by: Sample.aino)
        #expect(!result9)
        #expect(machine.snapshot(of: Sample.kelaFi).depth == 0)
        let next = try machine.request(Sample.kelaFi).ticket
        let result10 = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        #expect(result10?.ticket == next)
    }

    @Test func acceptRemovesTheTicketAndOnlyTheOfferedExpertMayAccept() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        let ticket = try machine.request(Sample.kelaFi).ticket
        _ = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        let result11 = machine.accept(ticket, by: Sample.bjorn)
        #expect(!result11)
        let result12 = machine.expertUnavailable(Sample.aino)
        #expect(!result12, "an expert holding an offer must answer it first")
        let result13 = machine.accept(ticket, by: Sample.aino)
        #expect(result13)
        #expect(machine.snapshot(of: Sample.kelaFi).depth == 0)
        let result14 = machine.cancel(ticket)
        #expect(result14 == .notOpen)
    }

    @Test func unavailableExpertIsSkippedLazily() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 10)
        _ = machine.expertAvailable(Sample.aino, queues: [Sample.kelaFi])
        _ = machine.expertAvailable(Sample.bjorn, queues: [Sample.kelaFi])
        let result15 = machine.expertUnavailable(Sample.aino)
        #expect(result15)
        let result16 = try machine.request(Sample.kelaFi)
        #expect(result16.match?.expert == Sample.bjorn)
    }

    @Test func fullQueueIsAClearError() throws {
        var machine = MatchingStateMachine(capacityPerQueue: 2)
        _ = try machine.request(Sample.kelaFi)
        _ = try machine.request(Sample.kelaFi)
        #expect(throws: MatcherError(.queueFull)) { try machine.request(Sample.kelaFi) }
        _ = try machine.request(Sample.kelaSv)  // other queues are not affected
        #expect(machine.snapshot(of: Sample.kelaFi).depth == 2)
    }
}
