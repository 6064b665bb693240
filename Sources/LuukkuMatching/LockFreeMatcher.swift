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

    /// Largest number of open (waiting or offered) tickets in one queue.
    public let capacityPerQueue: Int

    private let queueKeys: [QueueKey]
    private let queueIndex: [QueueKey: Int]
    private let expertIDs: [ExpertID]
    private let expertIndex: [ExpertID: Int]
    /// The queues of expert `e` are `skillQueues[skillStart[e] ..< skillStart[e + 1]]`; bit `i` of an expert
    /// word's mask stands for its `i`-th skill.
    private let skillStart: [Int]
    private let skillQueues: [Int]
    /// The experts who serve queue `q` are `memberExperts[memberStart[q] ..< memberStart[q + 1]]`, with the
    /// bit that queue has in each one's mask.
    private let memberStart: [Int]
    private let memberExperts: [Int]
    private let memberBits: [UInt16]

    private let ringShift: Int
    private let ringMask: UInt64
    private let slotMask: UInt64

    /// The one global sequence: ticket stamps and idle stamps. Starts at 1 (stamp 0 is never issued).
    private let sequence = AtomicWords(count: 1, spacing: .ownCacheLines)
    /// Ticket slots (``TicketWord``) and their places (``TicketPlace``).
    private let tickets: AtomicWords
    private let places: AtomicWords
    /// Per expert (``ExpertWord``).
    private let experts: AtomicWords
    /// Per queue: ring cells (``RingCell``), `ringSize` each, and the queue's counters.
    private let rings: AtomicWords
    /// Next position to fill; may lag one behind a filled cell, which the next producer fixes.
    private let tails: AtomicWords
    /// Positions below the head are closed and their cells may be refilled.
    private let heads: AtomicWords
    /// ``ScanHint``: where a scan for the first waiting ticket starts.
    private let hints: AtomicWords
    /// Open tickets (waiting or offered). May exceed the truth for a moment (a request counts itself in
    /// before it is stored, and counts itself out if the queue is full).
    private let openCounts: AtomicWords
    /// At least the number of available or reserved experts of the queue: raised before an expert becomes
    /// available and lowered after it stops being so, so it never under-counts (``longestIdle(in:)`` relies on
    /// that).
    private let availableCounts: AtomicWords

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
    public init(
        queues: [QueueKey] = [], experts roster: [(ExpertID, [QueueKey])], capacityPerQueue: Int,
        ringCapacity: Int? = nil
    ) {
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
        sequence.storeRelaxed(0, 1)
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
            // The ticket is closed for good, so this word cannot be a newer offer of the same stamp. It fails
            // only when the claimer has not yet written `offered` (it then writes a word readers see through).
            _ = experts.exchange(
                expert, expected: ExpertWord.make(state: ExpertWord.offered, payload: stamp),
                desired: ExpertWord.unavailable)
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
        _ = experts.exchange(
            expert, expected: ExpertWord.make(state: ExpertWord.offered, payload: ticket.stamp),
            desired: ExpertWord.unavailable)
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
        // The expert cannot be offered anything else before this word is cleared, so the exchange cannot hit a
        // newer offer; if it fails, the word is a leftover that holdsOffer(_:_:) sees through.
        _ = experts.exchange(
            expert, expected: ExpertWord.make(state: ExpertWord.offered, payload: ticket.stamp),
            desired: ExpertWord.unavailable)
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

    // MARK: Claims (docs/matching.md, models/matcher.pml)

    /// Matches the oldest waiting ticket of the queue with its longest-idle expert until one side is empty.
    private func matchQueue(_ q: Int, into matches: inout [Match]) {
        while let ticket = firstWaiting(in: q), let (expert, word) = longestIdle(in: q) {
            // Claim 1: the expert.
            let reserved = ExpertWord.with(state: ExpertWord.reserved, word)
            guard experts.exchange(expert, expected: word, desired: reserved) else { continue }
            // Claim 2: the ticket. If it fails, the expert is available again and nobody else knows: a
            // concurrent arrival in another of its queues may have seen it reserved and gone. Pair it now.
            if !offer(ticket.stamp, in: q, to: expert, availability: word, into: &matches) {
                matchExpert(expert, into: &matches)
            }
        }
    }

    /// Gives an available expert the oldest waiting ticket across its queues, until it is no longer
    /// available or none of its queues has a waiting ticket.
    private func matchExpert(_ expert: Int, into matches: inout [Match]) {
        while true {
            let word = experts.load(expert)
            // Reserved: the claimer either offers it a ticket or backs out and calls this itself.
            guard ExpertWord.state(word) == ExpertWord.available else { return }
            var best: (queue: Int, stamp: UInt64)?
            var mask = ExpertWord.mask(word)
            while mask != 0 {
                let q = skillQueues[skillStart[expert] + mask.trailingZeroBitCount]
                mask &= mask - 1
                if let ticket = firstWaiting(in: q), ticket.stamp < best?.stamp ?? .max { best = (q, ticket.stamp) }
            }
            guard let best else { return }
            let reserved = ExpertWord.with(state: ExpertWord.reserved, word)
            guard experts.exchange(expert, expected: word, desired: reserved) else { continue }
            if offer(best.stamp, in: best.queue, to: expert, availability: word, into: &matches) { return }
        }
    }

    /// Claim 2 for an expert this thread has reserved, taken from its `availability` word. On success the
    /// match is recorded; on failure the expert gets `availability` back, its place in the idle order too.
    private func offer(
        _ stamp: UInt64, in q: Int, to expert: Int, availability word: UInt64, into matches: inout [Match]
    ) -> Bool {
        let waiting = TicketWord.make(stamp: stamp, state: TicketWord.waiting)
        let offered = TicketWord.make(stamp: stamp, state: TicketWord.offered, expert: expert)
        guard tickets.exchange(slot(stamp), expected: waiting, desired: offered) else {
            experts.store(expert, word)
            return false
        }
        // Only the reserver writes a reserved word.
        experts.store(expert, ExpertWord.make(state: ExpertWord.offered, payload: stamp))
        changeAvailableCounts(of: expert, mask: ExpertWord.mask(word), by: -1)
        matches.append(Match(ticket: TicketID(stamp: stamp), expert: expertIDs[expert], queue: queueKeys[q]))
        return true
    }

    /// The longest-idle available expert of the queue and the word it was seen with.
    private func longestIdle(in q: Int) -> (expert: Int, word: UInt64)? {
        // The count never under-counts and is raised before an expert's word says available; an arrival that
        // reads zero here published its ticket before, so that expert's own scan will see the ticket.
        guard Int64(bitPattern: availableCounts.load(q)) > 0 else { return nil }
        var best: (expert: Int, word: UInt64)?
        for member in memberStart[q]..<memberStart[q + 1] {
            let expert = memberExperts[member]
            let word = experts.load(expert)
            guard ExpertWord.state(word) == ExpertWord.available, ExpertWord.mask(word) & memberBits[member] != 0
            else { continue }
            if ExpertWord.payload(word) < ExpertWord.payload(best?.word ?? .max) { best = (expert, word) }
        }
        return best
    }

    /// The oldest waiting ticket of the queue, moving the hint past the offered and closed entries before it.
    private func firstWaiting(in q: Int) -> (position: UInt64, stamp: UInt64)? {
        rescan: while true {
            let hint = hints.load(q)
            var position = max(ScanHint.position(hint), heads.load(q))
            var found: (position: UInt64, stamp: UInt64)?
            while true {
                let cell = rings.load(cellIndex(q, position))
                guard RingCell.isFilled(cell, lap: position >> ringShift) else {
                    // Past the end, or this scan was so slow that the ring came round under it.
                    if position < heads.load(q) { continue rescan }
                    break
                }
                if isWaiting(RingCell.stamp(cell)) {
                    found = (position, RingCell.stamp(cell))
                    break
                }
                position += 1
            }
            if position != ScanHint.position(hint) {
                // Fails if a decline lowered the hint meanwhile; the hint then stays where the decline put it.
                let moved = ScanHint.make(position: position, version: ScanHint.version(hint))
                _ = hints.exchange(q, expected: hint, desired: moved)
            }
            return found
        }
    }

    // MARK: Ring

    /// Stores a new ticket at the end of the queue's ring and returns its stamp. The stamp is taken after the
    /// tail was read and retaken whenever another ticket got that position first, so ring order is stamp
    /// order.
    private func enqueue(in q: Int) throws(MatcherError) -> UInt64 {
        advanceHead(of: q, by: 4)
        while true {
            let position = tails.load(q)
            let lap = position >> ringShift
            let cellIndex = cellIndex(q, position)
            let cell = rings.load(cellIndex)
            if RingCell.isFilled(cell, lap: lap) {
                _ = tails.exchange(q, expected: position, desired: position + 1)
                continue
            }
            if !hasRoom(in: q, at: position) {
                advanceHead(of: q, by: .max)
                guard hasRoom(in: q, at: position) else { throw MatcherError(.queueFull) }
            }
            let stamp = claimSlot()
            places.storeRelaxed(slot(stamp), TicketPlace.make(position: position, queue: q))
            // Publishing the cell publishes the ticket (its place was stored before, its word is waiting).
            let filled = RingCell.make(stamp: stamp, lap: lap)
            if rings.exchange(cellIndex, expected: cell, desired: filled) {
                _ = tails.exchange(q, expected: position, desired: position + 1)
                return stamp
            }
            // Another ticket took the position: free the slot and start again with a newer stamp.
            tickets.store(slot(stamp), TicketWord.make(stamp: stamp, state: TicketWord.closed))
        }
    }

    private func hasRoom(in q: Int, at position: UInt64) -> Bool {
        // Signed: a stale position may be behind the head (its cell exchange then fails).
        Int64(bitPattern: position &- heads.load(q)) < Int64(ringMask + 1)
    }

    /// Takes stamps from the sequence until one's slot is free, and claims it as a waiting ticket.
    private func claimSlot() -> UInt64 {
        while true {
            // Relaxed is enough for ring order: this add comes after the load of the tail in program order,
            // and that load saw the tail moved past the previous entry, whose stamp was taken before; the
            // sequence's modification order then puts this stamp after that one.
            let stamp = sequence.nextRelaxed(0)
            precondition(stamp < 1 << 42, "ticket stamps exhausted (2^42)")
            let index = slot(stamp)
            let word = tickets.loadRelaxed(index)
            let waiting = TicketWord.make(stamp: stamp, state: TicketWord.waiting)
            if TicketWord.state(word) == TicketWord.closed,
                tickets.exchange(index, expected: word, desired: waiting)
            {
                return stamp
            }
        }
    }

    /// Moves the head past closed entries (at most `limit`), freeing their cells for the next lap.
    private func advanceHead(of q: Int, by limit: Int) {
        var moved = 0
        while moved < limit {
            let head = heads.load(q)
            guard head < tails.load(q) else { return }
            let cell = rings.load(cellIndex(q, head))
            // A closed ticket never opens again (its stamp is never reissued), so this check stays true.
            guard RingCell.isFilled(cell, lap: head >> ringShift), !isOpen(RingCell.stamp(cell)) else { return }
            _ = heads.exchange(q, expected: head, desired: head + 1)
            moved += 1
        }
    }

    /// Lowers the queue's hint to `position` for a declined ticket, and bumps its version so that no scan
    /// that started before can move the hint past it.
    private func lowerHint(of q: Int, to position: UInt64) {
        while true {
            let hint = hints.load(q)
            let lowered = ScanHint.make(
                position: min(ScanHint.position(hint), position), version: ScanHint.version(hint) + 1)
            if hints.exchange(q, expected: hint, desired: lowered) { return }
        }
    }

    private func scanStart(of q: Int) -> UInt64 {
        max(ScanHint.position(hints.load(q)), heads.load(q))
    }

    // MARK: Helpers

    /// Whether an expert's `offered` word stands: the ticket it names says offered to this expert too. When
    /// not, the ticket was cancelled after the claim and the word is a leftover that the expert's own next
    /// call may clear. (That call cannot race a newer offer of the same ticket: a newer offer needs the
    /// expert available, which only the expert's own calls make it, one at a time.)
    private func holdsOffer(_ word: UInt64, _ expert: Int) -> Bool {
        let stamp = ExpertWord.payload(word)
        return tickets.load(slot(stamp))
            == TicketWord.make(stamp: stamp, state: TicketWord.offered, expert: expert)
    }

    private func changeAvailableCounts(of expert: Int, mask: UInt16, by delta: Int) {
        var mask = mask
        while mask != 0 {
            availableCounts.add(
                skillQueues[skillStart[expert] + mask.trailingZeroBitCount], delta)
            mask &= mask - 1
        }
    }

    private func isWaiting(_ stamp: UInt64) -> Bool {
        tickets.load(slot(stamp)) == TicketWord.make(stamp: stamp, state: TicketWord.waiting)
    }

    private func isOpen(_ stamp: UInt64) -> Bool {
        let word = tickets.load(slot(stamp))
        return TicketWord.stamp(word) == stamp && TicketWord.state(word) != TicketWord.closed
    }

    @inline(__always) private func slot(_ stamp: UInt64) -> Int { Int(stamp & slotMask) }

    /// The slot of a ticket id from outside, or `nil` for an id no stamp of this layout can have.
    private func slot(of ticket: TicketID) -> Int? {
        ticket.stamp != 0 && ticket.stamp < 1 << 42 ? slot(ticket.stamp) : nil
    }

    @inline(__always) private func cellIndex(_ q: Int, _ position: UInt64) -> Int {
        q << ringShift | Int(position & ringMask)
    }
}
