import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import Testing

@testable import LuukkuBroker

/// Thousands of seeded random inputs (connects, drops, resumes, requests, cancels, answers, hangups, presence,
/// legs that open, fail or close late, the clock moving) through the state machine, with the broker's
/// invariants checked after every step. A failure names its seed and step, so it can be replayed.
@Suite struct BrokerRandomWalkTests {
    static let experts: [(id: String, agency: String)] = [
        ("kela-aino", "kela"), ("kela-bjorn", "kela"), ("vero-matti", "vero"), ("poliisi-leena", "poliisi"),
    ]

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func invariantsHoldAfterEveryStep(seed: UInt64) throws {
        var random = SplitMix(seed: seed)
        var broker = try BrokerHarness(seed: seed)
        let known = Set(broker.machine.configuration.experts.map(\.id.rawValue))
        let experts = Self.experts.filter { known.contains($0.id) }
        #expect(experts.count >= 2, "the example configuration's experts changed: \(known.sorted())")
        var failures: [String] = []
        var stepNumber = 0
        broker.check = { harness, step, before in
            failures += BrokerRandomWalkTests.violations(harness, step, recordsBefore: before).map {
                "seed \(seed), step \(stepNumber): \($0)"
            }
        }
        broker.holdLegs = false
        var terminals: [UInt64] = []
        var expertConnections: [String: UInt64] = [:]
        var tokens: [UInt64: Data] = [:]
        let points = broker.machine.configuration.servicePoints.map(\.id.rawValue)
        let agencies = broker.machine.configuration.agencies

        for _ in 0..<6_000 {
            stepNumber += 1
            switch random.next() % 16 {
            case 0:
                let connection = broker.terminal(points[Int(random.next() % UInt64(points.count))])
                terminals.append(connection)
                if case .welcome(let welcome)? = broker.frames(connection).first {
                    tokens[connection] = welcome.resumeToken
                }
            case 1, 2, 3:
                guard let kiosk = terminals.randomElement(using: &random) else { continue }
                let agency = agencies[Int(random.next() % UInt64(agencies.count))]
                let language = agency.languages[Int(random.next() % UInt64(agency.languages.count))]
                broker.request(kiosk, agency: agency.id.rawValue, language: language.rawValue)
            case 4:
                guard let kiosk = terminals.randomElement(using: &random),
                    let ticket = broker.statuses(kiosk).last?.ticketID
                else { continue }
                broker.send(kiosk, .cancelRequest(.with { $0.ticketID = ticket }))
            case 5:
                let expert = experts[Int(random.next() % UInt64(experts.count))]
                if let old = expertConnections[expert.id], random.next() % 2 == 0 {
                    broker.apply(broker.machine.detach(connection: old, clean: random.next() % 3 == 0))
                }
                expertConnections[expert.id] = broker.expert(expert.id, agency: expert.agency)
            case 6, 7, 8:
                // Answer the offer an expert holds: accept mostly, sometimes decline.
                guard let (id, connection) = expertConnections.randomElement(using: &random),
                    let ticket = broker.machine.experts[ExpertID(id)!]?.presence.ticket
                else { continue }
                if random.next() % 4 == 0 {
                    broker.send(connection, .decline(.with { $0.ticketID = ticket.wireValue }))
                } else {
                    broker.holdLegs = random.next() % 5 == 0
                    broker.send(connection, .accept(.with { $0.ticketID = ticket.wireValue }))
                    broker.holdLegs = false
                }
            case 9:
                guard let legs = broker.heldLegs.popLast() else { continue }
                if random.next() % 3 == 0 {
                    broker.apply(broker.machine.legsFailed(session: legs.session, reason: "walk"))
                } else {
                    broker.openHeld(legs)
                }
            case 10:
                // Either side hangs up a running session.
                guard let session = broker.machine.sessions.values.randomElement(using: &random) else { continue }
                let party =
                    random.next() % 2 == 0
                    ? broker.machine.parties[session.terminalParty]?.connection
                    : expertConnections[session.expert.rawValue]
                guard let party else { continue }
                broker.send(party, .hangup(.with { $0.sessionID = SessionWire.wireValue(session.id) }))
            case 11:
                guard let (id, connection) = expertConnections.randomElement(using: &random) else { continue }
                if let session = broker.machine.experts[ExpertID(id)!]?.wrapUpSession {
                    broker.send(connection, .wrapUpDone(.with { $0.sessionID = SessionWire.wireValue(session) }))
                } else {
                    let available = random.next() % 2 == 0
                    broker.send(connection, .setPresence(.with { $0.presence = available ? .available : .away }))
                }
            case 12:
                guard !terminals.isEmpty else { continue }
                let index = Int(random.next() % UInt64(terminals.count))
                let dropped = terminals.remove(at: index)
                broker.apply(broker.machine.detach(connection: dropped, clean: random.next() % 4 == 0))
                if random.next() % 2 == 0, let token = tokens[dropped] {
                    let again = broker.terminal(points[0])
                    broker.send(again, .resume(.with { $0.resumeToken = token }))
                    terminals.append(again)
                    tokens[again] = token
                }
            case 13:
                broker.holdClosing = random.next() % 3 == 0
                if !broker.holdClosing { broker.closeLegs() }
            case 14:
                guard let session = broker.machine.sessions.keys.randomElement(using: &random) else { continue }
                broker.apply(broker.machine.relayEnded(session: session, relay: .init(packetsToTerminal: 3)))
            default:
                broker.advance(by: .seconds(Int64(random.next() % 40)))
            }
            if failures.count > 5 { break }
        }
        broker.holdClosing = false
        broker.closeLegs()
        #expect(failures.isEmpty, "\(failures.prefix(5).joined(separator: "\n"))")
        #expect(broker.records.count > 300, "the walk did too little: \(broker.records.count) records")
        #expect(broker.recordKinds.contains("sessionStarted"))
        #expect(broker.recordKinds.contains("offerAnswered:declined"))
    }

    /// What must hold after a step, given the records the harness had before it.
    static func violations(_ h: BrokerHarness, _ step: BrokerHarness.Step, recordsBefore: Int) -> [String] {
        var problems: [String] = []
        let machine = h.machine
        // No ticket offered to two experts, no expert with two offers; the matcher agrees with presence.
        var offeredTo: [TicketID: ExpertID] = [:]
        for (id, expert) in machine.experts where expert.presence.presence == .offered {
            guard let ticket = expert.presence.ticket else {
                problems.append("\(id) is OFFERED without a ticket")
                continue
            }
            if let other = offeredTo.updateValue(id, forKey: ticket) {
                problems.append("\(ticket) is offered to \(id) and \(other)")
            }
            if machine.matcher.offeredTo(ticket) != id {
                problems.append("the matcher does not have \(ticket) at \(id)")
            }
            if machine.tickets[ticket]?.machine.phase != .offered { problems.append("\(ticket) offered but not so") }
        }
        for (ticket, record) in machine.tickets where record.machine.phase == .offered {
            if offeredTo[ticket] == nil { problems.append("\(ticket) is offered to no expert's presence") }
        }
        // No older waiting ticket overtaken: a ticket offered in this step had none older waiting in its
        // queue that was already waiting before the step.
        let before = Set(
            h.records.prefix(recordsBefore).compactMap { r -> TicketID? in
                if case .ticketOpened(let opened) = r { opened.ticket } else { nil }
            })
        for record in step.records {
            guard case .offerMade(let ticket, _, _) = record, let queue = machine.tickets[ticket]?.queue else {
                continue
            }
            for (other, waiting) in machine.tickets
            where other < ticket && waiting.queue == queue && waiting.machine.phase == .waiting
                && before.contains(other)
            {
                problems.append("\(ticket) was offered while the older \(other) of \(queue) waited")
            }
        }
        // A work-conserving matcher: no queue has a waiting ticket while one of its experts is available.
        for (id, expert) in machine.experts
        where expert.presence.presence == .available && machine.matcher.isAvailable(id) {
            for queue in expert.skills where machine.matcher.snapshot(of: queue).oldestWaiting != nil {
                problems.append("\(id) is available while \(queue) has a waiting ticket")
            }
        }
        // Only the touched queues are refreshed, and that is enough: every connected terminal was last told
        // where its ticket stands now, and every expert its queues as they are (the seconds waited aside).
        for (ticket, record) in machine.tickets where record.session == nil {
            guard machine.parties[record.party]?.connection != nil else { continue }
            let now = machine.queueStatus(ticket)
            var told = record.lastStatus
            told?.waitedSeconds = now.waitedSeconds
            if told != now { problems.append("\(ticket)'s terminal was told \(String(describing: told)), not \(now)") }
        }
        for (id, expert) in machine.experts {
            guard let party = expert.party, let connected = machine.parties[party], connected.connection != nil,
                !connected.standby
            else { continue }
            var now = Luukku_V1_QueueSnapshot.with { snapshot in
                snapshot.queues = expert.skills.map {
                    machine.queueDepth($0, available: machine.expertCounts($0).available)
                }
            }
            for index in now.queues.indices { now.queues[index].oldestWaitSeconds = 0 }
            if expert.lastSnapshot != now { problems.append("\(id) was not told its queues as they are") }
        }
        // Every session's record is there before its SessionStarted and its end before its Hangup.
        let records = h.records
        for action in step.actions {
            guard case .send(_, let envelope) = action else { continue }
            switch envelope.message {
            case .sessionStarted(let started):
                let number = SessionWire.number(started.sessionID)
                if !records.contains(where: {
                    if case .sessionStarted(let s, _, _, _) = $0 { s == number } else { false }
                }) {
                    problems.append("SessionStarted \(started.sessionID) sent before its record")
                }
            case .hangup(let hangup):
                let number = SessionWire.number(hangup.sessionID)
                if !records.contains(where: {
                    if case .sessionEnded(let s, _, _, _) = $0 { s == number } else { false }
                }) {
                    problems.append("Hangup \(hangup.sessionID) sent before the session's end was recorded")
                }
            default: break
            }
        }
        // The ledger: a ticket opens once and closes at most once; a session ends at most once.
        var opened = Set<TicketID>()
        var closed = Set<TicketID>()
        var ended = Set<UInt64>()
        for record in step.records {
            switch record {
            case .ticketOpened(let t):
                if !opened.insert(t.ticket).inserted { problems.append("\(t.ticket) opened twice") }
            case .ticketClosed(let ticket, _, _):
                if !closed.insert(ticket).inserted { problems.append("\(ticket) closed twice") }
            case .sessionEnded(let session, _, _, _):
                if !ended.insert(session).inserted { problems.append("s-\(session) ended twice") }
            default: break
            }
        }
        return problems
    }
}
