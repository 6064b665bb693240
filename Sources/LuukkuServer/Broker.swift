import Foundation
import Logging
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol
import LuukkuRelay
import NIOConcurrencyHelpers
import NIOSSL

/// The broker: what the daemon knows about connected parties, tickets, experts and sessions, and the one
/// place where the state machines' actions are carried out (docs/server.md).
///
/// Every input (a frame from a connection, a dropped connection, a timer, the relay ending a session) is one
/// *step*: under one lock the broker drives ``TicketStateMachine``, ``PresenceStateMachine`` and the
/// matcher, and collects the ledger events and the frames to send. The step goes to ``BrokerOutbox``, which
/// sends the frames only after the events are on disk, in the order the steps were made.
///
/// Tickets belong to the *party* (one client connection and, after a drop, its resume grace), not to the
/// certificate: several terminals of one service point may share a certificate.
public final class Broker: @unchecked Sendable {
    // @unchecked Sendable is safe: every stored `var` is read and written only inside `lock.withLock`
    // (NIOLock, not Mutex: see STYLE.md on ThreadSanitizer), and the `let`s are Sendable or thread-safe.
    let lock = NIOLock()
    let matcher: LockFreeMatcher
    let relay: Relay
    let logger: Logger
    let clock = ContinuousClock()
    /// The part of the configuration that SIGHUP may change (catalogue, revocations, timeouts).
    var configuration: Configuration
    private(set) var outbox: BrokerOutbox!
    /// The listener's budgets and refusal counts (fixed at start, like the listener).
    public let frontDoor: FrontDoor

    var parties: [UInt64: Party] = [:]
    var partyByConnection: [UInt64: UInt64] = [:]
    var partyByToken: [[UInt8]: UInt64] = [:]
    var tickets: [TicketID: TicketRecord] = [:]
    /// Each service point's tickets (open or in session), for `maxRequestsPerTerminal`, which counts per
    /// terminal identity across its connections.
    var ticketsByPoint: [ServicePointID: Set<TicketID>] = [:]
    var experts: [ExpertID: ExpertRecord] = [:]
    /// The experts of each queue (the roster is fixed at start), and those logged in now.
    let queueExperts: [QueueKey: [ExpertID]]
    var loggedInExperts: Set<ExpertID> = []
    var sessions: [UInt64: SessionRecord] = [:]
    var estimators: [QueueKey: WaitEstimator] = [:]
    var nextParty: UInt64 = 1
    var nextSession: UInt64 = 1
    /// No new requests (SIGTERM or an operator's drain).
    var draining = false
    /// SIGTERM: the drain deadline is set and the daemon exits when sessions end.
    var stopping = false
    let startedAt = ContinuousClock.now
    var sessionsEndedWaiters: [CheckedContinuation<Void, Never>] = []

    /// Handling time assumed for a queue before any of its sessions ended (WaitEstimator's prior).
    static let priorHandlingTime: Duration = .seconds(300)
    static let maxFeedbackCommentChars = 1_000
    /// Offers per expert remembered for OFFER_EXPIRED (docs/protocol.md, "Conformance checklist").
    static let recentOffersKept = 32
    static let software = "luukkud/0.5.0"

    public init(configuration: Configuration, relay: Relay, ledger: any Ledger, logger: Logger) {
        self.configuration = configuration
        self.relay = relay
        self.logger = logger
        let server = configuration.server
        frontDoor = FrontDoor(
            limits: .init(
                maxPending: server.maxPendingConnections, maxPendingPerAddress: server.maxPendingPerAddress,
                maxAuthenticated: server.maxConnections), logger: logger)
        var roster: [(ExpertID, [QueueKey])] = []
        var byQueue: [QueueKey: [ExpertID]] = [:]
        for expert in configuration.experts {
            let skills = expert.languages.map { QueueKey(agency: expert.agency, language: $0) }
            for queue in skills { byQueue[queue, default: []].append(expert.id) }
            roster.append((expert.id, skills))
            experts[expert.id] = ExpertRecord(
                config: expert, skills: skills, presence: PresenceStateMachine(policy: Self.policy(configuration)))
        }
        let queues = configuration.agencies.flatMap { agency in
            agency.languages.map { QueueKey(agency: agency.id, language: $0) }
        }
        for queue in queues { estimators[queue] = WaitEstimator(prior: Self.priorHandlingTime) }
        queueExperts = byQueue
        // Ids continue after the ledger's highest, so none is issued twice across restarts.
        let issued = ledger.issued
        matcher = LockFreeMatcher(
            queues: queues, experts: roster, capacityPerQueue: 10_000, firstStamp: issued.ticket + 1)
        nextSession = issued.session + 1
        outbox = BrokerOutbox(ledger: ledger, relay: relay, logger: logger) { [weak self] timer in
            self?.timerFired(timer)
        }
    }

    static func policy(_ configuration: Configuration) -> PresencePolicy<Duration> {
        let timeouts = configuration.server.timeouts
        return PresencePolicy(
            answerTimeout: .seconds(timeouts.offerAnswer), wrapUpDuration: .seconds(timeouts.wrapUp),
            maxMissedOffers: configuration.server.maxMissedOffers)
    }

    /// Runs one step under the lock and queues what it produced.
    func step(_ body: (inout BrokerStep) -> Void) {
        lock.withLock {
            var step = BrokerStep()
            body(&step)
            refreshQueues(&step)
            outbox.enqueue(step)
        }
    }

    // MARK: Connections

    /// A connection passed TLS and Hello: registers its party and sends Welcome (and, for an expert, its
    /// presence and queues). `media` is the Hello's capabilities (nil: an older client that sent none).
    ///
    /// `uiLanguage` is the Hello's: the language of the names Welcome picks (a service point's display name);
    /// `correlation` is the Hello's, which Welcome answers.
    public func attach(
        connection: UInt64, sink: any ConnectionSink, identity: PeerIdentity, version: UInt32,
        media: MediaCapabilities? = nil, uiLanguage: String = "", correlation: UInt64 = 0
    ) {
        step { step in
            var token = [UInt8](repeating: 0, count: 16)
            var generator = SystemRandomNumberGenerator()
            for index in token.indices { token[index] = .random(in: .min ... .max, using: &generator) }
            var party = Party(
                id: nextParty, identity: identity, sink: sink, connection: connection, token: token, media: media)
            nextParty += 1
            if case .expert(_, let id) = identity, let older = experts[id]?.party, let olderParty = parties[older] {
                // The console came back (or a second one started): the new connection waits for Resume; anything
                // else it sends first ends the older party (takeOver).
                party.standby = true
                if let olderSink = olderParty.sink {
                    step.send(olderSink, .goodbye(.with { $0.reason = .kicked }))
                    step.effects.append(.close(olderSink))
                    detachLocked(olderParty.id, clean: false, &step)
                }
            }
            parties[party.id] = party
            partyByConnection[connection] = party.id
            partyByToken[token] = party.id
            step.send(
                sink, .welcome(welcome(for: party, version: version, uiLanguage: LanguageCode(uiLanguage))),
                correlation: correlation)
            if case .expert(_, let id) = identity, !party.standby { login(id, party: party.id, &step) }
            logger.info("connected", metadata: ["identity": "\(identity)", "party": "\(party.id)"])
        }
    }

    /// The connection closed; `clean` after Goodbye (no resume grace kept).
    public func detach(connection: UInt64, clean: Bool) {
        step { step in
            guard let id = partyByConnection.removeValue(forKey: connection) else { return }
            detachLocked(id, clean: clean, &step)
        }
    }

    func detachLocked(_ id: UInt64, clean: Bool, _ step: inout BrokerStep) {
        guard var party = parties[id] else { return }
        if let connection = party.connection { partyByConnection[connection] = nil }
        party.sink = nil
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
        if case .expert(_, let expert) = party.identity, experts[expert]?.presence.presence == .available {
            _ = matcher.expertUnavailable(expert)  // no offers to a console that is not there; back on Resume
        }
        let grace = Duration.seconds(configuration.server.timeouts.resumeGrace)
        step.effects.append(.schedule(.resumeGrace(party: id, token: party.token), at: clock.now.advanced(by: grace)))
        logger.info("connection lost; resume grace started", metadata: ["party": "\(id)"])
    }

    /// Removes a party that holds nothing.
    func forget(_ party: Party) {
        parties[party.id] = nil
        if partyByToken[party.token] == party.id { partyByToken[party.token] = nil }
        if let connection = party.connection { partyByConnection[connection] = nil }
    }

    /// A dropped party's grace ran out, or it said Goodbye: its tickets close, its sessions end, an expert
    /// logs out.
    func expire(_ id: UInt64, clean: Bool, _ step: inout BrokerStep) {
        guard let party = parties[id] else { return }
        if let sink = party.sink {  // ended while connected (a takeover, a revocation): the connection goes too
            step.send(sink, .goodbye(.with { $0.reason = .kicked }))
            step.effects.append(.close(sink))
            if let connection = party.connection { partyByConnection[connection] = nil }
        }
        switch party.identity {
        case .terminal:
            for session in party.sessions {
                endSession(session, reason: clean ? .customerEnded : .connectionLost, snapshot: nil, &step)
            }
            for ticket in party.tickets where tickets[ticket]?.session == nil {
                cancelTicket(ticket, reason: clean ? .customer : .connectionLost, correlation: 0, &step)
            }
        case .expert(_, let expert):
            for session in party.sessions {
                endSession(session, reason: clean ? .expertEnded : .connectionLost, snapshot: nil, &step)
            }
            logout(expert, &step)
        }
        forget(parties[id] ?? party)
        logger.info(clean ? "said goodbye" : "resume grace over", metadata: ["party": "\(id)"])
    }

    /// The identity of a client certificate under the current configuration (revocations reload with SIGHUP).
    func authenticate(_ certificate: NIOSSLCertificate?) -> Result<PeerIdentity, PeerAuthentication.Refusal> {
        let configuration = lock.withLock { self.configuration }
        return PeerAuthentication.identity(of: certificate, configuration: configuration)
    }

    // MARK: Frames

    /// One frame from a connection that has its Welcome.
    public func receive(connection: UInt64, envelope: Luukku_V1_Envelope) {
        step { step in
            guard let id = partyByConnection[connection], let party = parties[id] else { return }
            let correlation = envelope.correlationID
            let sink = party.sink
            if party.standby, !Self.allowedInStandby(envelope.message) { takeOver(id, &step) }
            switch envelope.message {
            case .ping(let ping): step.send(sink, .pong(.with { $0.nonce = ping.nonce }), correlation: correlation)
            case .pong: break
            case .goodbye:
                partyByConnection[connection] = nil
                detachLocked(id, clean: true, &step)
            case .resume(let resume): self.resume(id, token: [UInt8](resume.resumeToken), correlation, &step)
            case .requestService(let request):
                guard case .terminal(let point) = party.identity else { return forbidden(sink, correlation, &step) }
                self.request(request, party: id, point: point, correlation, &step)
            case .cancelRequest(let cancel):
                guard case .terminal = party.identity else { return forbidden(sink, correlation, &step) }
                self.cancel(cancel, party: id, correlation, &step)
            case .feedback(let feedback):
                guard case .terminal = party.identity else { return forbidden(sink, correlation, &step) }
                self.feedback(feedback, party: id, correlation, &step)
            case .setPresence(let presence):
                guard case .expert(_, let expert) = party.identity else { return forbidden(sink, correlation, &step) }
                setPresence(presence, expert: expert, sink: sink, correlation, &step)
            case .accept(let accept):
                guard case .expert(_, let expert) = party.identity else { return forbidden(sink, correlation, &step) }
                self.accept(accept.ticketID, expert: expert, sink: sink, correlation, &step)
            case .decline(let decline):
                guard case .expert(_, let expert) = party.identity else { return forbidden(sink, correlation, &step) }
                self.decline(decline.ticketID, expert: expert, sink: sink, correlation, &step)
            case .wrapUpDone(let done):
                guard case .expert(_, let expert) = party.identity else { return forbidden(sink, correlation, &step) }
                wrapUpDone(done, expert: expert, sink: sink, correlation, &step)
            case .hangup(let hangup): self.hangup(hangup, party: id, correlation, &step)
            case .hello:
                step.error(
                    sink, ProtocolError(.unexpectedMessage, detail: "Hello after Welcome"), correlation: correlation)
            case .welcome, .error, .queueStatus, .ticketClosed, .feedbackRequest, .presenceStatus, .offer,
                .offerWithdrawn, .queueSnapshot, .sessionStarted:
                step.error(
                    sink, ProtocolError(.unexpectedMessage, detail: "a server's message"), correlation: correlation)
            case nil:
                if let error = EnvelopeCoding.missingMessageError(envelope) {
                    step.error(sink, error, correlation: correlation)
                }
            }
        }
    }

    private static func allowedInStandby(_ message: Luukku_V1_Envelope.OneOf_Message?) -> Bool {
        switch message {
        case .ping, .pong, .goodbye, .resume, nil: true
        default: false
        }
    }

    func forbidden(_ sink: (any ConnectionSink)?, _ correlation: UInt64, _ step: inout BrokerStep) {
        step.error(
            sink, ProtocolError(.forbidden, detail: "a message of the other role (the certificate decides)"),
            correlation: correlation)
    }

    // MARK: Timers and the relay

    func timerFired(_ timer: BrokerTimer) {
        step { step in
            switch timer {
            case .offer(let expert, let ticket): offerTimedOut(expert: expert, ticket: ticket, &step)
            case .wrapUp(let expert): wrapUpTimedOut(expert, &step)
            case .resumeGrace(let id, let token):
                guard let party = parties[id], party.sink == nil, party.token == token else { return }
                expire(id, clean: false, &step)
            case .drainDeadline:
                for session in sessions.keys.sorted() { endSession(session, reason: .shutdown, snapshot: nil, &step) }
            }
        }
    }

    /// The relay ended a session on its own (media silence). While one party's connection is gone (in its
    /// resume grace) the lost connection is the cause, and the session ends as CONNECTION_LOST; with both
    /// connected it is MEDIA_TIMEOUT (docs/protocol.md, "Session end reasons").
    public func relayEnded(session: UInt64, end: SessionEnd, snapshot: SessionSnapshot) {
        guard end == .mediaSilence else { return }
        step { step in
            guard let record = sessions[session] else { return }
            let expertParty = experts[record.expert]?.party
            let connected = [record.terminalParty, expertParty].allSatisfy { id in
                id.flatMap { parties[$0]?.sink } != nil
            }
            endSession(session, reason: connected ? .mediaTimeout : .connectionLost, snapshot: snapshot, &step)
        }
    }

    // MARK: Draining

    /// SIGTERM: no new requests; waiting tickets close as QUEUE_CLOSED; running sessions may go on until the
    /// drain deadline, when they are ended.
    public func drain() {
        step { step in
            closeQueues(&step)
            guard !stopping else { return }
            stopping = true
            let deadline = clock.now.advanced(by: .seconds(configuration.server.timeouts.drain))
            step.effects.append(.schedule(.drainDeadline, at: deadline))
            logger.notice(
                "stopping: running sessions may finish",
                metadata: ["sessions": "\(sessions.count)", "deadline_s": "\(configuration.server.timeouts.drain)"])
        }
    }

    /// An operator's `drain` (status socket): the queues close as on SIGTERM, but nothing stops; running
    /// sessions go on for as long as they last. `undrain` opens the queues again.
    func closeQueuesForMaintenance() { step { step in closeQueues(&step) } }

    /// Opens the queues again after an operator's drain; returns false while the daemon is stopping.
    func reopenQueues() -> Bool {
        lock.withLock {
            guard !stopping else { return false }
            if draining { logger.notice("queues open again (undrain)") }
            draining = false
            return true
        }
    }

    private func closeQueues(_ step: inout BrokerStep) {
        guard !draining else { return }
        draining = true
        for (ticket, record) in tickets.sorted(by: { $0.key < $1.key }) where record.session == nil {
            cancelTicket(ticket, reason: .queueClosed, correlation: 0, &step)
        }
        logger.notice("draining: queues closed", metadata: ["sessions": "\(sessions.count)"])
    }

    /// Returns when no session is running (after ``drain()``, the deadline ends the rest).
    public func sessionsEnded() async {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let done = lock.withLock { () -> Bool in
                guard sessions.isEmpty else {
                    sessionsEndedWaiters.append(waiter)
                    return false
                }
                return true
            }
            if done { waiter.resume() }
        }
    }

    /// Sends Goodbye{SERVER_SHUTDOWN} to every connection and waits until every step is on disk and sent.
    public func shutdown() async {
        step { step in
            for party in parties.values.sorted(by: { $0.id < $1.id }) {
                guard let sink = party.sink else { continue }
                step.send(sink, .goodbye(.with { $0.reason = .serverShutdown }))
                step.effects.append(.close(sink))
            }
        }
        await outbox.flush()
    }

    /// Waits until every step so far is written and carried out.
    public func flush() async { await outbox.flush() }

    /// SIGHUP: the catalogue, revocations, limits and timeouts from the reloaded file. The roster of experts
    /// and the queues are fixed at start (the matcher's), so a change to them waits for a restart.
    public func reload(_ new: Configuration) -> [String] {
        var notes: [String] = []
        step { step in
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
            if kept != new {
                notes.append(
                    "agencies, experts, presence timeouts, the listener, the relay or the media changed: those take "
                        + "effect at the next start")
            }
            configuration = kept
            // A connection whose identity is now revoked (or gone from the configuration) ends at once, without
            // a resume grace: its tickets close as connection-lost, its sessions end.
            for id in parties.keys.sorted() {
                // Re-read each time: expiring one party may log another in (an expert's standby console).
                guard let party = parties[id],
                    let error = PeerAuthentication.check(party.identity, configuration: kept)
                else { continue }
                if let sink = party.sink {
                    step.error(sink, error, correlation: 0)
                }
                if let connection = party.connection { partyByConnection[connection] = nil }
                parties[party.id]?.sink = nil
                parties[party.id]?.connection = nil
                if party.standby { forget(party) } else { expire(party.id, clean: false, &step) }
                notes.append("\(party.identity) is refused now (\(error.code)): its connection was closed")
            }
        }
        return notes
    }
}

/// One client connection and, after a drop, its resume grace.
struct Party {
    let id: UInt64
    let identity: PeerIdentity
    var sink: (any ConnectionSink)?
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

struct TicketRecord {
    var machine: TicketStateMachine<ContinuousClock>
    let party: UInt64
    let point: ServicePointID
    let queue: QueueKey
    let service: ServiceCode?
    let requestedAt: Date
    var session: UInt64?
    var lastStatus: Luukku_V1_QueueStatus?
}

struct ExpertRecord {
    let config: Configuration.Expert
    let skills: [QueueKey]
    var presence: PresenceStateMachine<ContinuousClock>
    var party: UInt64?
    var session: UInt64?
    /// When the last session started, for the wait estimator's handling time (session plus wrap-up).
    var sessionStartedAt: ContinuousClock.Instant?
    var lastQueue: QueueKey?
    /// The tickets offered to this expert lately, newest last (at most ``Broker/recentOffersKept``): an
    /// Accept or Decline of one whose offer no longer stands gets OFFER_EXPIRED, not FORBIDDEN.
    var recentOffers: [TicketID] = []
    /// The session this expert is wrapping up (WrapUpDone must name it).
    var wrapUpSession: UInt64?
    var lastSnapshot: Luukku_V1_QueueSnapshot?
}

struct SessionRecord {
    let id: UInt64
    let ticket: TicketID
    let expert: ExpertID
    let terminalParty: UInt64
    let queue: QueueKey
    let terminalStarted: Luukku_V1_SessionStarted
    let expertStarted: Luukku_V1_SessionStarted
    let startedAt: ContinuousClock.Instant
}
