import LuukkuBroker
import LuukkuCore

/// What the status socket shows (docs/operations.md): one consistent picture of the broker, taken under its
/// lock. Ids and counts only: no keys, no tokens, no personal data.
struct StatusSnapshot: Codable, Sendable {
    struct Info: Codable, Sendable {
        var software: String
        var uptimeSeconds: Int
        var connections: Int
        var ticketsWaiting: Int
        var ticketsOffered: Int
        var sessions: Int
        var expertsOnline: Int
        var draining: Bool
        var stopping: Bool
        /// Open connections by stage (the front door's): handshaking, TLS up awaiting Hello, with a Welcome.
        var connectionsByStage: FrontDoor.Counts
        /// Connections refused before Welcome since the start, by reason (every reason, 0 included).
        var refusals: [String: Int]
    }

    typealias Queue = BrokerStatus.Queue
    typealias Expert = BrokerStatus.Expert
    typealias Session = BrokerStatus.Session

    var info: Info
    var queues: [Queue]
    var experts: [Expert]
    var sessions: [Session]
}

extension Broker {
    /// `kick expert <id>` (``BrokerStateMachine/kick(expert:)``). Returns false when the expert is not
    /// connected (or known).
    func kick(expert id: String) -> Bool {
        guard let expert = ExpertID(id) else { return false }
        var kicked = false
        step { machine in
            guard let step = machine.kick(expert: expert) else { return Step() }
            kicked = true
            return step
        }
        return kicked
    }

    func statusSnapshot() -> StatusSnapshot {
        let (status, uptime) = lock.withLock { (machine.status, startedAt.duration(to: .now)) }
        let door = frontDoor.snapshot()
        return StatusSnapshot(
            info: .init(
                software: BrokerStateMachine<ContinuousClock>.software, uptimeSeconds: Int(uptime.components.seconds),
                connections: status.connections, ticketsWaiting: status.ticketsWaiting,
                ticketsOffered: status.ticketsOffered, sessions: status.sessions.count,
                expertsOnline: status.experts.filter(\.connected).count, draining: status.draining,
                stopping: status.stopping, connectionsByStage: door.counts,
                refusals: Dictionary(uniqueKeysWithValues: door.refusals.map { ($0.key.rawValue, $0.value) })),
            queues: status.queues, experts: status.experts, sessions: status.sessions)
    }
}
