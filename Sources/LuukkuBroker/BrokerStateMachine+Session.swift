import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuMatching
import LuukkuProtocol
import LuukkuRelay

// Sessions: Accept opens two relay legs with fresh keys; Hangup, a lost connection, media silence or the drain
// deadline end them. Resume re-attaches a dropped party.
extension BrokerStateMachine {
    /// An expert's Accept of the offer it holds: a media plan, fresh keys and a session id, and the legs to
    /// open (``legsOpened(session:ports:)`` goes on). Until they are open the offer stands, so a cancel or a
    /// lapse that crosses them wins and the legs close again.
    mutating func accept(
        _ wire: String, expert: ExpertID, connection sink: UInt64?, _ correlation: UInt64, _ step: inout Step
    ) {
        guard let ticket = TicketID(wireValue: wire), var record = experts[expert], record.presence.ticket == ticket,
            record.presence.presence == .offered, let ticketRecord = tickets[ticket], let sink,
            !pendingAccepts.values.contains(where: { $0.ticket == ticket })
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
            step.log(.error, "no media plan for an accepted offer", ["ticket": "\(ticket)", "why": "\(error)"])
            step.metrics.append(.mediaRefused(role: "session", kind: error.kind))
            step.error(sink, ProtocolError(.noCommonMedia, detail: error.description), correlation: correlation)
            if case .missed(_, let lapsed, _) = record.presence.decline(ticket: ticket, now: clock.now) {
                experts[expert] = record
                step.actions.append(.cancel(.offer(expert, ticket)))
                missed(ticket, expert: expert, lapsed: lapsed, &step)
            }
            return
        }
        let id = nextSession
        nextSession += 1  // spent even if the legs fail or the accept loses a race: ids are never reused
        let terminalKeys = legKeys(plan.terminal.suite)
        let expertKeys = legKeys(plan.expert.suite)
        // Each leg's statistics read what its own party sends.
        func rates(_ codecs: [MediaCodec]) -> ClockRates {
            ClockRates(
                Dictionary(codecs.compactMap { c in c.payloadType.map { ($0, c.clockRate) } }) { first, _ in first })
        }
        pendingAccepts[id] = PendingAccept(
            ticket: ticket, expert: expert, connection: sink, correlation: correlation, plan: plan,
            terminalKeys: terminalKeys, expertKeys: expertKeys)
        step.openLegs.append(
            LegRequest(
                session: id, a: terminalKeys, b: expertKeys, clockRatesA: rates(plan.terminal.send),
                clockRatesB: rates(plan.expert.send)))
    }

    mutating func legKeys(_ suite: SRTPSuite) -> LegKeys {
        func material() -> SRTPKeyingMaterial {
            let bytes = randomBytes(suite.masterKeyLength + suite.masterSaltLength)
            // The length is the suite's own, so this cannot fail.
            return try! SRTPKeyingMaterial(suite: suite, bytes: bytes)
        }
        let inbound = material()
        return LegKeys(inbound: inbound, outbound: material())
    }

    /// The relay could not open the legs of an Accept: the offer still stands and nothing else changed; the
    /// expert is told OVERLOADED (non-fatal) and may try again.
    public mutating func legsFailed(session id: UInt64, reason: String) -> Step {
        var step = Step(logging: logLevel)
        if let pending = pendingAccepts.removeValue(forKey: id) {
            step.log(.error, "relay could not open a session", ["session": "\(id)", "error": reason])
            step.error(
                pending.connection, ProtocolError(.overloaded, detail: "no media ports free", fatal: false),
                correlation: pending.correlation)
        }
        return finish(&step)
    }

    /// The legs of an Accept are open on these ports: the session starts, unless the offer went meanwhile (a
    /// cancel, a lapse, a lost console), when the legs close and the expert gets OFFER_EXPIRED.
    public mutating func legsOpened(session id: UInt64, ports: (a: UInt16, b: UInt16)) -> Step {
        var step = Step(logging: logLevel)
        if let pending = pendingAccepts.removeValue(forKey: id) { start(id, pending, ports: ports, &step) }
        return finish(&step)
    }

    private mutating func start(
        _ id: UInt64, _ pending: PendingAccept, ports: (a: UInt16, b: UInt16), _ step: inout Step
    ) {
        let ticket = pending.ticket
        let expert = pending.expert
        let sink = pending.connection
        let correlation = pending.correlation
        guard var record = experts[expert], record.presence.ticket == ticket, record.presence.presence == .offered,
            let ticketRecord = tickets[ticket], expertConnection(expert) == sink
        else {
            step.actions.append(.closeLegs(session: id))
            return step.error(sink, answerRefusal(ticket, expert: expert), correlation: correlation)
        }
        let action = record.presence.accept(ticket: ticket, now: clock.now)
        experts[expert] = record
        step.actions.append(.cancel(.offer(expert, ticket)))
        guard case .connect = action, matcher.accept(ticket, by: expert) else {
            step.actions.append(.closeLegs(session: id))
            if case .missed(_, let lapsed, _) = action { missed(ticket, expert: expert, lapsed: lapsed, &step) }
            return step.error(sink, ProtocolError(.offerExpired), correlation: correlation)
        }
        touch(ticketRecord.queue)
        touchSkills(expert)
        var connected = ticketRecord
        _ = connected.machine.connected()
        connected.session = id
        connected.lastStatus = nil
        tickets[ticket] = connected
        if connected.machine.expiresAt != nil { step.actions.append(.cancel(.ticketExpiry(ticket))) }

        let plan = pending.plan
        let host = configuration.relay.publicAddress ?? Self.advertised(configuration.relay.bindAddress)
        let point = configuration.servicePoint(ticketRecord.point)
        let language = ticketRecord.queue.language
        func started(port: UInt16, keys: LegKeys, media: PartyMediaPlan) -> Luukku_V1_SessionStarted {
            .with {
                $0.sessionID = Self.sessionWire(id)
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
            point: ticketRecord.point,
            terminalStarted: started(port: ports.a, keys: pending.terminalKeys, media: plan.terminal),
            expertStarted: started(port: ports.b, keys: pending.expertKeys, media: plan.expert), startedAt: clock.now)
        sessions[id] = session
        experts[expert]?.session = id
        let now = clock.now
        experts[expert]?.sessionStartedAt = now
        experts[expert]?.lastQueue = ticketRecord.queue
        parties[ticketRecord.party]?.sessions.insert(id)
        // A new customer at this terminal: earlier sessions are no longer asked to be rated.
        parties[ticketRecord.party]?.feedbackDue.removeAll()
        if (parties[ticketRecord.party]?.feedbackGiven.count ?? 0) > 64 {
            parties[ticketRecord.party]?.feedbackGiven.removeAll()
        }
        if let party = record.party { parties[party]?.sessions.insert(id) }

        let wallNow = wallClock()
        step.metrics.append(
            .answered(ticketRecord.queue, waitedSeconds: wallNow.timeIntervalSince(ticketRecord.requestedAt)))
        step.records.append(.offerAnswered(ticket: ticket, expert: expert, answer: .accepted, at: wallNow))
        step.records.append(.sessionStarted(session: id, ticket: ticket, expert: expert, answeredAt: wallNow))
        step.send(parties[ticketRecord.party]?.connection, .sessionStarted(session.terminalStarted))
        step.send(sink, .sessionStarted(session.expertStarted), correlation: correlation)
        sendPresence(expert, &step)
        step.log(
            .info, "session started",
            [
                "session": "\(id)", "ticket": "\(ticket)", "expert": "\(expert)", "ports": "\(ports.a),\(ports.b)",
                "suites": "\(plan.terminal.suite.rawValue),\(plan.expert.suite.rawValue)",
                "to_expert": "\(plan.terminal.send.map(\.description).joined(separator: " "))",
                "to_terminal": "\(plan.expert.send.map(\.description).joined(separator: " "))",
            ])
    }

    /// NO_COMMON_MEDIA for a terminal's request or an expert's AVAILABLE when `media` is not admitted (counted
    /// and logged), else nil.
    func mediaRefusal(_ media: MediaCapabilities?, role: String, subject: String, _ step: inout Step)
        -> ProtocolError?
    {
        guard let refusal = MediaNegotiation.refusal(for: media, profile: configuration.media) else { return nil }
        step.metrics.append(.mediaRefused(role: role, kind: refusal.kind))
        step.log(
            .notice, "\(role == "expert" ? "available" : "request") refused: no media in common",
            ["who": "\(subject)", "why": "\(refusal)"])
        return ProtocolError(.noCommonMedia, detail: refusal.description)
    }

    /// The address peers send media to when no public address is configured.
    static func advertised(_ bind: String) -> String { bind == "0.0.0.0" ? "127.0.0.1" : bind }

    mutating func hangup(_ hangup: Luukku_V1_Hangup, party id: UInt64, _ correlation: UInt64, _ step: inout Step) {
        guard let party = parties[id] else { return }
        guard let session = Self.sessionNumber(hangup.sessionID), party.sessions.contains(session) else {
            return step.error(party.connection, ProtocolError(.unknownSession), correlation: correlation)
        }
        let reason: SessionEndReason
        switch party.identity {
        case .terminal: reason = .customerEnded
        case .expert: reason = .expertEnded
        }
        endSession(session, reason: reason, relay: nil, &step)
    }

    /// Ends a running session: the ticket completes, the expert goes to wrap-up. With the relay's figures at
    /// hand (it ended the session itself) the end is recorded now; otherwise the legs close first and
    /// ``legsClosed(session:relay:)`` records it. Once the end is on disk the other side gets Hangup and the
    /// terminal FeedbackRequest.
    mutating func endSession(
        _ id: UInt64, reason: SessionEndReason, relay: LedgerEvent.RelayStats?, _ step: inout Step
    ) {
        guard let session = sessions.removeValue(forKey: id) else { return }
        if var ticket = tickets.removeValue(forKey: session.ticket) {
            _ = ticket.machine.completed(reason)
            dropFromPoint(session.ticket, ticket.point)
        }
        touch(session.queue)
        var then: [BrokerAction<C.Instant>] = []
        var hangup = Luukku_V1_Envelope()
        hangup.hangup = .with {
            $0.sessionID = Self.sessionWire(id)
            $0.reason = Self.wireHangupReason(reason)
        }
        if var terminal = parties[session.terminalParty] {
            terminal.sessions.remove(id)
            terminal.tickets.removeAll { $0 == session.ticket }
            terminal.feedbackDue.insert(id)
            parties[session.terminalParty] = terminal
            if let connection = terminal.connection {
                if reason != .customerEnded { then.append(.send(connection: connection, hangup)) }
                var request = Luukku_V1_Envelope()
                request.feedbackRequest = .with { $0.sessionID = Self.sessionWire(id) }
                then.append(.send(connection: connection, request))
            }
        }
        if var expert = experts[session.expert] {
            expert.session = nil
            if let party = expert.party { parties[party]?.sessions.remove(id) }
            let action = expert.presence.sessionEnded(now: clock.now)
            if case .wrapUp = action { expert.wrapUpSession = id }
            experts[session.expert] = expert
            touchSkills(session.expert)
            if let connection = expertConnection(session.expert) {
                if reason != .expertEnded { then.append(.send(connection: connection, hangup)) }
                var status = Luukku_V1_Envelope()
                status.presenceStatus = presenceStatus(expert)
                then.append(.send(connection: connection, status))
            }
            if case .wrapUp(let until) = action { then.append(.arm(.wrapUp(session.expert), at: until)) }
        }
        let closing = ClosingSession(ticket: session.ticket, reason: reason, then: then)
        if let relay {
            recordEnd(id, closing, relay: relay, &step)
        } else {
            closingSessions[id] = closing
            step.actions.append(.closeLegs(session: id))
        }
        step.log(.info, "session ended", ["session": "\(id)", "reason": "\(reason)"])
    }

    /// A session's legs are closed, with the relay's final figures: its end and its ticket's close are
    /// recorded, and the Hangups, FeedbackRequest and wrap-up follow once they are on disk.
    public mutating func legsClosed(session id: UInt64, relay: LedgerEvent.RelayStats) -> Step {
        var step = Step(logging: logLevel)
        if let closing = closingSessions.removeValue(forKey: id) { recordEnd(id, closing, relay: relay, &step) }
        return finish(&step)
    }

    private func recordEnd(
        _ id: UInt64, _ closing: ClosingSession, relay: LedgerEvent.RelayStats, _ step: inout Step
    ) {
        let now = wallClock()
        let outcome = LedgerOutcome(.completed(closing.reason))
        step.records.append(.sessionEnded(session: id, outcome: outcome, at: now, relay: relay))
        step.records.append(.ticketClosed(ticket: closing.ticket, outcome: outcome, at: now))
        step.metrics.append(.sessionEnded(session: id, outcome: outcome.outcome))
        step.actions += closing.then
    }

    // MARK: Resume

    mutating func resume(_ id: UInt64, token: [UInt8], _ correlation: UInt64, _ step: inout Step) {
        guard let fresh = parties[id] else { return }
        guard let oldID = partyByToken[token], oldID != id, var old = parties[oldID], old.identity == fresh.identity,
            !old.standby, fresh.tickets.isEmpty, fresh.sessions.isEmpty
        else {
            return step.error(fresh.connection, ProtocolError(.resumeFailed), correlation: correlation)
        }
        if let older = old.connection {  // the old connection is half-open: it goes
            step.actions.append(.close(connection: older))
            partyByConnection[older] = nil
        }
        step.actions.append(.cancel(.resumeGrace(party: oldID, token: old.token)))
        partyByToken[old.token] = nil
        partyByToken[fresh.token] = oldID
        old.token = fresh.token
        // For sessions to come (a running one keeps its plan), if the new connection's media is admitted too.
        if MediaNegotiation.refusal(for: fresh.media, profile: configuration.media) == nil { old.media = fresh.media }
        old.connection = fresh.connection
        old.standby = false
        parties[id] = nil
        parties[oldID] = old
        if let connection = old.connection { partyByConnection[connection] = oldID }
        let sink = old.connection
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
            touchSkills(expert)
            if experts[expert]?.presence.presence == .available { makeAvailable(expert, &step) }
        }
        for session in old.sessions.sorted() {
            guard let record = sessions[session] else { continue }
            let started = record.terminalParty == oldID ? record.terminalStarted : record.expertStarted
            step.send(sink, .sessionStarted(started), correlation: correlation)
        }
        for session in old.feedbackDue.sorted() {
            step.send(sink, .feedbackRequest(.with { $0.sessionID = Self.sessionWire(session) }))
        }
        step.log(.info, "resumed", ["party": "\(oldID)"])
    }

    private func remainingAnswerTime(_ expert: ExpertID) -> Duration {
        experts[expert]?.presence.offerDeadline.map { max(.zero, clock.now.duration(to: $0)) } ?? .zero
    }
}
