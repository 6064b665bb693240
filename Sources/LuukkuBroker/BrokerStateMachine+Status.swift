import LuukkuCore

/// The broker's part of what the status socket shows (docs/operations.md). Ids and counts only: no keys, no
/// tokens, no personal data.
public struct BrokerStatus: Sendable {
    public struct Queue: Codable, Sendable {
        public var agency: String
        public var language: String
        public var waiting: Int
        public var oldestWaitSeconds: Int
        public var expertsOnline: Int
        public var expertsAvailable: Int
    }

    public struct Expert: Codable, Sendable {
        public var id: String
        public var agency: String
        public var languages: [String]
        public var presence: String
        public var awayReason: String?
        public var connected: Bool
        public var session: String?
    }

    public struct Session: Codable, Sendable {
        public var id: String
        public var ticket: String
        public var servicePoint: String
        public var agency: String
        public var language: String
        public var expert: String
        public var elapsedSeconds: Int
        public var terminalPort: Int
        public var expertPort: Int
    }

    public var connections: Int
    public var ticketsWaiting: Int
    public var ticketsOffered: Int
    public var draining: Bool
    public var stopping: Bool
    public var queues: [Queue]
    public var experts: [Expert]
    public var sessions: [Session]
}

extension BrokerStateMachine {
    public var status: BrokerStatus {
        let now = clock.now
        let queues = configuration.agencies.flatMap { agency in
            agency.languages.map { QueueKey(agency: agency.id, language: $0) }
        }
        let experts = configuration.experts.map { expert -> BrokerStatus.Expert in
            let record = self.experts[expert.id]
            let connected = record?.party.flatMap { parties[$0]?.connection } != nil
            return BrokerStatus.Expert(
                id: expert.id.rawValue, agency: expert.agency.rawValue, languages: expert.languages.map(\.rawValue),
                presence: record.map { "\($0.presence.presence)" } ?? "offline",
                awayReason: record?.presence.awayReason.map { "\($0)" }, connected: connected,
                session: record?.session.map(Self.sessionWire))
        }
        return BrokerStatus(
            connections: partyByConnection.count,
            ticketsWaiting: tickets.values.filter { $0.machine.phase == .waiting }.count,
            ticketsOffered: tickets.values.filter { $0.machine.phase == .offered }.count,
            draining: draining, stopping: stopping,
            queues: queues.map { queue in
                let (depth, oldest) = matcher.snapshot(of: queue)
                let wait = oldest.flatMap { tickets[$0] }.map {
                    Int($0.machine.createdAt.duration(to: now).components.seconds)
                }
                let counts = expertCounts(queue)
                return .init(
                    agency: queue.agency.rawValue, language: queue.language.rawValue, waiting: depth,
                    oldestWaitSeconds: wait ?? 0, expertsOnline: counts.online, expertsAvailable: counts.available)
            },
            experts: experts,
            sessions: sessions.keys.sorted().compactMap { id in
                guard let session = sessions[id] else { return nil }
                return .init(
                    id: Self.sessionWire(id), ticket: session.ticket.wireValue, servicePoint: session.point.rawValue,
                    agency: session.queue.agency.rawValue, language: session.queue.language.rawValue,
                    expert: session.expert.rawValue,
                    elapsedSeconds: Int(session.startedAt.duration(to: now).components.seconds),
                    terminalPort: Int(session.terminalStarted.relayPort),
                    expertPort: Int(session.expertStarted.relayPort))
            })
    }
}
