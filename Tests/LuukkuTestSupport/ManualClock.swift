import NIOConcurrencyHelpers

/// A clock that only moves when a test moves it. The state machines never read a clock; tests use this
/// one's instants as the `now` of each event and compare deadlines against them.
public struct ManualClock: Clock, Sendable {
    public struct Instant: InstantProtocol, Sendable {
        public var offset: Duration

        public init(offset: Duration) { self.offset = offset }

        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        public func duration(to other: Instant) -> Duration { other.offset - offset }
        public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    public var now = Instant(offset: .zero)
    public var minimumResolution: Duration { .nanoseconds(1) }

    public init() {}

    public mutating func advance(by duration: Duration) { now = now.advanced(by: duration) }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        preconditionFailure("ManualClock never sleeps: tests advance it by hand")
    }
}

/// A manual clock whose copies share one time. The broker state machine keeps the clock it is given (a copy),
/// so a test gives it one of these and moves them all with ``advance(by:)``.
public struct SharedManualClock: Clock, Sendable {
    public typealias Instant = ManualClock.Instant

    private let box = NIOLockedValueBox(Instant(offset: .zero))

    public init() {}

    public var now: Instant { box.withLockedValue { $0 } }
    public var minimumResolution: Duration { .nanoseconds(1) }

    public func advance(by duration: Duration) { box.withLockedValue { $0 = $0.advanced(by: duration) } }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        preconditionFailure("SharedManualClock never sleeps: tests advance it by hand")
    }
}
