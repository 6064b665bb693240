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

    struct Queue: Codable, Sendable {
        var agency: String
        var language: String
        var waiting: Int
        var oldestWaitSeconds: Int
        var expertsOnline: Int
        var expertsAvailable: Int
    }

    struct Expert: Codable, Sendable {
        var id: String
        var agency: String
        var languages: [String]
        var presence: String
        var awayReason: String?
        var connected: Bool
        var session: String?
    }

    struct Session: Codable, Sendable {
        var id: String
        var ticket: String
        var servicePoint: String
        var agency: String
        var language: String
        var expert: String
        var elapsedSeconds: Int
        var terminalPort: Int
        var expertPort: Int
    }

    var info: Info
    var queues: [Queue]
    var experts: [Expert]
    var sessions: [Session]
}

extension Broker {
    /// `kick expert <id>`: the expert's console gets Goodbye{KICKED} and is closed, a running session ends
    /// (Hangup{OPERATOR} to the customer), an offer goes back to its place, and the expert is offline.
    /// Returns false when the expert is not connected (or known).
    func kick(expert id: String) -> Bool {
        guard let expert = ExpertID(id) else { return false }
        var kicked = false
        step { step in
            guard let party = experts[expert]?.party, parties[party] != nil else { return }
            for session in parties[party]?.sessions.sorted() ?? [] {
                endSession(session, reason: .operatorAction, snapshot: nil, &step)
            }
            expire(party, clean: false, &step)
            logger.notice("expert kicked by an operator", metadata: ["expert": "\(expert)"])
            kicked = true
        }
        return kicked
    }

    func statusSnapshot() -> StatusSnapshot {
        lock.withLock {
            let now = clock.now
            let queues = configuration.agencies.flatMap { agency in
                agency.languages.map { QueueKey(agency: agency.id, language: $0) }
            }
            let experts = configuration.experts.map { expert -> StatusSnapshot.Expert in
                let record = self.experts[expert.id]
                let connected = record?.party.flatMap { parties[$0]?.sink } != nil
                return StatusSnapshot.Expert(
                    id: expert.id.rawValue, agency: expert.agency.rawValue, languages: expert.languages.map(\.rawValue),
                    presence: record.map { "\($0.presence.presence)" } ?? "offline",
                    awayReason: record?.presence.awayReason.map { "\($0)" }, connected: connected,
                    session: record?.session.map(Broker.sessionWire))
            }
            let door = frontDoor.snapshot()
            return StatusSnapshot(
                info: .init(
                    software: Self.software, uptimeSeconds: Int((now - startedAt).components.seconds),
                    connections: partyByConnection.count,
                    ticketsWaiting: tickets.values.filter { $0.machine.phase == .waiting }.count,
                    ticketsOffered: tickets.values.filter { $0.machine.phase == .offered }.count,
                    sessions: sessions.count, expertsOnline: experts.filter(\.connected).count, draining: draining,
                    stopping: stopping, connectionsByStage: door.counts,
                    refusals: Dictionary(uniqueKeysWithValues: door.refusals.map { ($0.key.rawValue, $0.value) })),
                queues: queues.map { queue in
                    let (depth, oldest) = matcher.snapshot(of: queue)
                    let wait = oldest.flatMap { tickets[$0] }.map {
                        Int((now - $0.machine.createdAt).components.seconds)
                    }
                    let (online, _, available) = expertCounts(queue)
                    return .init(
                        agency: queue.agency.rawValue, language: queue.language.rawValue, waiting: depth,
                        oldestWaitSeconds: wait ?? 0, expertsOnline: online, expertsAvailable: available)
                },
                experts: experts,
                sessions: sessions.keys.sorted().compactMap { id in
                    guard let session = sessions[id], let ticket = tickets[session.ticket] else { return nil }
                    return .init(
                        id: Broker.sessionWire(id), ticket: session.ticket.wireValue,
                        servicePoint: ticket.point.rawValue,
                        agency: session.queue.agency.rawValue, language: session.queue.language.rawValue,
                        expert: session.expert.rawValue,
                        elapsedSeconds: Int((now - session.startedAt).components.seconds),
                        terminalPort: Int(session.terminalStarted.relayPort),
                        expertPort: Int(session.expertStarted.relayPort))
                })
        }
    }
}
