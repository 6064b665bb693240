import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay

/// Where the broker sends frames for one connection. The server's implementation writes to the NIO channel
/// (thread-safe); tests may collect frames instead.
public protocol ConnectionSink: Sendable {
    func send(_ envelope: Luukku_V1_Envelope)
    /// Flushes what was sent and closes the connection.
    func close()
}

/// Timers the broker schedules; each comes back as ``Broker/timerFired(_:)``. A timer whose state moved on is
/// stale and ignored by the state machines, so none is ever cancelled.
enum BrokerTimer: Hashable, Sendable {
    case offer(ExpertID, TicketID)
    case wrapUp(ExpertID)
    /// The grace of a dropped connection; `token` tells a newer drop of the same party from this one.
    case resumeGrace(party: UInt64, token: [UInt8])
    /// SIGTERM's drain deadline: sessions still running are ended.
    case drainDeadline
}

/// What the broker asks for after one step. ``BrokerOutbox`` carries these out in order, after the step's
/// ledger events are on disk.
enum BrokerEffect: Sendable {
    case send(any ConnectionSink, Luukku_V1_Envelope)
    case close(any ConnectionSink)
    case schedule(BrokerTimer, at: ContinuousClock.Instant)
    /// Close the session's relay legs (or take the relay's own final snapshot), write the session's end with
    /// its media figures and the ticket's close, then carry out `then` (the Hangups and FeedbackRequest).
    case endSession(EndedSession, then: [BrokerEffect])
}

/// A session that ended, for the ledger.
struct EndedSession: Sendable {
    let session: UInt64
    let ticket: TicketID
    let reason: SessionEndReason
    /// The relay's final snapshot when the relay itself ended the session (media silence); otherwise the
    /// outbox closes the legs and takes it.
    let snapshot: SessionSnapshot?
}

/// One step of the broker: the ledger events it made and what to do once they are durable.
struct BrokerStep: Sendable {
    var events: [LedgerEvent] = []
    var effects: [BrokerEffect] = []

    var isEmpty: Bool { events.isEmpty && effects.isEmpty }

    mutating func send(
        _ sink: (any ConnectionSink)?, _ message: Luukku_V1_Envelope.OneOf_Message, correlation: UInt64 = 0
    ) {
        guard let sink else { return }
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.message = message
        effects.append(.send(sink, envelope))
    }

    mutating func error(_ sink: (any ConnectionSink)?, _ error: ProtocolError, correlation: UInt64) {
        send(sink, .error(error.wireMessage), correlation: correlation)
        if error.isFatal, let sink { effects.append(.close(sink)) }
    }
}

extension RelayStats {
    /// The ledger's media figures from the relay's final snapshot: leg A is the terminal's, leg B the expert's.
    init(_ snapshot: SessionSnapshot?) {
        guard let snapshot else {
            self.init()
            return
        }
        func lost(_ leg: LegSnapshot) -> Int64 { leg.sources.reduce(0) { $0 + max(0, $1.lost) } }
        func jitter(_ leg: LegSnapshot) -> UInt64 { leg.sources.map(\.jitterMicroseconds).max() ?? 0 }
        self.init(
            packetsToExpert: snapshot.b.counters.packetsOut, packetsToTerminal: snapshot.a.counters.packetsOut,
            lostFromTerminal: lost(snapshot.a), lostFromExpert: lost(snapshot.b),
            jitterFromTerminalMicroseconds: jitter(snapshot.a), jitterFromExpertMicroseconds: jitter(snapshot.b))
    }
}

typealias RelayStats = LedgerEvent.RelayStats
