import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol
import LuukkuRelay

/// The broker's policy as a value: what it knows about parties, tickets, experts and sessions, and what each
/// input makes of it (docs/server.md, "The broker").
///
/// Every input (a frame from a connection, a dropped connection, a timer, legs opened or closed, the relay
/// ending a session, a reload) is one *step*: it drives ``TicketStateMachine``, ``PresenceStateMachine`` and
/// ``MatchingStateMachine`` and returns a ``BrokerStep``: the ledger records to write and the actions to carry
/// out once they are on disk (frames to connections, timers, legs to close). It never touches a socket, a
/// clock of its own or the system's random source: the time comes from the injected clock, tokens and keys
/// from the injected generator, so a test can replay any run.
///
/// Parties are ids: a party is one client connection and, after a drop, its resume grace. Tickets belong to
/// the party, not to the certificate: several terminals of one service point may share a certificate.
public struct BrokerStateMachine<C: Clock>: Sendable
where C: Sendable, C.Instant: Sendable, C.Duration == Duration {
    public typealias Step = BrokerStep<C.Instant>

    let clock: C
    /// The wall-clock time written into the ledger's records.
    let wallClock: @Sendable () -> Date
    /// Where resume tokens and SRTP keys come from.
    var random: any RandomNumberGenerator & Sendable
    /// The least level of the log lines a step carries (the service's logger's).
    public var logLevel: BrokerLog.Level = .info
    /// The part of the configuration that SIGHUP may change (catalogue, revocations, timeouts).
    public private(set) var configuration: Configuration
    var matcher: MatchingStateMachine

    var parties: [UInt64: Party] = [:]
    var partyByConnection: [UInt64: UInt64] = [:]
    var partyByToken: [[UInt8]: UInt64] = [:]
    var tickets: [TicketID: TicketRecord] = [:]
    /// Each service point's tickets (open or in session), for `maxRequestsPerTerminal`, which counts per
    /// terminal identity across its connections.
    var ticketsByPoint: [ServicePointID: Set<TicketID>] = [:]
    var experts: [ExpertID: ExpertRecord] = [:]
    /// The experts of each queue (the roster is fixed at start).
    let queueExperts: [QueueKey: [ExpertID]]
    var sessions: [UInt64: SessionRecord] = [:]
    /// Accepts whose legs are being opened.
    var pendingAccepts: [UInt64: PendingAccept] = [:]
    /// Ended sessions whose legs are being closed: what to record and send once the relay's figures are in.
    var closingSessions: [UInt64: ClosingSession] = [:]
    var estimators: [QueueKey: WaitEstimator] = [:]
    var nextParty: UInt64 = 1
    var nextSession: UInt64 = 1
    /// No new requests (SIGTERM or an operator's drain).
    public private(set) var draining = false
    /// SIGTERM: the drain deadline is set and the daemon exits when sessions end.
    public private(set) var stopping = false
    /// The queues this step changed (tickets, experts' presence or connection, estimates): only their
    /// QueueStatus and QueueSnapshot are worked out again at the end of the step.
    var touched: Set<QueueKey> = []

    /// Handling time assumed for a queue before any of its sessions ended (WaitEstimator's prior).
    static var priorHandlingTime: Duration { .seconds(300) }
    static var maxFeedbackCommentChars: Int { 1_000 }
    /// Offers per expert remembered for OFFER_EXPIRED (docs/protocol.md, "Conformance checklist").
    static var recentOffersKept: Int { 32 }
    public static var software: String { "luukkud/0.5.0" }

    /// - Parameters:
    ///   - issued: the highest ticket and session numbers the ledger holds; numbering continues after them, so
    ///     none is issued twice across restarts.
    ///   - random: resume tokens and SRTP keys (`SystemRandomNumberGenerator` in the daemon, a seeded one in
    ///     tests).
    public init(
        configuration: Configuration, issued: (ticket: UInt64, session: UInt64), clock: C,
        wallClock: @escaping @Sendable () -> Date = { Date() },
        random: any RandomNumberGenerator & Sendable = SystemRandomNumberGenerator()
    ) {
        self.configuration = configuration
        self.clock = clock
        self.wallClock = wallClock
        self.random = random
        var byQueue: [QueueKey: [ExpertID]] = [:]
        for expert in configuration.experts {
            let skills = expert.languages.map { QueueKey(agency: expert.agency, language: $0) }
            for queue in skills { byQueue[queue, default: []].append(expert.id) }
            experts[expert.id] = ExpertRecord(
                config: expert, skills: skills, presence: PresenceStateMachine(policy: Self.policy(configuration)))
        }
        for agency in configuration.agencies {
            for language in agency.languages {
                estimators[QueueKey(agency: agency.id, language: language)] = WaitEstimator(
                    prior: Self.priorHandlingTime)
            }
        }
        queueExperts = byQueue
        matcher = MatchingStateMachine(capacityPerQueue: 10_000, firstStamp: issued.ticket + 1)
        nextSession = issued.session + 1
    }

    static func policy(_ configuration: Configuration) -> PresencePolicy<Duration> {
        let timeouts = configuration.server.timeouts
        return PresencePolicy(
            answerTimeout: .seconds(timeouts.offerAnswer), wrapUpDuration: .seconds(timeouts.wrapUp),
            maxMissedOffers: configuration.server.maxMissedOffers)
    }

    /// The ticket wait limit (`server.timeouts.maxWait`, 0 for none).
    var maxWait: Duration? {
        let seconds = configuration.server.timeouts.maxWait
        return seconds > 0 ? .seconds(seconds) : nil
    }

    /// Ends a step: the touched queues' figures go out.
    mutating func finish(_ step: inout Step) -> Step {
        refreshQueues(&step)
        touched.removeAll(keepingCapacity: true)
        return step
    }

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(count + 8)
        while bytes.count < count {
            var word = random.next()
            for _ in 0..<8 {
                bytes.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return Array(bytes.prefix(count))
    }

    // MARK: Connections

    /// A connection passed TLS and Hello: registers its party and sends Welcome (and, for an expert, its
    /// presence and queues). `media` is the Hello's capabilities (nil: an older client that sent none).
    ///
    /// `uiLanguage` is the Hello's: the language of the names Welcome picks (a service point's display name);
    /// `correlation` is the Hello's, which Welcome answers.
    public mutating func attach(
        connection: UInt64, identity: PeerIdentity, version: UInt32, media: MediaCapabilities? = nil,
        uiLanguage: String = "", correlation: UInt64 = 0
    ) -> Step {
        var step = Step(logging: logLevel)
        let token = randomBytes(16)
        var party = Party(id: nextParty, identity: identity, connection: connection, token: token, media: media)
        nextParty += 1
        if case .expert(_, let id) = identity, let older = experts[id]?.party, let olderParty = parties[older] {
            // The console came back (or a second one started): the new connection waits for Resume; anything
            // else it sends first ends the older party (takeOver).
            party.standby = true
            if let olderConnection = olderParty.connection {
                step.send(olderConnection, .goodbye(.with { $0.reason = .kicked }))
                step.actions.append(.close(connection: olderConnection))
                detachParty(olderParty.id, clean: false, &step)
            }
        }
        parties[party.id] = party
        partyByConnection[connection] = party.id
        partyByToken[token] = party.id
        step.send(
            connection, .welcome(welcome(for: party, version: version, uiLanguage: LanguageCode(uiLanguage))),
            correlation: correlation)
        if case .expert(_, let id) = identity, !party.standby { login(id, party: party.id, &step) }
        step.log(.info, "connected", ["identity": "\(identity)", "party": "\(party.id)"])
        return finish(&step)
    }

    /// The connection closed; `clean` after Goodbye (no resume grace kept).
    public mutating func detach(connection: UInt64, clean: Bool) -> Step {
        var step = Step(logging: logLevel)
        if let id = partyByConnection.removeValue(forKey: connection) { detachParty(id, clean: clean, &step) }
        return finish(&step)
    }

    mutating func detachParty(_ id: UInt64, clean: Bool, _ step: inout Step) {
        guard var party = parties[id] else { return }
        if let connection = party.connection { partyByConnection[connection] = nil }
        party.connection = nil
        parties[id] = party
        if party.standby {
            forget(party)
            return
        }
        if clean {
            expire(id, clean: true, &step)
            return
        }
        if case .expert(_, let expert) = party.identity {
            if experts[expert]?.presence.presence == .available {
                _ = matcher.expertUnavailable(expert)  // no offers to a console that is not there; back on Resume
            }
            touchSkills(expert)
        }
        let grace = Duration.seconds(configuration.server.timeouts.resumeGrace)
        step.actions.append(.arm(.resumeGrace(party: id, token: party.token), at: clock.now.advanced(by: grace)))
        step.log(.info, "connection lost; resume grace started", ["party": "\(id)"])
    }

    /// Removes a party that holds nothing.
    mutating func forget(_ party: Party) {
        parties[party.id] = nil
        if partyByToken[party.token] == party.id { partyByToken[party.token] = nil }
        if let connection = party.connection { partyByConnection[connection] = nil }
    }

    /// A dropped party's grace ran out, or it said Goodbye: its tickets close, its sessions end, an expert
    /// logs out.
    mutating func expire(_ id: UInt64, clean: Bool, _ step: inout Step) {
        guard let party = parties[id] else { return }
        if let connection = party.connection {
            // Ended while connected (a takeover, a revocation, a kick): the connection goes too.
            step.send(connection, .goodbye(.with { $0.reason = .kicked }))
            step.actions.append(.close(connection: connection))
            partyByConnection[connection] = nil
        }
        switch party.identity {
        case .terminal:
            for session in party.sessions.sorted() {
                endSession(session, reason: clean ? .customerEnded : .connectionLost, relay: nil, &step)
            }
            for ticket in party.tickets where tickets[ticket]?.session == nil {
                cancelTicket(ticket, reason: clean ? .customer : .connectionLost, correlation: 0, &step)
            }
        case .expert(_, let expert):
            for session in party.sessions.sorted() {
                endSession(session, reason: clean ? .expertEnded : .connectionLost, relay: nil, &step)
            }
            logout(expert, &step)
        }
        forget(parties[id] ?? party)
        step.log(.info, clean ? "said goodbye" : "resume grace over", ["party": "\(id)"])
    }

    // MARK: Frames

    /// One frame from a connection that has its Welcome.
    public mutating func receive(connection: UInt64, envelope: Luukku_V1_Envelope) -> Step {
        var step = Step(logging: logLevel)
        dispatch(connection: connection, envelope: envelope, &step)
        return finish(&step)
    }

    private mutating func dispatch(connection: UInt64, envelope: Luukku_V1_Envelope, _ step: inout Step) {
        guard let id = partyByConnection[connection], let party = parties[id] else { return }
        let correlation = envelope.correlationID
        if party.standby, !Self.allowedInStandby(envelope.message) { takeOver(id, &step) }
        switch envelope.message {
        case .ping(let ping): step.send(connection, .pong(.with { $0.nonce = ping.nonce }), correlation: correlation)
        case .pong: break
        case .goodbye:
            partyByConnection[connection] = nil
            detachParty(id, clean: true, &step)
        case .resume(let resume): self.resume(id, token: [UInt8](resume.resumeToken), correlation, &step)
        case .requestService(let request):
            guard case .terminal(let point) = party.identity else { return forbidden(connection, correlation, &step) }
            self.request(request, party: id, point: point, correlation, &step)
        case .cancelRequest(let cancel):
            guard case .terminal = party.identity else { return forbidden(connection, correlation, &step) }
            self.cancel(cancel, party: id, correlation, &step)
        case .feedback(let feedback):
            guard case .terminal = party.identity else { return forbidden(connection, correlation, &step) }
            self.feedback(feedback, party: id, correlation, &step)
        case .setPresence(let presence):
            guard case .expert(_, let expert) = party.identity else { return forbidden(connection, correlation, &step) }
            setPresence(presence, expert: expert, connection: connection, correlation, &step)
        case .accept(let accept):
            guard case .expert(_, let expert) = party.identity else { return forbidden(connection, correlation, &step) }
            self.accept(accept.ticketID, expert: expert, connection: connection, correlation, &step)
        case .decline(let decline):
            guard case .expert(_, let expert) = party.identity else { return forbidden(connection, correlation, &step) }
            self.decline(decline.ticketID, expert: expert, connection: connection, correlation, &step)
        case .wrapUpDone(let done):
            guard case .expert(_, let expert) = party.identity else { return forbidden(connection, correlation, &step) }
            wrapUpDone(done, expert: expert, connection: connection, correlation, &step)
        case .hangup(let hangup): self.hangup(hangup, party: id, correlation, &step)
        case .hello:
            step.error(
                connection, ProtocolError(.unexpectedMessage, detail: "Hello after Welcome"), correlation: correlation)
        case .welcome, .error, .queueStatus, .ticketClosed, .feedbackRequest, .presenceStatus, .offer,
            .offerWithdrawn, .queueSnapshot, .sessionStarted:
            step.error(
                connection, ProtocolError(.unexpectedMessage, detail: "a server's message"), correlation: correlation)
        case nil:
            if let error = EnvelopeCoding.missingMessageError(envelope) {
                step.error(connection, error, correlation: correlation)
            }
        }
    }

    private static func allowedInStandby(_ message: Luukku_V1_Envelope.OneOf_Message?) -> Bool {
        switch message {
        case .ping, .pong, .goodbye, .resume, nil: true
        default: false
        }
    }

    func forbidden(_ connection: UInt64?, _ correlation: UInt64, _ step: inout Step) {
        step.error(
            connection, ProtocolError(.forbidden, detail: "a message of the other role (the certificate decides)"),
            correlation: correlation)
    }

    // MARK: Timers and the relay

    public mutating func timerFired(_ timer: BrokerTimer) -> Step {
        var step = Step(logging: logLevel)
        switch timer {
        case .offer(let expert, let ticket): offerTimedOut(expert: expert, ticket: ticket, &step)
        case .wrapUp(let expert): wrapUpTimedOut(expert, &step)
        case .ticketExpiry(let ticket): ticketExpired(ticket, &step)
        case .resumeGrace(let id, let token):
            if let party = parties[id], party.connection == nil, party.token == token {
                expire(id, clean: false, &step)
            }
        case .drainDeadline:
            for session in sessions.keys.sorted() { endSession(session, reason: .shutdown, relay: nil, &step) }
        }
        return finish(&step)
    }

    /// The relay ended a session on its own (media silence), with its final figures. While one party's
    /// connection is gone (in its resume grace) the lost connection is the cause, and the session ends as
    /// CONNECTION_LOST; with both connected it is MEDIA_TIMEOUT (docs/protocol.md, "Session end reasons").
    public mutating func relayEnded(session: UInt64, relay: LedgerEvent.RelayStats) -> Step {
        var step = Step(logging: logLevel)
        if let record = sessions[session] {
            let expertParty = experts[record.expert]?.party
            let connected = [record.terminalParty, expertParty].allSatisfy { id in
                id.flatMap { parties[$0]?.connection } != nil
            }
            endSession(session, reason: connected ? .mediaTimeout : .connectionLost, relay: relay, &step)
        }
        return finish(&step)
    }

    // MARK: Draining

    /// SIGTERM: no new requests; waiting tickets close as QUEUE_CLOSED; running sessions may go on until the
    /// drain deadline, when they are ended.
    public mutating func drain() -> Step {
        var step = Step(logging: logLevel)
        closeQueues(&step)
        if !stopping {
            stopping = true
            let deadline = clock.now.advanced(by: .seconds(configuration.server.timeouts.drain))
            step.actions.append(.arm(.drainDeadline, at: deadline))
            step.log(
                .notice, "stopping: running sessions may finish",
                ["sessions": "\(sessions.count)", "deadline_s": "\(configuration.server.timeouts.drain)"])
        }
        return finish(&step)
    }

    /// An operator's `drain` (status socket): the queues close as on SIGTERM, but nothing stops; running
    /// sessions go on for as long as they last. ``reopenQueues()`` opens them again.
    public mutating func closeQueuesForMaintenance() -> Step {
        var step = Step(logging: logLevel)
        closeQueues(&step)
        return finish(&step)
    }

    /// Opens the queues again after an operator's drain; nil while the daemon is stopping (they stay closed).
    public mutating func reopenQueues() -> Step? {
        guard !stopping else { return nil }
        var step = Step(logging: logLevel)
        if draining { step.log(.notice, "queues open again (undrain)") }
        draining = false
        return finish(&step)
    }

    private mutating func closeQueues(_ step: inout Step) {
        guard !draining else { return }
        draining = true
        for (ticket, record) in tickets.sorted(by: { $0.key < $1.key }) where record.session == nil {
            cancelTicket(ticket, reason: .queueClosed, correlation: 0, &step)
        }
        step.log(.notice, "draining: queues closed", ["sessions": "\(sessions.count)"])
    }

    /// Sessions running (or whose legs are still closing).
    public var sessionCount: Int { sessions.count + closingSessions.count }

    /// Goodbye{SERVER_SHUTDOWN} to every connection.
    public func shutdown() -> Step {
        var step = Step(logging: logLevel)
        for party in parties.values.sorted(by: { $0.id < $1.id }) {
            guard let connection = party.connection else { continue }
            step.send(connection, .goodbye(.with { $0.reason = .serverShutdown }))
            step.actions.append(.close(connection: connection))
        }
        return step
    }

    /// `kick expert <id>`: the expert's console gets Goodbye{KICKED} and is closed, a running session ends
    /// (Hangup{OPERATOR} to the customer), an offer goes back to its place, and the expert is offline.
    /// Returns nil when the expert is not connected (or known).
    public mutating func kick(expert: ExpertID) -> Step? {
        guard let party = experts[expert]?.party, parties[party] != nil else { return nil }
        var step = Step(logging: logLevel)
        for session in parties[party]?.sessions.sorted() ?? [] {
            endSession(session, reason: .operatorAction, relay: nil, &step)
        }
        expire(party, clean: false, &step)
        step.log(.notice, "expert kicked by an operator", ["expert": "\(expert)"])
        return finish(&step)
    }

    /// SIGHUP: the catalogue, revocations, limits and timeouts from the reloaded file. The roster of experts
    /// and the queues are fixed at start, so a change to them waits for a restart. Returns the step and the
    /// notes for the operator.
    public mutating func reload(_ new: Configuration) -> (Step, notes: [String]) {
        var step = Step(logging: logLevel)
        var notes: [String] = []
        var kept = new
        kept.experts = configuration.experts
        kept.agencies = configuration.agencies
        kept.relay = configuration.relay
        // Parties were admitted under the running media profile; a new one would strand their tickets.
        kept.media = configuration.media
        // The listener's settings and the presence policy were fixed at start; Welcome keeps telling the truth.
        let running = configuration.server
        kept.server.listenHost = running.listenHost
        kept.server.listenPort = running.listenPort
        kept.server.maxConnections = running.maxConnections
        kept.server.maxPendingConnections = running.maxPendingConnections
        kept.server.maxPendingPerAddress = running.maxPendingPerAddress
        kept.server.listenBacklog = running.listenBacklog
        kept.server.maxFrameBytes = running.maxFrameBytes
        kept.server.maxMissedOffers = running.maxMissedOffers
        kept.server.timeouts.handshake = running.timeouts.handshake
        kept.server.timeouts.heartbeat = running.timeouts.heartbeat
        kept.server.timeouts.idle = running.timeouts.idle
        kept.server.timeouts.offerAnswer = running.timeouts.offerAnswer
        kept.server.timeouts.wrapUp = running.timeouts.wrapUp
        kept.server.timeouts.maxWait = running.timeouts.maxWait
        if kept != new {
            notes.append(
                "agencies, experts, presence and wait timeouts, the listener, the relay or the media changed: those "
                    + "take effect at the next start")
        }
        configuration = kept
        // A connection whose identity is now revoked (or gone from the configuration) ends at once, without a
        // resume grace: its tickets close as connection-lost, its sessions end.
        for id in parties.keys.sorted() {
            // Re-read each time: expiring one party may log another in (an expert's standby console).
            guard let party = parties[id], let error = Self.identityRefusal(party.identity, configuration: kept)
            else { continue }
            if let connection = party.connection {
                step.error(connection, error, correlation: 0)
                partyByConnection[connection] = nil
            }
            parties[party.id]?.connection = nil
            if party.standby { forget(party) } else { expire(party.id, clean: false, &step) }
            notes.append("\(party.identity) is refused now (\(error.code)): its connection was closed")
        }
        return (finish(&step), notes)
    }

    /// Why a well-formed identity is refused now, if it is: revoked, or not in the configuration (an expert's
    /// agency must be its configured one).
    public static func identityRefusal(_ identity: PeerIdentity, configuration: Configuration) -> ProtocolError? {
        if configuration.server.revokedIdentities.contains(identity.uri) {
            return ProtocolError(.revoked)
        }
        switch identity {
        case .terminal(let point):
            guard configuration.servicePoint(point) != nil else {
                return ProtocolError(.unknownIdentity, detail: "no such service point")
            }
        case .expert(let agency, let expert):
            guard let known = configuration.expert(expert), known.agency == agency else {
                return ProtocolError(.unknownIdentity, detail: "no such expert of that agency")
            }
        }
        return nil
    }

    /// Marks a queue's figures as changed in this step.
    mutating func touch(_ queue: QueueKey) { touched.insert(queue) }

    /// Marks every queue of an expert as changed (its presence or connection changed).
    mutating func touchSkills(_ expert: ExpertID) {
        for queue in experts[expert]?.skills ?? [] { touched.insert(queue) }
    }
}

/// One client connection and, after a drop, its resume grace.
struct Party: Sendable {
    let id: UInt64
    let identity: PeerIdentity
    /// Nil while the connection is gone (the resume grace).
    var connection: UInt64?
    var token: [UInt8]
    /// What the client said it can send and receive (Hello.media); nil for an older client.
    var media: MediaCapabilities?
    /// A terminal's open tickets, oldest first.
    var tickets: [TicketID] = []
    var sessions: Set<UInt64> = []
    /// Ended sessions the customer may still rate, and those already rated.
    var feedbackDue: Set<UInt64> = []
    var feedbackGiven: Set<UInt64> = []
    /// An expert's new connection while an older one of the same expert is in its grace: it waits for Resume.
    var standby = false
}
