import LuukkuCore
import LuukkuMatching
import Testing

/// Random sequences of requests, cancels, presence changes, accepts and declines, with the policy's
/// invariants checked after every step against a plain model of what is open.
@Suite struct MatchingPropertyTests {
    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func invariantsHoldAfterEveryStep(seed: UInt64) throws {
        var random = SplitMix(state: seed)
        let (queues, experts) = Sample.randomRoster(using: &random)
        var machine = MatchingStateMachine(capacityPerQueue: 50)
        var open: [TicketID: QueueKey] = [:]  // waiting or offered
        var offers: [ExpertID: TicketID] = [:]
        var available: Set<ExpertID> = []
        var created = 0
        var closed = 0

        func record(_ match: Match?) {
            guard let match else { return }
            #expect(open[match.ticket] == match.queue, "offered a ticket that is not open in that queue")
            #expect(!offers.values.contains(match.ticket), "ticket offered twice")
            #expect(offers[match.expert] == nil, "expert holds two offers")
            #expect(available.contains(match.expert), "offered to an expert who was not available")
            // No older waiting ticket of the expert's queues (for expert-driven matches) or of the ticket's
            // queue (for ticket-driven ones) is overtaken.
            let skills = experts.first { $0.0 == match.expert }!.1
            let waiting = open.filter { !offers.values.contains($0.key) && skills.contains($0.value) }
            #expect(waiting.keys.allSatisfy { $0 >= match.ticket }, "an older waiting ticket was overtaken")
            offers[match.expert] = match.ticket
            available.remove(match.expert)
        }

        for _ in 0..<2_000 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0...2:
                let queue = queues.randomElement(using: &random)!
                if let (ticket, match) = try? machine.request(queue) {
                    created += 1
                    open[ticket] = queue
                    record(match)
                }
            case 3:
                if let ticket = open.keys.randomElement(using: &random) {
                    let outcome = machine.cancel(ticket)
                    if let expert = offers.first(where: { $0.value == ticket })?.key {
                        #expect(outcome == .wasOffered(to: expert))
                        offers[expert] = nil
                    } else {
                        #expect(outcome == .wasWaiting)
                    }
                    open[ticket] = nil
                    closed += 1
                }
            case 4...5:
                let (expert, skills) = experts.randomElement(using: &random)!
                if offers[expert] == nil && !available.contains(expert) {
                    available.insert(expert)
                    record(machine.expertAvailable(expert, queues: skills))
                }
            case 6:
                let (expert, _) = experts.randomElement(using: &random)!
                if offers[expert] == nil {
                    let result1 = machine.expertUnavailable(expert)
                    #expect(result1)
                    available.remove(expert)
                }
            case 7...8:
                if let (expert, ticket) = offers.randomElement(using: &random) {
                    let result2 = machine.accept(ticket, by: expert)
                    #expect(result2)
                    offers[expert] = nil
                    open[ticket] = nil
                    closed += 1
                }
            default:
                if let (expert, ticket) = offers.randomElement(using: &random) {
                    offers[expert] = nil
                    record(machine.decline(ticket, by: expert))
                }
            }
            // No missed match: no available expert stands beside a waiting ticket of its queues.
            for expert in available {
                let skills = experts.first { $0.0 == expert }!.1
                let waiting = open.filter { !offers.values.contains($0.key) && skills.contains($0.value) }
                #expect(waiting.isEmpty, "expert \(expert) idle beside a waiting ticket")
                #expect(machine.isAvailable(expert))
            }
            // Every ticket accounted for exactly once.
            let depth = queues.map { machine.snapshot(of: $0).depth }.reduce(0, +)
            #expect(depth == open.count)
            #expect(created == open.count + closed)
        }
        #expect(created > 100 && closed > 100, "the run exercised too little")
    }
}
