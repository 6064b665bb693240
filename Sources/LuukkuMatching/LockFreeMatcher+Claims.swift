import LuukkuCore

/// The claim protocol (docs/matching.md "Operations"; `models/matcher.pml` and `models/handover.pml` check
/// it): the two loops that make matches, claim 2 with its back-out, and the scans that find each side.
extension LockFreeMatcher {
    /// Matches the oldest waiting ticket of the queue with its longest-idle expert until one side is empty.
    func matchQueue(_ q: Int, into matches: inout [Match]) {
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
    func matchExpert(_ expert: Int, into matches: inout [Match]) {
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
    func offer(
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
    func longestIdle(in q: Int) -> (expert: Int, word: UInt64)? {
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
    func firstWaiting(in q: Int) -> (position: UInt64, stamp: UInt64)? {
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

    // MARK: Helpers

    /// Whether an expert's `offered` word stands: the ticket it names says offered to this expert too. When
    /// not, the ticket was cancelled after the claim and the word is a leftover that the expert's own next
    /// call may clear. (That call cannot race a newer offer of the same ticket: a newer offer needs the
    /// expert available, which only the expert's own calls make it, one at a time.)
    func holdsOffer(_ word: UInt64, _ expert: Int) -> Bool {
        let stamp = ExpertWord.payload(word)
        return tickets.load(slot(stamp))
            == TicketWord.make(stamp: stamp, state: TicketWord.offered, expert: expert)
    }

    /// Clears an expert's `offered(stamp)` word after the ticket left `offered` (accepted, cancelled or
    /// declined), which this caller's exchange on the ticket decided. It cannot hit a newer offer of the same
    /// stamp: a closed ticket is never offered again, and a declined one only after this expert is available
    /// again, which needs this word cleared first. It fails only when the claimer has not yet written
    /// `offered` (the claimer then writes a leftover that ``holdsOffer(_:_:)`` sees through).
    func clearOffer(of expert: Int, stamp: UInt64) {
        _ = experts.exchange(
            expert, expected: ExpertWord.make(state: ExpertWord.offered, payload: stamp),
            desired: ExpertWord.unavailable)
    }

    func changeAvailableCounts(of expert: Int, mask: UInt16, by delta: Int) {
        var mask = mask
        while mask != 0 {
            availableCounts.add(
                skillQueues[skillStart[expert] + mask.trailingZeroBitCount], delta)
            mask &= mask - 1
        }
    }

    func isWaiting(_ stamp: UInt64) -> Bool {
        tickets.load(slot(stamp)) == TicketWord.make(stamp: stamp, state: TicketWord.waiting)
    }

    func isOpen(_ stamp: UInt64) -> Bool {
        let word = tickets.load(slot(stamp))
        return TicketWord.stamp(word) == stamp && TicketWord.state(word) != TicketWord.closed
    }

    @inline(__always) func slot(_ stamp: UInt64) -> Int { Int(stamp & slotMask) }

    /// The slot of a ticket id from outside, or `nil` for an id no stamp of this layout can have.
    func slot(of ticket: TicketID) -> Int? {
        ticket.stamp != 0 && ticket.stamp < 1 << 42 ? slot(ticket.stamp) : nil
    }

    @inline(__always) func cellIndex(_ q: Int, _ position: UInt64) -> Int {
        q << ringShift | Int(position & ringMask)
    }
}
