/// A customer's place in a queue. The number is the ticket's stamp from the broker's one global sequence, so
/// comparing two ids tells which request came first (FIFO within a queue, oldest-first across queues).
///
/// On the wire and in logs it is written `t-<number>`; it names no person.
public struct TicketID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let stamp: UInt64

    public init(stamp: UInt64) { self.stamp = stamp }

    /// Parses the wire form `t-<decimal>` as ``wireValue`` writes it; returns `nil` for anything else (a
    /// sign, a leading zero), so that one ticket has one spelling.
    public init?(wireValue: String) {
        guard wireValue.hasPrefix("t-") else { return nil }
        let digits = Substring(wireValue.utf8.dropFirst(2))
        guard digits == "0" || !digits.hasPrefix("0"), let stamp = SessionWire.decimal(digits) else { return nil }
        self.stamp = stamp
    }

    public var wireValue: String { "t-\(stamp)" }
    public var description: String { wireValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.stamp < rhs.stamp }
}
