/// A queue's ring of ticket stamps (docs/matching.md "Operations"): appending in stamp order, the head that
/// frees cells for the next lap, and the scan hint.
extension LockFreeMatcher {
    /// Stores a new ticket at the end of the queue's ring and returns its stamp. The stamp is taken after the
    /// tail was read and retaken whenever another ticket got that position first, so ring order is stamp
    /// order.
    func enqueue(in q: Int) throws(MatcherError) -> UInt64 {
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
            // The head is read after the cell: if it is not past `position`, the cell cannot hold an entry of
            // a later lap (filling `position + ringSize` needs the head past `position` first), so the exchange
            // below can only replace an entry the ring is done with.
            guard let room = room(in: q, at: position) else { continue }  // the ring came round: read again
            if room == 0 {
                advanceHead(of: q, by: .max)
                guard let after = self.room(in: q, at: position) else { continue }
                guard after > 0 else { throw MatcherError(.queueFull) }
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

    /// Free positions in the ring from `position` on, or `nil` when `position` is behind the head (read
    /// before the ring came round past it).
    func room(in q: Int, at position: UInt64) -> UInt64? {
        let head = heads.load(q)
        guard position >= head else { return nil }
        return (ringMask + 1) - min(position - head, ringMask + 1)
    }

    /// Takes stamps from the sequence until one's slot is free, and claims it as a waiting ticket.
    func claimSlot() -> UInt64 {
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
    func advanceHead(of q: Int, by limit: Int) {
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
    func lowerHint(of q: Int, to position: UInt64) {
        while true {
            let hint = hints.load(q)
            let lowered = ScanHint.make(
                position: min(ScanHint.position(hint), position), version: ScanHint.version(hint) + 1)
            if hints.exchange(q, expected: hint, desired: lowered) { return }
        }
    }

    func scanStart(of q: Int) -> UInt64 {
        max(ScanHint.position(hints.load(q)), heads.load(q))
    }
}
