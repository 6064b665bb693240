import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol

// A terminal's requests: RequestService, CancelRequest, Feedback; and the QueueStatus updates.
extension BrokerStateMachine {
    mutating func request(
        _ request: Luukku_V1_RequestService, party id: UInt64, point: ServicePointID, _ correlation: UInt64,
        _ step: inout Step
    ) {
        guard var party = parties[id] else { return }
        let connection = party.connection
        func refuse(_ code: ProtocolError.Code, _ detail: String? = nil) {
            step.error(connection, ProtocolError(code, detail: detail), correlation: correlation)
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
        if let error = mediaRefusal(party.media, role: "terminal", subject: "party \(id)", &step) {
            return step.error(connection, error, correlation: correlation)
        }
        // Per terminal identity (the service point's certificate), across its connections and their graces.
        let open = ticketsByPoint[point, default: []].count { tickets[$0].map { $0.session == nil } ?? false }
        guard open < configuration.server.maxRequestsPerTerminal else {
            return refuse(
                .tooManyRequests, "limit \(configuration.server.maxRequestsPerTerminal) open per service point")
        }
        let queue = QueueKey(agency: agencyID, language: language)
        let made: (ticket: TicketID, match: Match?)
        do {
            made = try matcher.request(queue)
        } catch {
            return refuse(.queueFull)
        }
        let now = wallClock()
        let machine = TicketStateMachine<C>(id: made.ticket, createdAt: clock.now, maxWait: maxWait)
        tickets[made.ticket] = TicketRecord(
            machine: machine, party: id, point: point, queue: queue, service: service, requestedAt: now)
        touch(queue)
        party.tickets.append(made.ticket)
        parties[id] = party
        ticketsByPoint[point, default: []].insert(made.ticket)
        step.records.append(
            .ticketOpened(
                .init(
                    ticket: made.ticket, servicePoint: point, agency: agencyID, language: language, service: service,
                    requestedAt: now)))
        // The first QueueStatus answers the request (it carries the ticket id), before any offer goes out.
        let status = queueStatus(made.ticket)
        tickets[made.ticket]?.lastStatus = status
        step.send(connection, .queueStatus(status), correlation: correlation)
        if let expiresAt = machine.expiresAt { step.actions.append(.arm(.ticketExpiry(made.ticket), at: expiresAt)) }
        deliver(made.match.map { [$0] } ?? [], &step)
        step.log(.info, "ticket opened", ["ticket": "\(made.ticket)", "queue": "\(queue)", "party": "\(id)"])
    }

    mutating func cancel(
        _ cancel: Luukku_V1_CancelRequest, party id: UInt64, _ correlation: UInt64, _ step: inout Step
    ) {
        let sink = parties[id]?.connection
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
    mutating func cancelTicket(_ ticket: TicketID, reason: CancelReason, correlation: UInt64, _ step: inout Step) {
        guard var record = tickets[ticket] else { return }
        let action = record.machine.cancel(reason)
        let now = wallClock()
        touch(record.queue)
        switch action {
        case .closed(let outcome):
            _ = matcher.cancel(ticket)
            step.records.append(.ticketClosed(ticket: ticket, outcome: LedgerOutcome(outcome), at: now))
        case .withdrawOffer(let expert, let outcome):
            _ = matcher.cancel(ticket)
            step.records.append(.offerAnswered(ticket: ticket, expert: expert, answer: .withdrawn, at: now))
            step.records.append(.ticketClosed(ticket: ticket, outcome: LedgerOutcome(outcome), at: now))
            withdrawOffer(ticket, from: expert, reason: reason == .queueClosed ? .shutdown : .customerLeft, &step)
        case .none, .requeue, .rejected:
            return
        }
        if record.machine.expiresAt != nil { step.actions.append(.cancel(.ticketExpiry(ticket))) }
        forgetTicket(ticket, party: record.party, reason: Self.wireReason(reason), correlation: correlation, &step)
        step.log(.info, "ticket closed", ["ticket": "\(ticket)", "reason": "\(reason)"])
    }

    /// A waiting ticket reached `server.timeouts.maxWait`: it closes as expired (TicketClosed{EXPIRED}). One
    /// offered at that moment closes when the offer is declined or lapses (``returnTicket``); one accepted
    /// goes on.
    mutating func ticketExpired(_ ticket: TicketID, _ step: inout Step) {
        guard var record = tickets[ticket] else { return }
        let action = record.machine.expiryTimerFired(now: clock.now)
        tickets[ticket] = record
        guard case .closed(let outcome) = action else { return }
        _ = matcher.cancel(ticket)
        touch(record.queue)
        step.records.append(.ticketClosed(ticket: ticket, outcome: LedgerOutcome(outcome), at: wallClock()))
        forgetTicket(ticket, party: record.party, reason: .expired, correlation: 0, &step)
        step.log(.info, "ticket expired", ["ticket": "\(ticket)"])
    }

    /// Drops a closed ticket from the broker and its terminal's list, and tells the terminal (TicketClosed).
    mutating func forgetTicket(
        _ ticket: TicketID, party id: UInt64, reason: Luukku_V1_TicketCloseReason, correlation: UInt64,
        _ step: inout Step
    ) {
        if let removed = tickets.removeValue(forKey: ticket) {
            dropFromPoint(ticket, removed.point)
            touch(removed.queue)
        }
        guard var party = parties[id] else { return }
        party.tickets.removeAll { $0 == ticket }
        parties[id] = party
        step.send(
            party.connection,
            .ticketClosed(
                .with {
                    $0.ticketID = ticket.wireValue
                    $0.reason = reason
                }), correlation: correlation)
    }

    mutating func dropFromPoint(_ ticket: TicketID, _ point: ServicePointID) {
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

    mutating func feedback(
        _ feedback: Luukku_V1_Feedback, party id: UInt64, _ correlation: UInt64, _ step: inout Step
    ) {
        guard var party = parties[id] else { return }
        func refuse(_ code: ProtocolError.Code, _ detail: String) {
            step.error(party.connection, ProtocolError(code, detail: detail), correlation: correlation)
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
        step.records.append(
            .feedback(session: session, score: Int(feedback.rating), comment: feedback.comment, at: wallClock()))
    }

}
