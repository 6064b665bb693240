import LuukkuCore
import LuukkuMatching
import LuukkuProtocol

/// Experts of a queue logged in (any presence but offline, connection up), those of them serving (not away:
/// available, offered, in session or wrap-up) and those available right now.
struct ExpertCounts: Hashable, Sendable {
    var online = 0
    var serving = 0
    var available = 0
}

// QueueStatus to terminals and QueueSnapshot to experts: at the end of each step, for the queues it touched.
extension BrokerStateMachine {
    /// Where a ticket stands now. The estimate (docs/protocol.md, "Terminal: request to session end"): none
    /// when no expert of the queue is serving (all away or offline), zero while offered, else the queue's
    /// ``WaitEstimator`` over the experts serving and those available.
    ///
    /// `position` is the ticket's among the queue's waiting ones (nil: ask the matcher, O(log n)).
    func queueStatus(_ ticket: TicketID, position known: Int? = nil, counts: ExpertCounts? = nil)
        -> Luukku_V1_QueueStatus
    {
        guard let record = tickets[ticket] else { return Luukku_V1_QueueStatus() }
        let offered = record.machine.phase == .offered
        let position = known ?? matcher.position(of: ticket) ?? 1
        let counts = counts ?? expertCounts(record.queue)
        let estimate: Duration? =
            counts.serving == 0
            ? nil
            : offered
                ? .zero
                : estimators[record.queue]?.estimate(
                    position: position, expertsServing: counts.serving, expertsAvailable: counts.available)
        return .with {
            $0.ticketID = ticket.wireValue
            $0.agency = record.queue.agency.rawValue
            $0.language = record.queue.language.rawValue
            $0.position = UInt32(position)
            if let estimate { $0.estimatedWaitSeconds = UInt32(clamping: Int(estimate.components.seconds)) }
            $0.expertsOnline = UInt32(counts.online)
            $0.waitedSeconds = UInt32(
                clamping: Int(record.machine.createdAt.duration(to: clock.now).components.seconds))
            $0.offered = offered
        }
    }

    /// O(experts configured for the queue).
    func expertCounts(_ queue: QueueKey) -> ExpertCounts {
        var counts = ExpertCounts()
        for id in queueExperts[queue] ?? [] {
            guard let expert = experts[id], let party = expert.party, parties[party]?.connection != nil,
                expert.presence.presence != .offline
            else { continue }
            counts.online += 1
            if expert.presence.presence != .away { counts.serving += 1 }
            if expert.presence.presence == .available { counts.available += 1 }
        }
        return counts
    }

    /// Sends QueueStatus to each terminal with an open ticket in a touched queue, and QueueSnapshot to each
    /// expert of a touched queue, where the figures changed (the seconds waited alone do not count as a
    /// change). A step that touched no queue (a Ping, a Feedback) costs nothing here; one that did costs
    /// O(open tickets of those queues + their experts), each queue's figures worked out once.
    mutating func refreshQueues(_ step: inout Step) {
        guard !touched.isEmpty else { return }
        let queues = touched.sorted()
        var counts: [QueueKey: ExpertCounts] = [:]
        for queue in queues { counts[queue] = expertCounts(queue) }
        for queue in queues {
            var position = 0
            for ticket in matcher.openTickets(in: queue) {
                let waiting = matcher.offeredTo(ticket) == nil
                if waiting { position += 1 }
                guard let record = tickets[ticket], record.session == nil,
                    let connection = parties[record.party]?.connection
                else { continue }
                let status = queueStatus(ticket, position: waiting ? position : 1, counts: counts[queue])
                var previous = record.lastStatus
                previous?.waitedSeconds = status.waitedSeconds
                guard previous != status else { continue }
                tickets[ticket]?.lastStatus = status
                step.send(connection, .queueStatus(status))
            }
        }
        var depths: [QueueKey: Luukku_V1_QueueDepth] = [:]
        func depth(_ queue: QueueKey) -> Luukku_V1_QueueDepth {
            if let known = depths[queue] { return known }
            let made = queueDepth(queue, available: (counts[queue] ?? expertCounts(queue)).available)
            depths[queue] = made
            return made
        }
        var seen: Set<ExpertID> = []
        let concerned = queues.flatMap { queueExperts[$0] ?? [] }.filter { seen.insert($0).inserted }.sorted()
        for id in concerned {
            guard let expert = experts[id], let party = expert.party, let connection = parties[party]?.connection,
                !(parties[party]?.standby ?? true)
            else { continue }
            let snapshot = Luukku_V1_QueueSnapshot.with { $0.queues = expert.skills.map(depth) }
            var comparable = snapshot
            for index in comparable.queues.indices { comparable.queues[index].oldestWaitSeconds = 0 }
            guard expert.lastSnapshot != comparable else { continue }
            experts[id]?.lastSnapshot = comparable
            step.send(connection, .queueSnapshot(snapshot))
        }
    }

    /// One queue as an expert sees it: depth, oldest wait, experts available.
    func queueDepth(_ queue: QueueKey, available: Int) -> Luukku_V1_QueueDepth {
        let (depth, oldest) = matcher.snapshot(of: queue)
        let oldestWait = oldest.flatMap { tickets[$0] }.map { $0.machine.createdAt.duration(to: clock.now) }
        return .with {
            $0.queue = .with {
                $0.agency = queue.agency.rawValue
                $0.language = queue.language.rawValue
            }
            $0.depth = UInt32(depth)
            $0.oldestWaitSeconds = UInt32(clamping: Int(oldestWait?.components.seconds ?? 0))
            $0.expertsAvailable = UInt32(available)
        }
    }
}
