import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay

/// Timers the broker arms; each comes back as ``BrokerStateMachine/timerFired(_:)``. A timer whose state moved
/// on is stale and ignored, so a cancel that crosses a firing is harmless.
public enum BrokerTimer: Hashable, Sendable {
    case offer(ExpertID, TicketID)
    case wrapUp(ExpertID)
    /// A waiting ticket's limit (`server.timeouts.maxWait`).
    case ticketExpiry(TicketID)
    /// The grace of a dropped connection; `token` tells a newer drop of the same party from this one.
    case resumeGrace(party: UInt64, token: [UInt8])
    /// SIGTERM's drain deadline: sessions still running are ended.
    case drainDeadline
}

/// Two relay legs to open for a session (the terminal's is leg A, the expert's leg B), with their keys and
/// the clock rates of what each party sends. The service opens them at once and answers with
/// ``BrokerStateMachine/legsOpened(session:ports:)`` or ``BrokerStateMachine/legsFailed(session:reason:)``.
public struct LegRequest: Hashable, Sendable {
    public let session: UInt64
    public let a: LegKeys
    public let b: LegKeys
    public let clockRatesA: ClockRates
    public let clockRatesB: ClockRates
}

/// What the service does once a step's records are on disk, in this order.
public enum BrokerAction<Instant: InstantProtocol & Sendable>: Sendable {
    case send(connection: UInt64, Luukku_V1_Envelope)
    /// Flush what was sent and close the connection.
    case close(connection: UInt64)
    case arm(BrokerTimer, at: Instant)
    case cancel(BrokerTimer)
    /// Close the session's relay legs and answer with ``BrokerStateMachine/legsClosed(session:relay:)``, whose
    /// step (the session's end records, the Hangups) is carried out before the actions after this one.
    case closeLegs(session: UInt64)
}

/// A line for the operator's log; the state machine decides what, the service writes it.
public struct BrokerLog: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case info, notice, error

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    }
    public let level: Level
    public let message: String
    public let metadata: [String: String]
}

/// A figure for the metrics, counted when the step is made.
public enum BrokerMetric: Sendable {
    /// A customer's wait, from the request to the expert's accept.
    case answered(QueueKey, waitedSeconds: Double)
    /// A request, an AVAILABLE or an accepted offer refused for want of common media.
    case mediaRefused(role: String, kind: String)
    /// A session ended with this ledger outcome.
    case sessionEnded(session: UInt64, outcome: String)
}

/// One step of the broker: the ledger records it made, what to do once they are durable, the legs to open
/// now, and the log lines and figures.
public struct BrokerStep<Instant: InstantProtocol & Sendable>: Sendable {
    public var records: [LedgerEvent] = []
    public var actions: [BrokerAction<Instant>] = []
    public var openLegs: [LegRequest] = []
    public var logs: [BrokerLog] = []
    public var metrics: [BrokerMetric] = []
    /// Lines below this level are not even made (their text costs as much as a small step).
    public var logLevel: BrokerLog.Level = .info

    public init(logging level: BrokerLog.Level = .info) { logLevel = level }

    /// Nothing to write and nothing to do after the write.
    public var isEmpty: Bool { records.isEmpty && actions.isEmpty }

    mutating func send(_ connection: UInt64?, _ message: Luukku_V1_Envelope.OneOf_Message, correlation: UInt64 = 0) {
        guard let connection else { return }
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.message = message
        actions.append(.send(connection: connection, envelope))
    }

    mutating func error(_ connection: UInt64?, _ error: ProtocolError, correlation: UInt64) {
        send(connection, .error(error.wireMessage), correlation: correlation)
        if error.isFatal, let connection { actions.append(.close(connection: connection)) }
    }

    mutating func log(
        _ level: BrokerLog.Level, _ message: @autoclosure () -> String,
        _ metadata: @autoclosure () -> [String: String] = [:]
    ) {
        guard level >= logLevel else { return }
        logs.append(BrokerLog(level: level, message: message(), metadata: metadata()))
    }

    /// Appends another step's output after this one's.
    public mutating func append(_ other: BrokerStep) {
        records += other.records
        actions += other.actions
        openLegs += other.openLegs
        logs += other.logs
        metrics += other.metrics
    }
}
