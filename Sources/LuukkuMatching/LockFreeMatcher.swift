import LuukkuCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The matcher the broker runs: ``MatchingStateMachine``'s policy on atomics, with no lock anywhere.
///
/// Design and proof sketch: docs/matching.md; the claim protocol is the one `models/matcher.pml` checks.
/// In short:
/// - Every ticket holds a slot in one table of atomic words, found from its stamp (`stamp & slotMask`); the
///   word carries the stamp, so a stale ``TicketID`` never touches the ticket that reused the slot.
/// - Each queue (agency x language) is a ring of ticket stamps in stamp order. Tickets stay in their ring
///   while offered, so a declined ticket is back at its place by becoming `waiting` again. Matchers scan
///   from a per-queue hint past offered and closed entries.
/// - An expert is one atomic word: unavailable, available (idle stamp, the queues it serves now), reserved,
///   or offered a ticket. Each queue keeps a count of its available experts; a new ticket scans the queue's
///   members for the longest-idle one only when the count is above zero.
/// - A match is two compare-and-swaps: the expert `available -> reserved`, then the ticket
///   `waiting -> offered`; if the second fails, the expert's exact word is put back and the thread that
///   backed out pairs that expert again.
/// - Whoever publishes (a ticket arriving or declined, an expert becoming available) then looks for the
///   other side, with sequentially consistent operations on both sides (Dekker's pattern), so two
///   publishers never both miss each other.
///
/// Its experts and queues are fixed when it is made (from the configuration); capacities are explicit and a
/// full queue is ``MatcherError/Code/queueFull``. Nothing is freed while it lives: slots and ring cells are
/// reused, which the stamps and laps in their words make safe.
///
/// Calls that concern one expert (``expertAvailable(_:queues:)``, ``expertUnavailable(_:)``, ``accept(_:by:)``,
/// ``decline(_:by:)``) come one at a time, as from the expert's one console connection; requests, cancels and
/// queries come from any thread at any time.
///
/// Every operation may make several matches: besides its own, the pairs that concurrent operations left to
/// it (a backed-out expert, tickets behind its own). Each match is returned exactly once, by the call that
/// made it; the caller must deliver every one.
public final class LockFreeMatcher: ConcurrentMatcher, @unchecked Sendable {
    // @unchecked Sendable is safe: after `init` every stored property is either immutable or an
    // `AtomicWords` table, whose words are only touched through atomic operations.
    //
    // The claim protocol is in LockFreeMatcher+Claims.swift, the rings in LockFreeMatcher+Ring.swift. The
    // stored properties are internal (not private) for those files; nothing outside the matcher uses them.

    /// Largest number of open (waiting or offered) tickets in one queue.
    public let capacityPerQueue: Int

    let queueKeys: [QueueKey]
    let queueIndex: [QueueKey: Int]
    let expertIDs: [ExpertID]
    let expertIndex: [ExpertID: Int]
    /// The queues of expert `e` are `skillQueues[skillStart[e] ..< skillStart[e + 1]]`; bit `i` of an expert
    /// word's mask stands for its `i`-th skill.
    let skillStart: [Int]
    let skillQueues: [Int]
    /// The experts who serve queue `q` are `memberExperts[memberStart[q] ..< memberStart[q + 1]]`, with the
    /// bit that queue has in each one's mask.
    let memberStart: [Int]
    let memberExperts: [Int]
    let memberBits: [UInt16]

    let ringShift: Int
    let ringMask: UInt64
    let slotMask: UInt64

    /// The one global sequence: ticket stamps and idle stamps. Starts at 1 (stamp 0 is never issued).
    let sequence = AtomicWords(count: 1, spacing: .ownCacheLines)
    /// Ticket slots (``TicketWord``) and their places (``TicketPlace``).
    let tickets: AtomicWords
    let places: AtomicWords
    /// Per expert (``ExpertWord``).
    let experts: AtomicWords
    /// Per queue: ring cells (``RingCell``), `ringSize` each, and the queue's counters.
    let rings: AtomicWords
    /// Next position to fill; may lag one behind a filled cell, which the next producer fixes.
    let tails: AtomicWords
    /// Positions below the head are closed and their cells may be refilled.
    let heads: AtomicWords
    /// ``ScanHint``: where a scan for the first waiting ticket starts.
    let hints: AtomicWords
    /// Open tickets (waiting or offered). May exceed the truth for a moment (a request counts itself in
    /// before it is stored, and counts itself out if the queue is full).
    let openCounts: AtomicWords
    /// At least the number of available or reserved experts of the queue: raised before an expert becomes
    /// available and lowered after it stops being so, so it never under-counts (``longestIdle(in:)`` relies on
    /// that).
    let availableCounts: AtomicWords

    /// Makes a matcher for a fixed set of queues and experts.
    /// - Parameters:
    ///   - queues: the queues tickets may be requested in; each expert's skills are added to them.
    ///   - experts: every expert with the queues it may serve (at most 16), as in the configuration.
    ///   - capacityPerQueue: the most open tickets one queue holds; a request beyond it is refused with
    ///     ``MatcherError/Code/queueFull``.
    ///   - ringCapacity: positions in each queue's ring (rounded up to a power of two, at least
    ///     `capacityPerQueue`); default twice the capacity, at least 1,024. A ticket left at the front while
    ///     offered (an expert slow to answer) or waiting (behind it, others cancelled) pins the ring's head;
    ///     others may pass it until the ring is full, and then requests are refused with `.queueFull` until
    ///     it leaves.
    ///
    /// Memory: 8 bytes per ring position per queue, and 32 bytes per unit of capacity per queue for ticket
    /// slots (twice as many slots as tickets can be open).
    ///
    /// `firstStamp` is the first stamp issued (the daemon starts after the highest one its ledger holds, so a
    /// ticket id is never issued twice across restarts).
    public init(
        queues: [QueueKey] = [], experts roster: [(ExpertID, [QueueKey])], capacityPerQueue: Int,
        ringCapacity: Int? = nil, firstStamp: UInt64 = 1
    ) {
        precondition(firstStamp >= 1 && firstStamp < 1 << 41, "stamps start at 1 and leave room below 2^42")
        precondition(capacityPerQueue > 0, "a queue must hold at least one ticket")
        precondition((ringCapacity ?? capacityPerQueue) >= capacityPerQueue, "a ring must hold the capacity")
        precondition(roster.count < 0xF_FFFF, "at most 1,048,574 experts")
        self.capacityPerQueue = capacityPerQueue

        var keys: [QueueKey] = []
        var index: [QueueKey: Int] = [:]
        func add(_ queue: QueueKey) -> Int {
            if let known = index[queue] { return known }
            index[queue] = keys.count
            keys.append(queue)
            return keys.count - 1
        }
        for queue in queues { _ = add(queue) }
        var skillStart = [0]
        var skillQueues: [Int] = []
        var members: [[(expert: Int, bit: UInt16)]] = []
        var expertIndex: [ExpertID: Int] = [:]
        for (expert, (id, skills)) in roster.enumerated() {
            precondition(expertIndex.updateValue(expert, forKey: id) == nil, "expert \(id) listed twice")
            let distinct = skills.reduce(into: [QueueKey]()) { if !$0.contains($1) { $0.append($1) } }
            precondition(distinct.count <= 16, "expert \(id) has more than 16 skills")
            for (bit, queue) in distinct.enumerated() {
                let q = add(queue)
                skillQueues.append(q)
                while members.count <= q { members.append([]) }
                members[q].append((expert, UInt16(1) << bit))
            }
            skillStart.append(skillQueues.count)
        }
        precondition(keys.count < 0xFFFF, "at most 65,534 queues")
        while members.count < keys.count { members.append([]) }
        queueKeys = keys
        queueIndex = index
        expertIDs = roster.map(\.0)
        self.expertIndex = expertIndex
        self.skillStart = skillStart
        self.skillQueues = skillQueues
        memberStart = members.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        memberExperts = members.flatMap { $0.map(\.expert) }
        memberBits = members.flatMap { $0.map(\.bit) }

        let ringSize = max(16, (ringCapacity ?? max(1_024, 2 * capacityPerQueue)).roundedUpToPowerOfTwo)
        ringShift = ringSize.trailingZeroBitCount
        ringMask = UInt64(ringSize - 1)
        // At most half the slots are taken, so a new stamp finds its slot free at the first try at least half
        // the time.
        let slots = max(64, (2 * capacityPerQueue * max(1, keys.count)).roundedUpToPowerOfTwo)
        slotMask = UInt64(slots - 1)
        tickets = AtomicWords(count: slots)
        places = AtomicWords(count: slots)
        experts = AtomicWords(count: roster.count, spacing: .ownCacheLines)
        rings = AtomicWords(count: keys.count * ringSize)
        tails = AtomicWords(count: keys.count, spacing: .ownCacheLines)
        heads = AtomicWords(count: keys.count, spacing: .ownCacheLines)
        hints = AtomicWords(count: keys.count, spacing: .ownCacheLines)
        openCounts = AtomicWords(count: keys.count, spacing: .ownCacheLines)
        availableCounts = AtomicWords(count: keys.count, spacing: .ownCacheLines)
        sequence.storeRelaxed(0, firstStamp)
    }

    // MARK: Tickets

    /// Stamps a new ticket in `queue`, stores it at the end of the queue's ring and matches the queue.
    /// - Throws: ``MatcherError`` `.unknownQueue`, or `.queueFull` when the queue holds ``capacityPerQueue``
    ///   open tickets (or its ring is pinned full by an old offered ticket; docs/matching.md).
    public func request(_ queue: QueueKey) throws(MatcherError) -> (ticket: TicketID, matches: [Match]) {
        guard let q = queueIndex[queue] else { throw MatcherError(.unknownQueue) }
        // Relaxed: the count is a limit, not a synchronisation point.
        if openCounts.addRelaxed(q, 1) > capacityPerQueue {
            openCounts.addRelaxed(q, -1)
            throw MatcherError(.queueFull)
        }
        let stamp: UInt64
        do throws(MatcherError) {
            stamp = try enqueue(in: q)
        } catch {
            openCounts.addRelaxed(q, -1)
            throw error
        }
        var matches: [Match] = []
        matchQueue(q, into: &matches)
        return (TicketID(stamp: stamp), matches)
    }

    /// The customer left, or the ticket expired. An offer that stood is withdrawn; the expert it was
    /// offered to is returned so the server can tell it.
    public func cancel(_ ticket: TicketID) -> CancelOutcome {
        guard let index = slot(of: ticket) else { return .notOpen }
        let stamp = ticket.stamp
        while true {
            // Sequentially consistent, as every step of the claim protocol (docs/matching.md).
            let word = tickets.load(index)
            guard TicketWord.stamp(word) == stamp, TicketWord.state(word) != TicketWord.closed else { return .notOpen }
            // Read before the compare-and-swap: if that succeeds, the slot was this ticket's all along.
            let place = places.loadRelaxed(index)
            let closed = TicketWord.make(stamp: stamp, state: TicketWord.closed)
            guard tickets.exchange(index, expected: word, desired: closed) else { continue }
            openCounts.addRelaxed(TicketPlace.queue(place), -1)
            guard TicketWord.state(word) == TicketWord.offered else { return .wasWaiting }
            let expert = TicketWord.expert(word)
            clearOffer(of: expert, stamp: stamp)
            return .wasOffered(to: expertIDs[expert])
        }
    }

    /// The expert accepted: the ticket is closed (its ring entry is skipped from now on).
    /// - Returns: `false` when the ticket is not offered to that expert (withdrawn meanwhile).
    public func accept(_ ticket: TicketID, by expertID: ExpertID) -> Bool {
        guard let index = slot(of: ticket), let expert = expertIndex[expertID] else { return false }
        let place = places.loadRelaxed(index)
        let offered = TicketWord.make(stamp: ticket.stamp, state: TicketWord.offered, expert: expert)
        let closed = TicketWord.make(stamp: ticket.stamp, state: TicketWord.closed)
        guard tickets.exchange(index, expected: offered, desired: closed) else { return false }
        clearOffer(of: expert, stamp: ticket.stamp)
        openCounts.addRelaxed(TicketPlace.queue(place), -1)
        return true
    }

    /// The offer was declined or lapsed: the ticket is waiting again at its place and may go to another
    /// expert at once. The expert is left unavailable (the presence rules decide when it is back).
    public func decline(_ ticket: TicketID, by expertID: ExpertID) -> [Match] {
        guard let index = slot(of: ticket), let expert = expertIndex[expertID] else { return [] }
        let place = places.loadRelaxed(index)
        let offered = TicketWord.make(stamp: ticket.stamp, state: TicketWord.offered, expert: expert)
        let waiting = TicketWord.make(stamp: ticket.stamp, state: TicketWord.waiting)
        guard tickets.exchange(index, expected: offered, desired: waiting) else { return [] }
        clearOffer(of: expert, stamp: ticket.stamp)
        let q = TicketPlace.queue(place)
        lowerHint(of: q, to: TicketPlace.position(place))
        var matches: [Match] = []
        matchQueue(q, into: &matches)
        return matches
    }

    // MARK: Experts

    /// The expert is available for `queues` (login, wrap-up over, back from away): it gets the oldest
    /// waiting ticket across them, or waits as the youngest idle expert of each. An expert who is available
    /// already or holds an offer is left as it is.
    /// - Throws: ``MatcherError`` `.unknownExpert`, or `.unknownQueue` for a queue the expert does not serve.
    public func expertAvailable(_ expertID: ExpertID, queues: [QueueKey]) throws(MatcherError) -> [Match] {
        guard let expert = expertIndex[expertID] else { throw MatcherError(.unknownExpert) }
        var mask: UInt16 = 0
        let skills = skillStart[expert]..<skillStart[expert + 1]
        for queue in queues {
            guard let q = queueIndex[queue], let bit = skills.firstIndex(where: { skillQueues[$0] == q }) else {
                throw MatcherError(.unknownQueue)
            }
            mask |= 1 << (bit - skills.lowerBound)
        }
        // Counted in before the word says available, so the count never under-counts (see availableCounts).
        changeAvailableCounts(of: expert, mask: mask, by: 1)
        while true {
            let word = experts.load(expert)
            switch ExpertWord.state(word) {
            case ExpertWord.unavailable:
                // Relaxed: an idle stamp only has to be unique and to grow, which a relaxed add gives.
                let idle = sequence.nextRelaxed(0)
                let available = ExpertWord.make(state: ExpertWord.available, payload: idle, mask: mask)
                guard experts.exchange(expert, expected: word, desired: available) else {
                    continue
                }
                var matches: [Match] = []
                matchExpert(expert, into: &matches)
                return matches
            case ExpertWord.offered where !holdsOffer(word, expert):
                // The ticket was cancelled after the claim (see ExpertWord): clear the leftover word.
                _ = experts.exchange(expert, expected: word, desired: ExpertWord.unavailable)
            default:  // available, reserved (by a claim: still available), or holding an offer
                changeAvailableCounts(of: expert, mask: mask, by: -1)
                return []
            }
        }
    }

    /// The expert is away, offline or busy otherwise.
    /// - Returns: `false` when the expert holds an offer (it must be declined or accepted first).
    public func expertUnavailable(_ expertID: ExpertID) -> Bool {
        guard let expert = expertIndex[expertID] else { return true }
        while true {
            let word = experts.load(expert)
            switch ExpertWord.state(word) {
            case ExpertWord.unavailable:
                return true
            case ExpertWord.available:
                if experts.exchange(expert, expected: word, desired: ExpertWord.unavailable) {
                    changeAvailableCounts(of: expert, mask: ExpertWord.mask(word), by: -1)
                    return true
                }
            case ExpertWord.reserved:
                // A claim is between its two compare-and-swaps; it ends in a few instructions either way.
                sched_yield()
            default:
                guard !holdsOffer(word, expert) else { return false }
                _ = experts.exchange(expert, expected: word, desired: ExpertWord.unavailable)
            }
        }
    }

    // MARK: Queries

    /// 1 for the next waiting ticket of its queue; `nil` when the ticket is not waiting. Counts the waiting
    /// tickets ahead of it, so its cost grows with the queue (as ``MatchingStateMachine/position(of:)``).
    public func position(of ticket: TicketID) -> Int? {
        guard let index = slot(of: ticket) else { return nil }
        let waiting = TicketWord.make(stamp: ticket.stamp, state: TicketWord.waiting)
        guard tickets.load(index) == waiting else { return nil }
        let place = places.loadRelaxed(index)
        guard tickets.load(index) == waiting else { return nil }
        let q = TicketPlace.queue(place)
        let target = TicketPlace.position(place)
        recount: while true {
            var position = min(scanStart(of: q), target)
            var ahead = 0
            while position < target {
                let cell = rings.load(cellIndex(q, position))
                guard RingCell.isFilled(cell, lap: position >> ringShift) else { continue recount }  // lapped
                if isWaiting(RingCell.stamp(cell)) { ahead += 1 }
                position += 1
            }
            return tickets.load(index) == waiting ? ahead + 1 : nil
        }
    }

    /// Open tickets of the queue (waiting and offered) and the oldest waiting one.
    public func snapshot(of queue: QueueKey) -> (depth: Int, oldestWaiting: TicketID?) {
        guard let q = queueIndex[queue] else { return (0, nil) }
        let depth = Int(Int64(bitPattern: openCounts.loadRelaxed(q)))
        return (min(max(0, depth), capacityPerQueue), firstWaiting(in: q).map { TicketID(stamp: $0.stamp) })
    }

    /// The ticket offered to the expert, if any.
    public func offer(for expertID: ExpertID) -> TicketID? {
        guard let expert = expertIndex[expertID] else { return nil }
        let word = experts.load(expert)
        guard ExpertWord.state(word) == ExpertWord.offered, holdsOffer(word, expert) else { return nil }
        return TicketID(stamp: ExpertWord.payload(word))
    }

    /// Whether the expert is available (a claim in progress still counts: it may back out).
    public func isAvailable(_ expertID: ExpertID) -> Bool {
        guard let expert = expertIndex[expertID] else { return false }
        let state = ExpertWord.state(experts.load(expert))
        return state == ExpertWord.available || state == ExpertWord.reserved
    }
}
