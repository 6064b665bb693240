/// Why the relay dropped a packet (issue 4): each is counted per leg, and none of them is ever forwarded.
public enum DropReason: Int, CaseIterable, Hashable, Sendable {
    /// `srtp_unprotect` refused the tag: forged, corrupted, or another leg's key (RFC 3711 section 3.3).
    case authenticationFailed
    /// Seen before or behind the replay window (RFC 3711 section 3.3.2).
    case replayed
    /// Over the leg's token bucket.
    case overRate
    /// The other side has not authenticated a packet yet, so there is no address to send to.
    case notLatched
    /// Not RTP or RTCP at all.
    case malformed
    /// For a port whose session is over: still queued on the leg's socket when the session ended. (A datagram
    /// for a port with no leg at all never reaches the relay: the kernel answers it with ICMP port unreachable
    /// and counts it as `Udp: NoPorts` in /proc/net/snmp.)
    case unknownPort

    /// The drop reason for an SRTP failure on an inbound packet.
    public init(_ error: SRTPError) {
        switch error.code {
        case .authenticationFailed: self = .authenticationFailed
        case .replayed: self = .replayed
        case .malformed, .noRoom, .keyLength, .wrongDirection, .backendConflict, .library: self = .malformed
        }
    }
}

/// Packet and byte counters of one leg, and its drops by reason. Plain stored integers (no array, no
/// dictionary), so counting allocates nothing; the relay worker that owns the leg is the only writer.
public struct LegCounters: Hashable, Sendable {
    public var packetsIn: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var packetsOut: UInt64 = 0
    public var bytesOut: UInt64 = 0
    /// The latched address moved to a new one that authenticated (NAT rebinding, a service car).
    public var relatches: UInt64 = 0
    /// Packets for this leg's peer that the kernel refused (full send buffer, unreachable address): not a drop
    /// by the relay's rules, but lost all the same.
    public var sendFailures: UInt64 = 0
    private var authenticationFailed: UInt64 = 0
    private var replayed: UInt64 = 0
    private var overRate: UInt64 = 0
    private var notLatched: UInt64 = 0
    private var malformed: UInt64 = 0
    private var unknownPort: UInt64 = 0

    public init() {}

    public mutating func drop(_ reason: DropReason) {
        switch reason {
        case .authenticationFailed: authenticationFailed += 1
        case .replayed: replayed += 1
        case .overRate: overRate += 1
        case .notLatched: notLatched += 1
        case .malformed: malformed += 1
        case .unknownPort: unknownPort += 1
        }
    }

    public func drops(_ reason: DropReason) -> UInt64 {
        switch reason {
        case .authenticationFailed: authenticationFailed
        case .replayed: replayed
        case .overRate: overRate
        case .notLatched: notLatched
        case .malformed: malformed
        case .unknownPort: unknownPort
        }
    }

    /// All drops, whatever the reason.
    public var totalDrops: UInt64 { DropReason.allCases.reduce(0) { $0 + drops($1) } }
}
