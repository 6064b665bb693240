import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol
import LuukkuRelay

// Sessions: Accept opens two relay legs with fresh keys; Hangup, a lost connection, media silence or the drain
// deadline end them. Resume re-attaches a dropped party.
extension Broker {
    func accept(
        _ wire: String, expert: ExpertID, sink: (any ConnectionSink)?, _ correlation: UInt64, _ step: inout BrokerStep
    ) {
        guard let ticket = TicketID(wireValue: wire), var record = experts[expert], record.presence.ticket == ticket,
            record.presence.presence == .offered, let ticketRecord = tickets[ticket]
        else {
            return step.error(sink, answerRefusal(TicketID(wireValue: wire), expert: expert), correlation: correlation)
        }
        // Both parties were admitted (RequestService, SetPresence) under the media profile, which is fixed while
        // the daemon runs, so a plan exists; if not (a bug), the offer goes back as a decline would, logged.
        let plan: MediaPlan
        do {
            plan = try MediaNegotiation.plan(
                terminal: parties[ticketRecord.party]?.media, expert: record.party.flatMap { parties[$0]?.media },
                profile: configuration.media)
        } catch {
            logger.error("no media plan for an accepted offer", metadata: ["ticket": "\(ticket)", "why": "\(error)"])
            ServerMetrics.shared.mediaRefused(role: "session", kind: error.kind)
            step.error(sink, ProtocolError(.noCommonMedia, detail: error.description), correlation: correlation)
            if case .missed(_, let lapsed, _) = record.presence.decline(ticket: ticket, now: clock.now) {
                experts[expert] = record
                missed(ticket, expert: expert, lapsed: lapsed, &step)
            }
            return
        }
        // Legs next: if the relay cannot open them, the offer still stands and nothing else changed.
        let id = nextSession
        let terminalKeys = LegKeys.random(suite: plan.terminal.suite)
        let expertKeys = LegKeys.random(suite: plan.expert.suite)
        // Each leg's statistics read what its own party sends.
        func rates(_ codecs: [MediaCodec]) -> ClockRates {
            ClockRates(
                Dictionary(codecs.compactMap { c in c.payloadType.map { ($0, c.clockRate) } }) { first, _ in first })
        }
        let ports: (a: UInt16, b: UInt16)
        do {
            ports = try relay.open(
                session: id, a: terminalKeys, b: expertKeys, clockRatesA: rates(plan.terminal.send),
                clockRatesB: rates(plan.expert.send))
        } catch {
            logger.error("relay could not open a session", metadata: ["error": "\(error)"])
            return step.error(
                sink, ProtocolError(.overloaded, detail: "no media ports free", fatal: false), correlation: correlation)
        }
        nextSession += 1  // the id is spent even if the accept fails below (its legs close asynchronously)
        let action = record.presence.accept(ticket: ticket, now: clock.now)
        experts[expert] = record
        guard case .connect = action, matcher.accept(ticket, by: expert) else {
            Task { [relay] in _ = await relay.close(session: id) }
            if case .missed(_, let lapsed, _) = action { missed(ticket, expert: expert, lapsed: lapsed, &step) }
            return step.error(sink, ProtocolError(.offerExpired), correlation: correlation)
        }
        var ticketRecord2 = ticketRecord
        _ = ticketRecord2.machine.connected()
        ticketRecord2.session = id
        ticketRecord2.lastStatus = nil
        tickets[ticket] = ticketRecord2

        let host = configuration.relay.publicAddress ?? Self.advertised(configuration.relay.bindAddress)
        let point = configuration.servicePoint(ticketRecord.point)
        let language = ticketRecord.queue.language
        func started(port: UInt16, keys: LegKeys, media: PartyMediaPlan) -> Luukku_V1_SessionStarted {
            .with {
                $0.sessionID = Broker.sessionWire(id)
                $0.ticketID = ticket.wireValue
                $0.relayHost = host
                $0.relayPort = UInt32(port)
                $0.suite = media.suite.wire
                $0.sendCodecs = media.send.map(\.wire)
                $0.receiveCodecs = media.receive.map(\.wire)
                // The peer protects what it sends with the leg's inbound key, and reads with the outbound one.
                $0.outboundKey = .with { $0.keyAndSalt = Data(keys.inbound.keyAndSalt) }
                $0.inboundKey = .with { $0.keyAndSalt = Data(keys.outbound.keyAndSalt) }
                $0.expertAgency = record.config.agency.rawValue
                $0.expertDisplayName = record.config.displayName
                $0.servicePointID = ticketRecord.point.rawValue
                $0.servicePointName = point.map { Self.name($0.names, in: language) } ?? ""
                $0.language = language.rawValue
                $0.serviceCode = ticketRecord.service?.rawValue ?? ""
            }
        }
        let session = SessionRecord(
            id: id, ticket: ticket, expert: expert, terminalParty: ticketRecord.party, queue: ticketRecord.queue,
            terminalStarted: started(port: ports.a, keys: terminalKeys, media: plan.terminal),
            expertStarted: started(port: ports.b, keys: expertKeys, media: plan.expert), startedAt: clock.now)
        sessions[id] = session
        experts[expert]?.session = id
        experts[expert]?.sessionStartedAt = clock.now
        experts[expert]?.lastQueue = ticketRecord.queue
        parties[ticketRecord.party]?.sessions.insert(id)
        // A new customer at this terminal: earlier sessions are no longer asked to be rated.
        parties[ticketRecord.party]?.feedbackDue.removeAll()
        if (parties[ticketRecord.party]?.feedbackGiven.count ?? 0) > 64 {
            parties[ticketRecord.party]?.feedbackGiven.removeAll()
        }
        if let party = record.party { parties[party]?.sessions.insert(id) }

        let now = Date()
        ServerMetrics.shared.answered(
            queue: ticketRecord.queue, waited: now.timeIntervalSince(ticketRecord.requestedAt))
        step.events.append(.offerAnswered(ticket: ticket, expert: expert, answer: .accepted, at: now))
        step.events.append(.sessionStarted(session: id, ticket: ticket, expert: expert, answeredAt: now))
        step.send(parties[ticketRecord.party]?.sink, .sessionStarted(session.terminalStarted))
        step.send(sink, .sessionStarted(session.expertStarted), correlation: correlation)
        sendPresence(expert, &step)
        logger.info(
            "session started",
            metadata: [
                "session": "\(id)", "ticket": "\(ticket)", "expert": "\(expert)", "ports": "\(ports.a),\(ports.b)",
                "suites": "\(plan.terminal.suite.rawValue),\(plan.expert.suite.rawValue)",
                "to_expert": "\(plan.terminal.send.map(\.description).joined(separator: " "))",
                "to_terminal": "\(plan.expert.send.map(\.description).joined(separator: " "))",
            ])
    }

    /// NO_COMMON_MEDIA for a terminal's request or an expert's AVAILABLE when `media` is not admitted (counted
    /// and logged), else nil.
    func mediaRefusal(_ media: MediaCapabilities?, role: String, subject: String) -> ProtocolError? {
        guard let refusal = MediaNegotiation.refusal(for: media, profile: configuration.media) else { return nil }
        ServerMetrics.shared.mediaRefused(role: role, kind: refusal.kind)
        logger.notice(
            "\(role == "expert" ? "available" : "request") refused: no media in common",
            metadata: ["who": "\(subject)", "why": "\(refusal)"])
        return ProtocolError(.noCommonMedia, detail: refusal.description)
    }

    /// The address peers send media to when no public address is configured.
    static func advertised(_ bind: String) -> String { bind == "0.0.0.0" ? "127.0.0.1" : bind }

    func hangup(_ hangup: Luukku_V1_Hangup, party id: UInt64, _ correlation: UInt64, _ step: inout BrokerStep) {
        guard let party = parties[id] else { return }
        guard let session = Self.sessionNumber(hangup.sessionID), party.sessions.contains(session) else {
            return step.error(party.sink, ProtocolError(.unknownSession), correlation: correlation)
        }
        let reason: SessionEndReason
        switch party.identity {
        case .terminal: reason = .customerEnded
        case .expert: reason = .expertEnded
        }
        endSession(session, reason: reason, snapshot: nil, &step)
    }

    /// Ends a running session: the ticket completes, the expert goes to wrap-up, the legs close; once the end
    /// is on disk the other side gets Hangup and the terminal FeedbackRequest.
    func endSession(_ id: UInt64, reason: SessionEndReason, snapshot: SessionSnapshot?, _ step: inout BrokerStep) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        if var ticket = tickets.removeValue(forKey: session.ticket) {
            _ = ticket.machine.completed(reason)
            dropFromPoint(session.ticket, ticket.point)
        }
        var then: [BrokerEffect] = []
        var hangup = Luukku_V1_Envelope()
        hangup.hangup = .with {
            $0.sessionID = Broker.sessionWire(id)
            $0.reason = Self.wireHangupReason(reason)
        }
        if var terminal = parties[session.terminalParty] {
            terminal.sessions.remove(id)
            terminal.tickets.removeAll { $0 == session.ticket }
            terminal.feedbackDue.insert(id)
            parties[session.terminalParty] = terminal
            if let sink = terminal.sink {
                if reason != .customerEnded { then.append(.send(sink, hangup)) }
                var request = Luukku_V1_Envelope()
                request.feedbackRequest = .with { $0.sessionID = Broker.sessionWire(id) }
                then.append(.send(sink, request))
            }
        }
        if var expert = experts[session.expert] {
            expert.session = nil
            if let party = expert.party { parties[party]?.sessions.remove(id) }
            let action = expert.presence.sessionEnded(now: clock.now)
            if case .wrapUp = action { expert.wrapUpSession = id }
            experts[session.expert] = expert
            if let sink = expertSink(session.expert) {
                if reason != .expertEnded { then.append(.send(sink, hangup)) }
                var status = Luukku_V1_Envelope()
                status.presenceStatus = presenceStatus(expert)
                then.append(.send(sink, status))
            }
            if case .wrapUp(let until) = action { then.append(.schedule(.wrapUp(session.expert), at: until)) }
        }
        step.effects.append(
            .endSession(
                EndedSession(session: id, ticket: session.ticket, reason: reason, snapshot: snapshot), then: then))
        logger.info("session ended", metadata: ["session": "\(id)", "reason": "\(reason)"])
        if sessions.isEmpty {
            // The waiter (the drain) flushes the outbox next, so this step's writes are done before exit.
            for waiter in sessionsEndedWaiters { waiter.resume() }
            sessionsEndedWaiters.removeAll()
        }
    }

    // MARK: Resume

    func resume(_ id: UInt64, token: [UInt8], _ correlation: UInt64, _ step: inout BrokerStep) {
        guard let fresh = parties[id] else { return }
        guard let oldID = partyByToken[token], oldID != id, var old = parties[oldID], old.identity == fresh.identity,
            !old.standby, fresh.tickets.isEmpty, fresh.sessions.isEmpty
        else {
            return step.error(fresh.sink, ProtocolError(.resumeFailed), correlation: correlation)
        }
        if let olderSink = old.sink {  // the old connection is half-open: it goes
            step.effects.append(.close(olderSink))
            if let connection = old.connection { partyByConnection[connection] = nil }
        }
        partyByToken[old.token] = nil
        partyByToken[fresh.token] = oldID
        old.token = fresh.token
        // For sessions to come (a running one keeps its plan), if the new connection's media is admitted too.
        if MediaNegotiation.refusal(for: fresh.media, profile: configuration.media) == nil { old.media = fresh.media }
        old.sink = fresh.sink
        old.connection = fresh.connection
        old.standby = false
        parties[id] = nil
        parties[oldID] = old
        if let connection = old.connection { partyByConnection[connection] = oldID }
        let sink = old.sink
        switch old.identity {
        case .terminal:
            for ticket in old.tickets {
                guard tickets[ticket]?.session == nil else { continue }
                let status = queueStatus(ticket)
                tickets[ticket]?.lastStatus = status
                step.send(sink, .queueStatus(status), correlation: correlation)
            }
        case .expert(_, let expert):
            sendPresence(expert, correlation: correlation, &step)
            if let record = experts[expert], let ticket = record.presence.ticket, record.presence.presence == .offered {
                step.send(sink, .offer(offer(ticket, answerBy: clock.now.advanced(by: remainingAnswerTime(expert)))))
            }
            experts[expert]?.lastSnapshot = nil
            if experts[expert]?.presence.presence == .available { makeAvailable(expert, &step) }
        }
        for session in old.sessions.sorted() {
            guard let record = sessions[session] else { continue }
            let started = record.terminalParty == oldID ? record.terminalStarted : record.expertStarted
            step.send(sink, .sessionStarted(started), correlation: correlation)
        }
        for session in old.feedbackDue.sorted() {
            step.send(sink, .feedbackRequest(.with { $0.sessionID = Broker.sessionWire(session) }))
        }
        logger.info("resumed", metadata: ["party": "\(oldID)"])
    }

    private func remainingAnswerTime(_ expert: ExpertID) -> Duration {
        experts[expert]?.presence.offerDeadline.map { max(.zero, $0 - clock.now) } ?? .zero
    }
}
