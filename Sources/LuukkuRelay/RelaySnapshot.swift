/// An IPv4 address and port (host byte order).
public struct RelayEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let address: UInt32
    public let port: UInt16

    public init(address: UInt32, port: UInt16) {
        self.address = address
        self.port = port
    }

    public var description: String {
        "\(address >> 24).\(address >> 16 & 0xFF).\(address >> 8 & 0xFF).\(address & 0xFF):\(port)"
    }
}

/// One RTP source a leg receives, from the relay's own RFC 3550 statistics.
public struct RTPSourceSnapshot: Hashable, Sendable {
    public let ssrc: UInt32
    public let payloadType: UInt8
    public let received: UInt64
    public let expected: Int64
    public let lost: Int64
    /// Interarrival jitter in RTP timestamp units, and in microseconds (by the payload type's clock rate).
    public let jitter: UInt32
    public let jitterMicroseconds: UInt64
}

/// What the peer of a leg reported in RTCP about the media the relay sends it (RFC 3550 section 6.4).
public struct PeerReportSnapshot: Hashable, Sendable {
    public let ssrc: UInt32
    public let fractionLost: UInt8
    public let cumulativeLost: Int32
    public let jitter: UInt32
    /// Round trip between the relay and this peer: the receiver report's arrival minus the relay's forwarding
    /// of the sender report it names, minus the peer's delay (RFC 3550 section 6.4.1). Nil until the peer
    /// reports on a sender report the relay forwarded.
    public let roundTripMicroseconds: UInt64?
}

/// A leg as the server and operators see it.
public struct LegSnapshot: Hashable, Sendable {
    public let port: UInt16
    /// The authenticated source the leg sends to; nil until the first authenticated packet.
    public let latched: RelayEndpoint?
    public let counters: LegCounters
    public let sources: [RTPSourceSnapshot]
    public let peerReports: [PeerReportSnapshot]
}

/// Both legs of a session.
public struct SessionSnapshot: Hashable, Sendable {
    public let session: UInt64
    public let a: LegSnapshot
    public let b: LegSnapshot
}

/// Why the relay closed a session on its own or on request.
public enum SessionEnd: Hashable, Sendable {
    /// ``Relay/close(session:)``.
    case closed
    /// No authenticated packet on either leg for the configured media silence.
    case mediaSilence
    /// The relay stopped.
    case relayStopped
}

/// The two legs of a session.
public enum LegSide: Hashable, Sendable {
    /// The service-point terminal's leg, by the server's convention.
    case a
    case b
}

/// A leg's peer address was set by an authenticated packet: the first time (`moved` false), or it moved.
public struct LatchEvent: Hashable, Sendable {
    public let session: UInt64
    public let side: LegSide
    public let endpoint: RelayEndpoint
    public let moved: Bool

    public init(session: UInt64, side: LegSide, endpoint: RelayEndpoint, moved: Bool) {
        self.session = session
        self.side = side
        self.endpoint = endpoint
        self.moved = moved
    }
}
