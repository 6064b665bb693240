/// The bit layouts of ``LockFreeMatcher``'s atomic words. Everything a claim must see at once fits one
/// 64-bit word, so one compare-and-swap checks and changes it: the state, whom it concerns, and a stamp that
/// makes the word unique over time (no ABA: a stamp is never issued twice, so a word that looks the same as
/// before *is* the same as before).
///
/// Limits that follow from the layouts (checked where they could be reached):
/// - stamps (tickets and availabilities share one sequence): below 2^42, about 4.4 * 10^12;
/// - experts: below 2^20 - 1; queues: below 2^16; skills of one expert: at most 16;
/// - ring positions of one queue: below 2^40.

/// A ticket slot: `stamp (42) | expert + 1 (20) | state (2)`.
///
/// The slot of ticket `s` is `s & slotMask`; a slot is free when its state is `closed`, whatever stamp it
/// last held. The stamp in the word tells which ticket holds the slot now, so a stale `TicketID` never
/// touches the ticket that reused its slot.
enum TicketWord {
    static let closed: UInt64 = 0
    static let waiting: UInt64 = 1
    static let offered: UInt64 = 2

    @inline(__always) static func make(stamp: UInt64, state: UInt64, expert: Int = -1) -> UInt64 {
        stamp << 22 | UInt64(expert + 1) << 2 | state
    }
    @inline(__always) static func stamp(_ word: UInt64) -> UInt64 { word >> 22 }
    @inline(__always) static func state(_ word: UInt64) -> UInt64 { word & 3 }
    /// The expert a ticket is offered to (meaningful in state `offered`).
    @inline(__always) static func expert(_ word: UInt64) -> Int { Int((word >> 2) & 0xF_FFFF) - 1 }
}

/// Where an open ticket stands, beside its slot word: `ring position (48) | queue (16)`. Written before the
/// ticket is published in its ring and not changed while the ticket holds the slot; a reader that got here
/// through a stamp re-checks the slot word after reading it.
enum TicketPlace {
    @inline(__always) static func make(position: UInt64, queue: Int) -> UInt64 { position << 16 | UInt64(queue) }
    @inline(__always) static func position(_ word: UInt64) -> UInt64 { word >> 16 }
    @inline(__always) static func queue(_ word: UInt64) -> Int { Int(word & 0xFFFF) }
}

/// An expert: `payload (46) | skill mask (16) | state (2)`.
///
/// - `unavailable`: away, offline, in a session or wrap-up (presence is the server's business).
/// - `available(idle stamp, mask)`: waiting for a ticket in the queues of `mask` (bits index the expert's
///   skills as given to the matcher); the idle stamp orders experts by how long they have been idle and
///   makes each availability unique.
/// - `reserved(idle stamp, mask)`: claim 1 of a match holds it; the claimer either offers it a ticket or
///   restores the exact `available` word it took (the expert keeps its place in the idle order).
/// - `offered(ticket stamp)`: holds an offer. Valid only while the ticket's word says `offered` to this
///   expert too: a cancel closes the ticket first and clears this word after, so for a moment it can name a
///   closed ticket, which every reader treats as `unavailable`.
enum ExpertWord {
    static let unavailable: UInt64 = 0
    static let available: UInt64 = 1
    static let reserved: UInt64 = 2
    static let offered: UInt64 = 3

    @inline(__always) static func make(state: UInt64, payload: UInt64, mask: UInt16 = 0) -> UInt64 {
        payload << 18 | UInt64(mask) << 2 | state
    }
    @inline(__always) static func state(_ word: UInt64) -> UInt64 { word & 3 }
    @inline(__always) static func payload(_ word: UInt64) -> UInt64 { word >> 18 }
    @inline(__always) static func mask(_ word: UInt64) -> UInt16 { UInt16(truncatingIfNeeded: word >> 2) }
    /// The same availability in another state (available <-> reserved).
    @inline(__always) static func with(state: UInt64, _ word: UInt64) -> UInt64 { word & ~3 | state }
}

/// A ring cell: `lap (22) | ticket stamp (42)`, where the lap is `position / ringSize` modulo 2^22.
///
/// A cell counts as filled for position `p` only when its lap is `p`'s lap: what a cell holds from the
/// previous time round is not mistaken for a new entry, so cells are never cleared. Stamp 0 is never issued,
/// so a fresh (all-zero) cell is empty for lap 0 too.
enum RingCell {
    @inline(__always) static func make(stamp: UInt64, lap: UInt64) -> UInt64 { (lap & 0x3F_FFFF) << 42 | stamp }
    @inline(__always) static func stamp(_ word: UInt64) -> UInt64 { word & 0x3FF_FFFF_FFFF }
    @inline(__always) static func isFilled(_ word: UInt64, lap: UInt64) -> Bool {
        word >> 42 == lap & 0x3F_FFFF && stamp(word) != 0
    }
}

/// A queue's scan hint: `ring position (40) | version (24)`. No ticket at a position below the hint is
/// waiting, except one whose decline is in progress (and that decline lowers the hint next). Scans move it
/// forward with a compare-and-swap on the whole word; every decline bumps the version, so a scan that began
/// before a decline cannot move the hint past the ticket that decline returned.
enum ScanHint {
    @inline(__always) static func make(position: UInt64, version: UInt64) -> UInt64 {
        position << 24 | version & 0xFF_FFFF
    }
    @inline(__always) static func position(_ word: UInt64) -> UInt64 { word >> 24 }
    @inline(__always) static func version(_ word: UInt64) -> UInt64 { word & 0xFF_FFFF }
}
