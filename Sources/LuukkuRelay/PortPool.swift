import Synchronization

/// The relay's UDP ports over the configured range. A port is handed out once until it is returned; ports are
/// reused in the order they were freed (least recently used first), so a late packet for an ended session is
/// unlikely to meet a new one on the same port.
public final class PortPool: Sendable {
    public let range: ClosedRange<UInt16>
    private let free: Mutex<Ring>

    struct Ring {
        var ports: [UInt16]
        var head = 0
        var count: Int
    }

    public init(range: ClosedRange<UInt16>) {
        self.range = range
        free = Mutex(Ring(ports: Array(range), count: range.count))
    }

    /// Ports not handed out now.
    public var available: Int { free.withLock { $0.count } }

    /// Takes the least recently used free port, or nil when all are in use.
    public func take() -> UInt16? {
        free.withLock { ring in
            guard ring.count > 0 else { return nil }
            let port = ring.ports[ring.head]
            ring.head = (ring.head + 1) % ring.ports.count
            ring.count -= 1
            return port
        }
    }

    /// Gives a port back. A port outside the range, or returned twice, is a programming error.
    public func give(_ port: UInt16) {
        precondition(range.contains(port), "port \(port) is not from this pool")
        free.withLock { ring in
            precondition(ring.count < ring.ports.count, "port \(port) returned twice")
            ring.ports[(ring.head + ring.count) % ring.ports.count] = port
            ring.count += 1
        }
    }
}
