import DequeModule
import LuukkuCore

/// The matching policy as a single-threaded state machine: one `Deque` of tickets per queue, in stamp order.
///
/// It is the reference for the lock-free matcher (issue 3, docs/matching.md): the baseline it is measured
/// against under a lock, and the oracle of its differential stress test. Policy:
/// - tickets are stamped from one global sequence, in ``request(_:)`` order;
/// - within a queue, the oldest waiting ticket is served first (FIFO);
/// - an expert who becomes available gets the oldest waiting ticket across all its queues;
/// - a new ticket goes to the longest-idle available expert of its queue;
/// - a declined or lapsed ticket never leaves its queue while offered, so it is back at its original place
///   (its stamp) as soon as it is returned;
/// - no ticket is offered to two experts, no expert holds two offers.
///
/// Presence rules (ring-no-answer, wrap-up) are not its business: the server runs ``PresenceStateMachine``
/// and tells the matcher when an expert is available and when not.
public struct MatchingStateMachine: Sendable {
    private struct TicketEntry: Sendable {
        let queue: QueueKey
        var offeredTo: ExpertID?
    }

    private struct ExpertEntry: Sendable {
        let queues: [QueueKey]
        /// Set while available: the order in which experts became available (lower = idle longer).
        var idleSince: UInt64?
        var offered: TicketID?
    }

    /// Largest number of open (waiting or offered) tickets in one queue.
    public let capacityPerQueue: Int
    private var nextStamp: UInt64 = 1
    private var nextIdle: UInt64 = 1
    /// Open tickets per queue in stamp order, offered ones included (they keep their place).
    private var queues: [QueueKey: Deque<TicketID>] = [:]
    /// Available experts per queue in idle order; entries whose `idleSince` no longer matches the expert's
    /// are stale and skipped (lazy deletion, as in the lock-free matcher).
    private var idleExperts: [QueueKey: Deque<(idleSince: UInt64, expert: ExpertID)>] = [:]
    private var tickets: [TicketID: TicketEntry] = [:]
    private var experts: [ExpertID: ExpertEntry] = [:]
    /// The offered tickets of each queue (at most one per expert), for ``position(of:)``.
    private var offered: [QueueKey: Set<TicketID>] = [:]

    /// - Parameter firstStamp: the first ticket's stamp (the daemon continues after the ledger's highest).
    public init(capacityPerQueue: Int, firstStamp: UInt64 = 1) {
        precondition(capacityPerQueue > 0, "a queue must hold at least one ticket")
        self.capacityPerQueue = capacityPerQueue
        nextStamp = max(1, firstStamp)
    }

    // MARK: Tickets

    /// Stamps a new ticket in `queue` and offers it (or an older one of the queue) to the longest-idle
    /// available expert, if there is one.
    /// - Throws: ``MatcherError`` `.queueFull` when the queue holds ``capacityPerQueue`` open tickets.
    public mutating func request(_ queue: QueueKey) throws(MatcherError) -> (ticket: TicketID, match: Match?) {
        guard queues[queue, default: []].count < capacityPerQueue else { throw MatcherError(.queueFull) }
        let ticket = TicketID(stamp: nextStamp)
        nextStamp += 1
        queues[queue, default: []].append(ticket)
        tickets[ticket] = TicketEntry(queue: queue)
        return (ticket, matchQueue(queue))
    }

    /// The customer left (or the ticket expired or was removed). An offer that stood is withdrawn: the
    /// expert it was offered to is returned so the server can tell it (OfferWithdrawn).
    public mutating func cancel(_ ticket: TicketID) -> CancelOutcome {
        guard let entry = tickets.removeValue(forKey: ticket) else { return .notOpen }
        remove(ticket, from: entry.queue)
        guard let expert = entry.offeredTo else { return .wasWaiting }
        offered[entry.queue]?.remove(ticket)
        experts[expert]?.offered = nil
        return .wasOffered(to: expert)
    }

    /// The expert accepted: the ticket leaves its queue for good.
    /// - Returns: `false` when the ticket is not offered to that expert (withdrawn meanwhile).
    public mutating func accept(_ ticket: TicketID, by expert: ExpertID) -> Bool {
        guard let entry = tickets[ticket], entry.offeredTo == expert else { return false }
        tickets[ticket] = nil
        experts[expert]?.offered = nil
        offered[entry.queue]?.remove(ticket)
        remove(ticket, from: entry.queue)
        return true
    }

    /// The offer was declined or lapsed: the ticket is waiting again at its place and may go to another
    /// available expert at once. The expert is not made available here (the presence rules decide that).
    public mutating func decline(_ ticket: TicketID, by expert: ExpertID) -> Match? {
        guard let entry = tickets[ticket], entry.offeredTo == expert else { return nil }
        tickets[ticket]?.offeredTo = nil
        experts[expert]?.offered = nil
        offered[entry.queue]?.remove(ticket)
        return matchQueue(entry.queue)
    }

    // MARK: Experts

    /// The expert is available for `queues` (login, wrap-up over, back from away): it gets the oldest waiting
    /// ticket across those queues, or waits as the youngest idle expert of each.
    public mutating func expertAvailable(_ expert: ExpertID, queues skills: [QueueKey]) -> Match? {
        if let current = experts[expert], current.idleSince != nil || current.offered != nil { return nil }
        let idle = nextIdle
        nextIdle += 1
        experts[expert] = ExpertEntry(queues: skills, idleSince: idle)
        for queue in skills { idleExperts[queue, default: []].append((idle, expert)) }
        guard let (ticket, queue) = oldestWaiting(in: skills) else { return nil }
        return offer(ticket, in: queue, to: expert)
    }

    /// The expert is away, offline or busy otherwise. An expert holding an offer cannot be removed this way:
    /// the offer must be declined or accepted first.
    /// - Returns: `false` when the expert holds an offer.
    public mutating func expertUnavailable(_ expert: ExpertID) -> Bool {
        guard let entry = experts[expert] else { return true }
        guard entry.offered == nil else { return false }
        experts[expert] = nil
        return true
    }

    // MARK: Queries

    /// 1 for the next waiting ticket of its queue; `nil` when the ticket is not waiting. O(log n + offered):
    /// a binary search in the queue (kept in stamp order), less the offered tickets ahead of it.
    public func position(of ticket: TicketID) -> Int? {
        guard let entry = tickets[ticket], entry.offeredTo == nil, let queue = queues[entry.queue] else { return nil }
        var low = queue.startIndex
        var high = queue.endIndex
        while low < high {
            let middle = low + (high - low) / 2
            if queue[middle] < ticket { low = middle + 1 } else { high = middle }
        }
        guard low < queue.endIndex, queue[low] == ticket else { return nil }
        let offeredAhead = offered[entry.queue, default: []].count { $0 < ticket }
        return low - queue.startIndex - offeredAhead + 1
    }

    /// The queue's open tickets (waiting and offered) in stamp order: the waiting ones' positions are their
    /// places among the waiting.
    public func openTickets(in queue: QueueKey) -> Deque<TicketID> { queues[queue] ?? [] }

    /// Open tickets of the queue (waiting and offered) and the oldest waiting one.
    public func snapshot(of queue: QueueKey) -> (depth: Int, oldestWaiting: TicketID?) {
        let open = queues[queue] ?? []
        return (open.count, open.first { tickets[$0]?.offeredTo == nil })
    }

    /// The expert an open ticket is offered to.
    public func offeredTo(_ ticket: TicketID) -> ExpertID? { tickets[ticket]?.offeredTo }

    /// The ticket offered to the expert, if any (for an expert's console that reconnects, and for tests).
    public func offer(for expert: ExpertID) -> TicketID? { experts[expert]?.offered }

    /// Whether the expert is available and not holding an offer.
    public func isAvailable(_ expert: ExpertID) -> Bool { experts[expert]?.idleSince != nil }

    // MARK: Internals

    /// Matches the oldest waiting ticket of `queue` with the longest-idle available expert of the queue.
    private mutating func matchQueue(_ queue: QueueKey) -> Match? {
        guard let ticket = queues[queue]?.first(where: { tickets[$0]?.offeredTo == nil }) else { return nil }
        while let head = idleExperts[queue]?.first {
            idleExperts[queue]?.removeFirst()
            guard experts[head.expert]?.idleSince == head.idleSince else { continue }  // stale entry
            return offer(ticket, in: queue, to: head.expert)
        }
        return nil
    }

    private func oldestWaiting(in skills: [QueueKey]) -> (TicketID, QueueKey)? {
        var best: (TicketID, QueueKey)?
        for queue in skills {
            guard let ticket = queues[queue]?.first(where: { tickets[$0]?.offeredTo == nil }) else { continue }
            if best == nil || ticket < best!.0 { best = (ticket, queue) }
        }
        return best
    }

    private mutating func offer(_ ticket: TicketID, in queue: QueueKey, to expert: ExpertID) -> Match {
        precondition(tickets[ticket]?.offeredTo == nil, "ticket offered twice")
        precondition(experts[expert]?.offered == nil, "expert holds two offers")
        tickets[ticket]?.offeredTo = expert
        offered[queue, default: []].insert(ticket)
        experts[expert]?.idleSince = nil
        experts[expert]?.offered = ticket
        return Match(ticket: ticket, expert: expert, queue: queue)
    }

    private mutating func remove(_ ticket: TicketID, from queue: QueueKey) {
        guard let index = queues[queue]?.firstIndex(of: ticket) else { return }
        queues[queue]?.remove(at: index)
    }
}

/// A ticket offered to an expert.
public struct Match: Hashable, Sendable {
    public let ticket: TicketID
    public let expert: ExpertID
    public let queue: QueueKey

    public init(ticket: TicketID, expert: ExpertID, queue: QueueKey) {
        self.ticket = ticket
        self.expert = expert
        self.queue = queue
    }
}

/// What cancelling a ticket found.
public enum CancelOutcome: Hashable, Sendable {
    case wasWaiting
    /// The offer to this expert is withdrawn; tell the expert.
    case wasOffered(to: ExpertID)
    /// The ticket was not open (already served, cancelled or unknown).
    case notOpen
}

/// The matcher refused a request.
public struct MatcherError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The queue holds as many open tickets as configured (`QUEUE_FULL` on the wire).
        case queueFull
        /// The matcher does not serve this queue, or the expert does not serve it (``LockFreeMatcher`` knows
        /// its queues and each expert's from the configuration).
        case unknownQueue
        /// The expert is not in the matcher's roster.
        case unknownExpert
    }

    public let code: Code

    public init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .queueFull: "the queue is full"
        case .unknownQueue: "the queue is not served here"
        case .unknownExpert: "the expert is not in the roster"
        }
    }
}
