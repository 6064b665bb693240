import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol

// A terminal's requests: RequestService, CancelRequest, Feedback; and the QueueStatus updates.
extension Broker {
    func request(
        _ request: Luukku_V1_RequestService, party id: UInt64, point: ServicePointID, _ correlation: UInt64,
        _ step: inout BrokerStep
    ) {
        guard var party = parties[id] else { return }
        let sink = party.sink
        func refuse(_ code: ProtocolError.Code, _ detail: String? = nil) {
            step.error(sink, ProtocolError(code, detail: detail), correlation: correlation)
        }
        guard !draining else { return refuse(.queueClosed) }
        guard let agencyID = AgencyID(request.agency), let agency = configuration.agency(agencyID) else {
            return refuse(.unknownAgency)
        }
        guard let language = LanguageCode(request.language), agency.languages.contains(language) else {
            return refuse(.unsupportedLanguage)
        }
        var service: ServiceCode?
        if !request.serviceCode.isEmpty {
            guard let code = ServiceCode(request.serviceCode), agency.services.contains(where: { $0.code == code })
            else { return refuse(.unknownService) }
            service = code
        }
        if let error = mediaRefusal(party.media, role: "terminal", subject: "party \(id)") {
            return step.error(sink, error, correlation: correlation)
        }
        // Per terminal identity (the service point's certificate), across its connections and their graces.
        let open = ticketsByPoint[point, default: []].count { tickets[$0].map { $0.session == nil } ?? false }
        guard open < configuration.server.maxRequestsPerTerminal else {
            return refuse(
                .tooManyRequests, "limit \(configuration.server.maxRequestsPerTerminal) open per service point")
        }
        let queue = QueueKey(agency: agencyID, language: language)
        let made: (ticket: TicketID, matches: [Match])
        do {
            made = try matcher.request(queue)
        } catch {
            return refuse(error.code == .queueFull ? .queueFull : .unsupportedLanguage)
        }
        let now = Date()
        tickets[made.ticket] = TicketRecord(
            machine: TicketStateMachine(id: made.ticket, createdAt: clock.now, maxWait: nil), party: id, point: point,
            queue: queue, service: service, requestedAt: now)
        party.tickets.append(made.ticket)
        parties[id] = party
        ticketsByPoint[point, default: []].insert(made.ticket)
        step.events.append(
            .ticketOpened(
                .init(
                    ticket: made.ticket, servicePoint: point, agency: agencyID, language: language, service: service,
                    requestedAt: now)))
        // The first QueueStatus answers the request (it carries the ticket id), before any offer goes out.
        let status = queueStatus(made.ticket)
        tickets[made.ticket]?.lastStatus = status
        step.send(sink, .queueStatus(status), correlation: correlation)
        deliver(made.matches, &step)
        logger.info("ticket opened", metadata: ["ticket": "\(made.ticket)", "queue": "\(queue)", "party": "\(id)"])
    }

    func cancel(_ cancel: Luukku_V1_CancelRequest, party id: UInt64, _ correlation: UInt64, _ step: inout BrokerStep) {
        let sink = parties[id]?.sink
        guard let ticket = TicketID(wireValue: cancel.ticketID), let record = tickets[ticket], record.session == nil
        else {
            return step.error(sink, ProtocolError(.unknownTicket), correlation: correlation)
        }
        guard record.party == id else {
            return step.error(
                sink, ProtocolError(.forbidden, detail: "not this connection's ticket"), correlation: correlation)
        }
        cancelTicket(ticket, reason: .customer, correlation: correlation, &step)
    }

    /// Closes an open ticket that has no session; an offer that stood is withdrawn from its expert. The
    /// terminal gets TicketClosed (if it is connected).
    func cancelTicket(_ ticket: TicketID, reason: CancelReason, correlation: UInt64, _ step: inout BrokerStep) {
        guard var record = tickets[ticket] else { return }
        let action = record.machine.cancel(reason)
        let now = Date()
        switch action {
        case .closed(let outcome):
            _ = matcher.cancel(ticket)
            step.events.append(.ticketClosed(ticket: ticket, outcome: LedgerOutcome(outcome), at: now))
        case .withdrawOffer(let expert, let outcome):
            _ = matcher.cancel(ticket)
            step.events.append(.offerAnswered(ticket: ticket, expert: expert, answer: .withdrawn, at: now))
            step.events.append(.ticketClosed(ticket: ticket, outcome: LedgerOutcome(outcome), at: now))
            withdrawOffer(ticket, from: expert, reason: reason == .queueClosed ? .shutdown : .customerLeft, &step)
        case .none, .requeue, .rejected:
            return
        }
        forgetTicket(ticket, party: record.party, reason: Self.wireReason(reason), correlation: correlation, &step)
        logger.info("ticket closed", metadata: ["ticket": "\(ticket)", "reason": "\(reason)"])
    }

    /// Drops a closed ticket from the broker and its terminal's list, and tells the terminal (TicketClosed).
    func forgetTicket(
        _ ticket: TicketID, party id: UInt64, reason: Luukku_V1_TicketCloseReason, correlation: UInt64,
        _ step: inout BrokerStep
    ) {
        if let point = tickets.removeValue(forKey: ticket)?.point { dropFromPoint(ticket, point) }
        guard var party = parties[id] else { return }
        party.tickets.removeAll { $0 == ticket }
        parties[id] = party
        step.send(
            party.sink,
            .ticketClosed(
                .with {
                    $0.ticketID = ticket.wireValue
                    $0.reason = reason
                }), correlation: correlation)
    }

    func dropFromPoint(_ ticket: TicketID, _ point: ServicePointID) {
        ticketsByPoint[point]?.remove(ticket)
        if ticketsByPoint[point]?.isEmpty == true { ticketsByPoint[point] = nil }
    }

    static func wireReason(_ reason: CancelReason) -> Luukku_V1_TicketCloseReason {
        switch reason {
        case .customer: .cancelled
        case .connectionLost: .connectionLost
        case .queueClosed: .queueClosed
        case .operatorAction: .operator
        }
    }

    func feedback(_ feedback: Luukku_V1_Feedback, party id: UInt64, _ correlation: UInt64, _ step: inout BrokerStep) {
        guard var party = parties[id] else { return }
        func refuse(_ code: ProtocolError.Code, _ detail: String) {
            step.error(party.sink, ProtocolError(code, detail: detail), correlation: correlation)
        }
        guard let session = Self.sessionNumber(feedback.sessionID) else {
            return refuse(.unknownSession, "no such session")
        }
        guard !party.feedbackGiven.contains(session) else { return refuse(.invalidFeedback, "given already") }
        guard party.feedbackDue.contains(session) else { return refuse(.unknownSession, "no ended session to rate") }
        guard (1...5).contains(feedback.rating) else { return refuse(.invalidFeedback, "rating must be 1 to 5") }
        guard feedback.comment.unicodeScalars.count <= Self.maxFeedbackCommentChars else {
            return refuse(.invalidFeedback, "comment longer than \(Self.maxFeedbackCommentChars) characters")
        }
        party.feedbackDue.remove(session)
        party.feedbackGiven.insert(session)
        parties[id] = party
        step.events.append(
            .feedback(session: session, score: Int(feedback.rating), comment: feedback.comment, at: Date()))
    }

    /// A session's id on the wire and in logs and reports: `s-<number>` (``SessionWire``).
    static func sessionWire(_ number: UInt64) -> String { SessionWire.wireValue(number) }

    /// The number of a wire session id, or nil for anything else (``SessionWire/number(_:)``).
    static func sessionNumber(_ wire: String) -> UInt64? { SessionWire.number(wire) }

    // MARK: Queue status

    /// Where a ticket stands now. The estimate (docs/protocol.md, "Terminal: request to session end"): none
    /// when no expert of the queue is serving (all away or offline), zero while offered, else the queue's
    /// ``WaitEstimator`` over the experts serving and those available.
    func queueStatus(_ ticket: TicketID, counts: ExpertCountCache? = nil) -> Luukku_V1_QueueStatus {
        guard let record = tickets[ticket] else { return Luukku_V1_QueueStatus() }
        let offered = record.machine.phase == .offered
        let position = matcher.position(of: ticket) ?? 1
        let (online, serving, available) = counts?.counts(record.queue) ?? expertCounts(record.queue)
        let estimate: Duration? =
            serving == 0
            ? nil
            : offered
                ? .zero
                : estimators[record.queue]?.estimate(
                    position: position, expertsServing: serving, expertsAvailable: available)
        return .with {
            $0.ticketID = ticket.wireValue
            $0.agency = record.queue.agency.rawValue
            $0.language = record.queue.language.rawValue
            $0.position = UInt32(position)
            if let estimate { $0.estimatedWaitSeconds = UInt32(clamping: Int(estimate.components.seconds)) }
            $0.expertsOnline = UInt32(online)
            $0.waitedSeconds = UInt32(clamping: Int((clock.now - record.machine.createdAt).components.seconds))
            $0.offered = offered
        }
    }

    /// Experts of the queue logged in (any presence but offline, connection up), those of them serving (not
    /// away: available, offered, in session or wrap-up) and those available right now.
    func expertCounts(_ queue: QueueKey) -> (online: Int, serving: Int, available: Int) {
        var online = 0
        var serving = 0
        var available = 0
        for id in queueExperts[queue] ?? [] {
            guard let expert = experts[id], let party = expert.party, parties[party]?.sink != nil,
                expert.presence.presence != .offline
            else { continue }
            online += 1
            if expert.presence.presence != .away { serving += 1 }
            if expert.presence.presence == .available { available += 1 }
        }
        return (online, serving, available)
    }

    /// Sends QueueStatus to each waiting terminal and QueueSnapshot to each expert whose figures changed
    /// (the seconds waited alone do not count as a change). O(tickets + logged-in experts) per step, each
    /// queue's figures computed once per step (``ExpertCountCache``): with 1,500 experts configured, computing
    /// them per ticket and per expert made each step cost milliseconds (docs/benchmarks.md, "Signaling").
    func refreshQueues(_ step: inout BrokerStep) {
        let cache = ExpertCountCache(self)
        for ticket in tickets.keys.sorted() {
            guard let record = tickets[ticket], record.session == nil, let sink = parties[record.party]?.sink else {
                continue
            }
            let status = queueStatus(ticket, counts: cache)
            var previous = record.lastStatus
            previous?.waitedSeconds = status.waitedSeconds
            guard previous != status else { continue }
            tickets[ticket]?.lastStatus = status
            step.send(sink, .queueStatus(status))
        }
        for id in loggedInExperts.sorted() {
            guard let expert = experts[id], let party = expert.party, let sink = parties[party]?.sink,
                !(parties[party]?.standby ?? true)
            else { continue }
            let snapshot = queueSnapshot(expert, cache: cache)
            var comparable = snapshot
            var previous = expert.lastSnapshot
            for index in comparable.queues.indices { comparable.queues[index].oldestWaitSeconds = 0 }
            if let count = previous?.queues.count {
                for index in 0..<count { previous!.queues[index].oldestWaitSeconds = 0 }
            }
            guard previous != comparable else { continue }
            experts[id]?.lastSnapshot = comparable
            step.send(sink, .queueSnapshot(snapshot))
        }
    }

    func queueSnapshot(_ expert: ExpertRecord, cache: ExpertCountCache? = nil) -> Luukku_V1_QueueSnapshot {
        .with {
            $0.queues = expert.skills.map { cache?.depth($0) ?? queueDepth($0, available: expertCounts($0).available) }
        }
    }

    /// One queue as an expert sees it: depth, oldest wait, experts available.
    func queueDepth(_ queue: QueueKey, available: Int) -> Luukku_V1_QueueDepth {
        let (depth, oldest) = matcher.snapshot(of: queue)
        let oldestWait = oldest.flatMap { tickets[$0] }.map { clock.now - $0.machine.createdAt }
        return .with {
            $0.queue = .with {
                $0.agency = queue.agency.rawValue
                $0.language = queue.language.rawValue
            }
            $0.depth = UInt32(depth)
            $0.oldestWaitSeconds = UInt32(clamping: Int(oldestWait?.components.seconds ?? 0))
            $0.expertsAvailable = UInt32(available)
        }
    }
}

/// One step's figures per queue (experts online, serving, available; the expert-facing depth), each computed
/// the first time it is asked for in the step.
final class ExpertCountCache {
    private unowned let broker: Broker
    private var cached: [QueueKey: (online: Int, serving: Int, available: Int)] = [:]
    private var depths: [QueueKey: Luukku_V1_QueueDepth] = [:]

    init(_ broker: Broker) { self.broker = broker }

    func counts(_ queue: QueueKey) -> (online: Int, serving: Int, available: Int) {
        if let known = cached[queue] { return known }
        let counts = broker.expertCounts(queue)
        cached[queue] = counts
        return counts
    }

    func depth(_ queue: QueueKey) -> Luukku_V1_QueueDepth {
        if let known = depths[queue] { return known }
        let depth = broker.queueDepth(queue, available: counts(queue).available)
        depths[queue] = depth
        return depth
    }
}
