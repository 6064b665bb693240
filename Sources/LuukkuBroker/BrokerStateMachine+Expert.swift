import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol

// An expert's presence, offers and answers, carried out from PresenceStateMachine's actions.
extension BrokerStateMachine {
    /// The expert's connection, nil while it is logged out or its connection is gone.
    func expertConnection(_ expert: ExpertID) -> UInt64? {
        experts[expert]?.party.flatMap { parties[$0]?.connection }
    }

    mutating func login(_ expert: ExpertID, party: UInt64, _ step: inout Step) {
        guard var record = experts[expert] else { return }
        record.party = party
        record.lastSnapshot = nil
        _ = record.presence.loggedIn(now: clock.now)
        experts[expert] = record
        touchSkills(expert)
        sendPresence(expert, &step)
    }

    /// The expert's party is gone: an offer it held goes back to its place, the matcher forgets the expert.
    mutating func logout(_ expert: ExpertID, _ step: inout Step) {
        guard var record = experts[expert] else { return }
        let action = record.presence.loggedOut()
        record.party = nil
        record.session = nil
        record.wrapUpSession = nil
        experts[expert] = record
        touchSkills(expert)
        if case .loggedOut(let returned?, _) = action {
            step.actions.append(.cancel(.offer(expert, returned)))
            returnTicket(returned, from: expert, answer: .noAnswer, &step)
        }
        _ = matcher.expertUnavailable(expert)
        // A console that connected meanwhile and waits to resume logs in now, afresh.
        if let standby = parties.values.sorted(by: { $0.id < $1.id }).first(where: {
            $0.standby && $0.identity == .expert(agency: record.config.agency, expert: expert)
        }) {
            parties[standby.id]?.standby = false
            login(expert, party: standby.id, &step)
        }
    }

    /// A standby console sent something other than Resume: the older party of the expert ends now.
    mutating func takeOver(_ party: UInt64, _ step: inout Step) {
        guard let standby = parties[party], case .expert(_, let expert) = standby.identity else { return }
        if let older = experts[expert]?.party, older != party {
            expire(older, clean: false, &step)  // logs the standby party in
        }
        if parties[party]?.standby == true {
            parties[party]?.standby = false
            login(expert, party: party, &step)
        }
    }

    mutating func setPresence(
        _ request: Luukku_V1_SetPresence, expert: ExpertID, connection sink: UInt64?, _ correlation: UInt64,
        _ step: inout Step
    ) {
        guard var record = experts[expert] else { return }
        let action: PresenceAction<C.Instant>
        switch request.presence {
        case .available:
            if let error = mediaRefusal(
                record.party.flatMap { parties[$0]?.media }, role: "expert", subject: "expert \(expert)", &step)
            {
                return step.error(sink, error, correlation: correlation)
            }
            action = record.presence.setAvailable(now: clock.now)
        case .away:
            guard request.awayReason != .noAnswer else {
                return step.error(
                    sink, ProtocolError(.invalidPresence, detail: "NO_ANSWER is set by the server only"),
                    correlation: correlation)
            }
            action = record.presence.setAway(reason: Self.awayReason(request.awayReason), now: clock.now)
        default:
            return step.error(
                sink, ProtocolError(.invalidPresence, detail: "only AVAILABLE or AWAY may be asked for"),
                correlation: correlation)
        }
        experts[expert] = record
        touchSkills(expert)
        switch action {
        case .rejected:
            step.error(sink, ProtocolError(.invalidPresence, detail: "not between tasks"), correlation: correlation)
        case .changed(.available):
            sendPresence(expert, correlation: correlation, &step)
            makeAvailable(expert, &step)
        case .changed:
            _ = matcher.expertUnavailable(expert)
            sendPresence(expert, correlation: correlation, &step)
        default:
            sendPresence(expert, correlation: correlation, &step)
        }
    }

    /// Tells the matcher the expert is available and offers what it matched.
    mutating func makeAvailable(_ expert: ExpertID, _ step: inout Step) {
        // While draining every waiting ticket is being closed: no new offers.
        guard !draining, let record = experts[expert] else { return }
        deliver(matcher.expertAvailable(expert, queues: record.skills).map { [$0] } ?? [], &step)
    }

    /// Offers each match to its expert. Every match the matcher returns is delivered (docs/matching.md).
    mutating func deliver(_ matches: [Match], _ step: inout Step) {
        for match in matches {
            guard var expert = experts[match.expert], var ticket = tickets[match.ticket] else { continue }
            let action = expert.presence.offer(ticket: match.ticket, now: clock.now)
            guard case .offer(_, let answerBy) = action else {
                // The expert is not available after all: back the claim out, the ticket may go elsewhere.
                let next = matcher.decline(match.ticket, by: match.expert)
                _ = matcher.expertUnavailable(match.expert)
                deliver(next.map { [$0] } ?? [], &step)
                continue
            }
            _ = ticket.machine.offered(to: match.expert)
            expert.recentOffers.removeAll { $0 == match.ticket }
            expert.recentOffers.append(match.ticket)
            if expert.recentOffers.count > Self.recentOffersKept { expert.recentOffers.removeFirst() }
            experts[match.expert] = expert
            tickets[match.ticket] = ticket
            touch(match.queue)
            touchSkills(match.expert)
            step.records.append(.offerMade(ticket: match.ticket, expert: match.expert, at: wallClock()))
            step.send(expertConnection(match.expert), .offer(offer(match.ticket, answerBy: answerBy)))
            sendPresence(match.expert, &step)
            step.actions.append(.arm(.offer(match.expert, match.ticket), at: answerBy))
            step.log(.info, "offered", ["ticket": "\(match.ticket)", "expert": "\(match.expert)"])
        }
    }

    func offer(_ ticket: TicketID, answerBy: C.Instant) -> Luukku_V1_Offer {
        guard let record = tickets[ticket] else { return Luukku_V1_Offer() }
        let point = configuration.servicePoint(record.point)
        let left = max(.zero, clock.now.duration(to: answerBy))
        return .with {
            $0.ticketID = ticket.wireValue
            $0.servicePointID = record.point.rawValue
            $0.servicePointName = point.map { Self.name($0.names, in: record.queue.language) } ?? ""
            $0.agency = record.queue.agency.rawValue
            $0.language = record.queue.language.rawValue
            $0.serviceCode = record.service?.rawValue ?? ""
            $0.waitedSeconds = UInt32(
                clamping: Int(record.machine.createdAt.duration(to: clock.now).components.seconds))
            $0.answerWithinMs = UInt32(
                clamping: Int(left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000))
        }
    }

    /// The refusal for Accept or Decline of a ticket whose offer to this expert does not stand
    /// (docs/protocol.md, "Conformance checklist"): OFFER_EXPIRED when it was offered to this expert (the
    /// offer lapsed, was withdrawn or the ticket closed since: an Accept crossing OfferWithdrawn), FORBIDDEN
    /// when it is open but was never offered to this expert (another expert's offer, a waiting ticket, another
    /// agency's), UNKNOWN_TICKET else.
    func answerRefusal(_ ticket: TicketID?, expert: ExpertID) -> ProtocolError {
        guard let ticket else { return ProtocolError(.unknownTicket, detail: "not a ticket id") }
        if experts[expert]?.recentOffers.contains(ticket) == true {
            return ProtocolError(.offerExpired)
        }
        // Open: waiting or offered (a ticket in session is no longer open).
        guard let record = tickets[ticket], record.session == nil else { return ProtocolError(.unknownTicket) }
        return ProtocolError(.forbidden, detail: "the ticket was not offered to this expert")
    }

    mutating func decline(
        _ wire: String, expert: ExpertID, connection sink: UInt64?, _ correlation: UInt64, _ step: inout Step
    ) {
        let ticket = TicketID(wireValue: wire)
        guard let ticket, var record = experts[expert] else {
            return step.error(sink, answerRefusal(nil, expert: expert), correlation: correlation)
        }
        let action = record.presence.decline(ticket: ticket, now: clock.now)
        experts[expert] = record
        guard case .missed(_, let lapsed, _) = action else {
            return step.error(sink, answerRefusal(ticket, expert: expert), correlation: correlation)
        }
        step.actions.append(.cancel(.offer(expert, ticket)))
        missed(ticket, expert: expert, lapsed: lapsed, correlation: correlation, &step)
    }

    mutating func offerTimedOut(expert: ExpertID, ticket: TicketID, _ step: inout Step) {
        guard var record = experts[expert] else { return }
        let action = record.presence.offerTimedOut(ticket: ticket, now: clock.now)
        experts[expert] = record
        guard case .missed(_, let lapsed, _) = action else { return }
        missed(ticket, expert: expert, lapsed: lapsed, &step)
    }

    /// A declined or lapsed offer: the ticket goes back to its place (and perhaps to another expert), the
    /// expert is told its new presence (available, or away after too many misses).
    mutating func missed(
        _ ticket: TicketID, expert: ExpertID, lapsed: Bool, correlation: UInt64 = 0, _ step: inout Step
    ) {
        touchSkills(expert)
        if lapsed {
            step.send(
                expertConnection(expert),
                .offerWithdrawn(
                    .with {
                        $0.ticketID = ticket.wireValue
                        $0.reason = .timedOut
                    }))
        }
        returnTicket(ticket, from: expert, answer: lapsed ? .noAnswer : .declined, &step)
        sendPresence(expert, correlation: correlation, &step)
        if experts[expert]?.presence.presence == .available, expertConnection(expert) != nil {
            makeAvailable(expert, &step)
        } else {
            _ = matcher.expertUnavailable(expert)
        }
        step.log(
            .info, lapsed ? "offer not answered" : "offer declined", ["ticket": "\(ticket)", "expert": "\(expert)"])
    }

    /// Puts an offered ticket back at its place in the matcher and records the answer. A ticket whose wait
    /// limit passed while it was offered closes as expired instead (TicketStateMachine's rule).
    mutating func returnTicket(
        _ ticket: TicketID, from expert: ExpertID, answer: LedgerEvent.OfferAnswer, _ step: inout Step
    ) {
        step.records.append(.offerAnswered(ticket: ticket, expert: expert, answer: answer, at: wallClock()))
        guard var record = tickets[ticket] else {
            deliver(matcher.decline(ticket, by: expert).map { [$0] } ?? [], &step)
            return
        }
        touch(record.queue)
        let action = record.machine.returned(now: clock.now)
        tickets[ticket] = record
        guard case .closed(let outcome) = action else {
            deliver(matcher.decline(ticket, by: expert).map { [$0] } ?? [], &step)
            return
        }
        _ = matcher.cancel(ticket)
        step.records.append(.ticketClosed(ticket: ticket, outcome: LedgerOutcome(outcome), at: wallClock()))
        forgetTicket(ticket, party: record.party, reason: .expired, correlation: 0, &step)
    }

    /// The customer left while the offer stood (or the queue closed): tell the expert, who is available again.
    mutating func withdrawOffer(
        _ ticket: TicketID, from expert: ExpertID, reason: Luukku_V1_OfferWithdrawnReason, _ step: inout Step
    ) {
        guard var record = experts[expert] else { return }
        guard case .withdrawn = record.presence.offerWithdrawn(ticket: ticket, now: clock.now) else { return }
        experts[expert] = record
        touchSkills(expert)
        step.actions.append(.cancel(.offer(expert, ticket)))
        step.send(
            expertConnection(expert),
            .offerWithdrawn(
                .with {
                    $0.ticketID = ticket.wireValue
                    $0.reason = reason
                }))
        sendPresence(expert, &step)
        if expertConnection(expert) != nil { makeAvailable(expert, &step) }
    }

    mutating func wrapUpDone(
        _ done: Luukku_V1_WrapUpDone, expert: ExpertID, connection sink: UInt64?, _ correlation: UInt64,
        _ step: inout Step
    ) {
        guard var record = experts[expert] else { return }
        guard record.presence.presence == .wrapUp else {
            return step.error(sink, ProtocolError(.invalidPresence, detail: "not in wrap-up"), correlation: correlation)
        }
        guard let session = Self.sessionNumber(done.sessionID), session == record.wrapUpSession else {
            return step.error(
                sink, ProtocolError(.unknownSession, detail: "not the session being wrapped up"),
                correlation: correlation)
        }
        guard case .changed(.available) = record.presence.wrapUpDone(now: clock.now) else {
            return step.error(sink, ProtocolError(.invalidPresence, detail: "not in wrap-up"), correlation: correlation)
        }
        record.wrapUpSession = nil
        experts[expert] = record
        step.actions.append(.cancel(.wrapUp(expert)))
        wrapUpEnded(expert, correlation: correlation, &step)
    }

    mutating func wrapUpTimedOut(_ expert: ExpertID, _ step: inout Step) {
        guard var record = experts[expert] else { return }
        guard case .changed(.available) = record.presence.wrapUpTimedOut(now: clock.now) else { return }
        record.wrapUpSession = nil
        experts[expert] = record
        wrapUpEnded(expert, correlation: 0, &step)
    }

    /// Wrap-up is over: the session's handling time feeds the queue's estimate; the expert is available.
    private mutating func wrapUpEnded(_ expert: ExpertID, correlation: UInt64, _ step: inout Step) {
        if let record = experts[expert], let started = record.sessionStartedAt, let queue = record.lastQueue {
            let handled = started.duration(to: clock.now)
            estimators[queue]?.record(handlingTime: handled)
            experts[expert]?.sessionStartedAt = nil
            touch(queue)
        }
        touchSkills(expert)
        sendPresence(expert, correlation: correlation, &step)
        if expertConnection(expert) != nil {
            makeAvailable(expert, &step)
        } else {
            _ = matcher.expertUnavailable(expert)
        }
    }

    func sendPresence(_ expert: ExpertID, correlation: UInt64 = 0, _ step: inout Step) {
        guard let record = experts[expert] else { return }
        step.send(expertConnection(expert), .presenceStatus(presenceStatus(record)), correlation: correlation)
    }

    func presenceStatus(_ record: ExpertRecord) -> Luukku_V1_PresenceStatus {
        .with {
            $0.presence = Self.wirePresence(record.presence.presence)
            if let reason = record.presence.awayReason { $0.awayReason = Self.wireAwayReason(reason) }
            if let until = record.presence.wrapUpUntil {
                let left = max(.zero, clock.now.duration(to: until))
                $0.wrapUpRemainingMs = UInt32(clamping: Int(left.components.seconds * 1_000))
            }
        }
    }
}
