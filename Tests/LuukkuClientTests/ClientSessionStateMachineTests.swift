import LuukkuClient
import LuukkuCore
import LuukkuProtocol
import Testing

/// The clients' shared session model, frame by frame: a terminal's visit from request to feedback, an expert's
/// shift from login through offer, session and wrap-up, and what each may send in each phase.
@Suite struct ClientSessionStateMachineTests {
    typealias Machine = ClientSessionStateMachine

    static func frame(_ message: Luukku_V1_Envelope.OneOf_Message) -> Luukku_V1_Envelope {
        .with { $0.message = message }
    }

    static func queueStatus(_ ticket: String, position: UInt32, estimate: UInt32? = nil, offered: Bool = false)
        -> Luukku_V1_Envelope
    {
        frame(
            .queueStatus(
                .with {
                    $0.ticketID = ticket
                    $0.position = position
                    if let estimate { $0.estimatedWaitSeconds = estimate }
                    $0.expertsOnline = 2
                    $0.offered = offered
                }))
    }

    static func started(_ session: String, ticket: String = "t-1") -> Luukku_V1_Envelope {
        frame(
            .sessionStarted(
                .with {
                    $0.sessionID = session
                    $0.ticketID = ticket
                }))
    }

    static func hangup(_ session: String, _ reason: Luukku_V1_HangupReason) -> Luukku_V1_Envelope {
        frame(
            .hangup(
                .with {
                    $0.sessionID = session
                    $0.reason = reason
                }))
    }

    static func presence(_ presence: Luukku_V1_Presence, _ reason: Luukku_V1_AwayReason = .unspecified)
        -> Luukku_V1_Envelope
    {
        frame(
            .presenceStatus(
                .with {
                    $0.presence = presence
                    $0.awayReason = reason
                }))
    }

    static func offer(_ ticket: String) -> Luukku_V1_Envelope {
        frame(
            .offer(
                .with {
                    $0.ticketID = ticket
                    $0.answerWithinMs = 30_000
                }))
    }

    static func error(_ code: Luukku_V1_ErrorCode, fatal: Bool = false) -> Luukku_V1_Envelope {
        frame(
            .error(
                .with {
                    $0.code = code
                    $0.fatal = fatal
                }))
    }

    static func feedbackRequest(_ session: String) -> Luukku_V1_Envelope {
        frame(.feedbackRequest(.with { $0.sessionID = session }))
    }

    // MARK: - Terminal

    @Test func aTerminalsVisitFromRequestToFeedback() throws {
        var visit = Machine(role: .terminal)
        #expect(visit.phase == .connected)
        let request = visit.request(agency: "kela", language: "fi", service: "housing-allowance")
        guard case .requestService(let asked) = request else {
            Issue.record("no RequestService: \(String(describing: request))")
            return
        }
        #expect(asked.agency == "kela" && asked.language == "fi" && asked.serviceCode == "housing-allowance")
        #expect(visit.phase == .requesting)
        #expect(visit.request(agency: "kela", language: "fi", service: "") == nil, "one request per visit")

        #expect(visit.received(Self.queueStatus("t-1", position: 3, estimate: 120)) == [])
        #expect(
            visit.phase
                == .waiting(.init(ticket: "t-1", position: 3, estimatedWaitSeconds: 120, expertsOnline: 2)))
        #expect(visit.received(Self.queueStatus("t-1", position: 1)) == [])
        #expect(
            visit.phase == .waiting(.init(ticket: "t-1", position: 1, estimatedWaitSeconds: nil, expertsOnline: 2)))
        #expect(visit.received(Self.queueStatus("t-1", position: 1, offered: true)) == [])
        #expect(visit.phase == .offered(ticket: "t-1"))
        // Declined: back to its place.
        #expect(visit.received(Self.queueStatus("t-1", position: 1)) == [])
        #expect(visit.ticket == "t-1" && visit.session == nil)

        let started = Self.started("s-1")
        #expect(visit.received(started) == [.sessionStarted(started.sessionStarted)])
        #expect(visit.phase == .inSession(session: "s-1"))
        #expect(visit.cancel() == nil, "a session is not cancelled")
        #expect(visit.feedback(rating: 5, comment: "") == nil, "no feedback before the daemon asks")
        #expect(
            visit.hangUp()
                == .hangup(
                    .with {
                        $0.sessionID = "s-1"
                        $0.reason = .customerEnded
                    }))
        #expect(visit.hangUp() == nil, "one Hangup per session")

        // No Hangup comes back to the side that hung up: the FeedbackRequest is the session's end.
        #expect(
            visit.received(Self.feedbackRequest("s-1"))
                == [.sessionEnded(session: "s-1"), .feedbackRequested(session: "s-1"), .closed(.completed)])
        #expect(visit.phase == .closed(.completed))
        #expect(
            visit.feedback(rating: 4, comment: "selkeä")
                == .feedback(
                    .with {
                        $0.sessionID = "s-1"
                        $0.rating = 4
                        $0.comment = "selkeä"
                    }))
        #expect(visit.feedback(rating: 4, comment: "") == nil, "feedback once")
        #expect(visit.received(Self.queueStatus("t-1", position: 1)) == [], "nothing after the visit's end")
    }

    @Test func theExpertsHangupEndsTheSessionOnceAndTheTerminalDoesNotHangUpAgain() {
        var visit = Machine(role: .terminal)
        _ = visit.request(agency: "kela", language: "fi", service: "")
        _ = visit.received(Self.queueStatus("t-1", position: 1))
        _ = visit.received(Self.started("s-1"))
        #expect(visit.received(Self.hangup("s-1", .expertEnded)) == [.sessionEnded(session: "s-1")])
        #expect(visit.phase == .wrapUp(session: "s-1"))
        #expect(visit.hangUp() == nil, "the session is over: its media's end sends nothing")
        #expect(visit.received(Self.hangup("s-1", .expertEnded)) == [], "a repeated Hangup ends nothing twice")
        #expect(
            visit.received(Self.feedbackRequest("s-1"))
                == [.feedbackRequested(session: "s-1"), .closed(.completed)])
    }

    @Test func aCancelBeforeTheTicketIsKnownGoesWithTheFirstQueueStatus() {
        var visit = Machine(role: .terminal)
        _ = visit.request(agency: "vero", language: "sv", service: "")
        #expect(visit.cancel() == nil)
        #expect(visit.cancelPending)
        #expect(
            visit.received(Self.queueStatus("t-7", position: 2))
                == [.send(.cancelRequest(.with { $0.ticketID = "t-7" }))])
        #expect(!visit.cancelPending)
        #expect(visit.received(Self.queueStatus("t-7", position: 1)) == [], "the cancel is sent once")
        // Once the ticket is known, the cancel goes at once.
        #expect(visit.cancel() == .cancelRequest(.with { $0.ticketID = "t-7" }))
        let closed = Self.frame(
            .ticketClosed(
                .with {
                    $0.ticketID = "t-7"
                    $0.reason = .cancelled
                }))
        #expect(visit.received(closed) == [.closed(.ticketClosed(.cancelled))])
        #expect(visit.isClosed && visit.ticket == nil)
    }

    @Test func errorsEndTheVisitOnlyWhenTheyAnswerTheRequestOrAreFatal() {
        var refused = Machine(role: .terminal)
        _ = refused.request(agency: "kela", language: "fi", service: "")
        #expect(refused.received(Self.error(.queueClosed)) == [.closed(.refused(.queueClosed))])

        var waiting = Machine(role: .terminal)
        _ = waiting.request(agency: "kela", language: "fi", service: "")
        _ = waiting.received(Self.queueStatus("t-1", position: 1))
        #expect(waiting.received(Self.error(.unknownTicket)) == [], "a refused cancel leaves the ticket waiting")
        #expect(waiting.ticket == "t-1")

        var inSession = Machine(role: .terminal)
        _ = inSession.request(agency: "kela", language: "fi", service: "")
        _ = inSession.received(Self.started("s-2"))
        #expect(
            inSession.received(Self.error(.overloaded, fatal: true))
                == [.sessionEnded(session: "s-2"), .closed(.refused(.overloaded))])
    }

    @Test func aLostConnectionEndsTheSessionUnlessTheClientLeftFirst() {
        var visit = Machine(role: .terminal)
        _ = visit.request(agency: "kela", language: "fi", service: "")
        _ = visit.received(Self.started("s-3"))
        #expect(visit.connectionClosed() == [.sessionEnded(session: "s-3"), .closed(.connectionLost)])

        var left = Machine(role: .terminal)
        _ = left.request(agency: "kela", language: "fi", service: "")
        left.leave()
        #expect(left.connectionClosed() == [])
        #expect(left.phase == .closed(.left))
    }

    // MARK: - Expert

    @Test func anExpertsShiftThroughOfferSessionAndWrapUp() {
        var shift = Machine(role: .expert)
        #expect(shift.setAvailable() == .setPresence(.with { $0.presence = .available }), "at login")
        #expect(shift.received(Self.presence(.available)) == [])
        #expect(shift.setAvailable() == nil, "already available")
        #expect(shift.accept() == nil && shift.decline() == nil && shift.hangUp() == nil && shift.wrapUpDone() == nil)

        let offer = Self.offer("t-4")
        #expect(shift.received(offer) == [.offered(offer.offer)])
        #expect(shift.phase == .offered(ticket: "t-4"))
        #expect(shift.received(Self.presence(.offered)) == [])
        #expect(!shift.canSetPresence && shift.setAway(.meeting) == nil, "the daemon refuses away while offered")
        #expect(shift.accept() == .accept(.with { $0.ticketID = "t-4" }))
        #expect(shift.accept() == nil && shift.decline() == nil, "one answer per offer")

        let started = Self.started("s-4", ticket: "t-4")
        #expect(shift.received(started) == [.sessionStarted(started.sessionStarted)])
        #expect(shift.offer == nil && shift.session == "s-4")
        #expect(shift.hangUp(session: "s-3") == nil, "a timer of an earlier session hangs up nothing")
        #expect(
            shift.hangUp(session: "s-4")
                == .hangup(
                    .with {
                        $0.sessionID = "s-4"
                        $0.reason = .expertEnded
                    }))
        // After this side's own Hangup only the wrap-up comes back.
        #expect(
            shift.received(Self.presence(.wrapUp))
                == [.sessionEnded(session: "s-4"), .wrapUpStarted(session: "s-4")])
        #expect(shift.phase == .wrapUp(session: "s-4"))
        #expect(shift.setAway(.break) == nil, "the daemon refuses away in wrap-up")
        #expect(shift.wrapUpDone() == .wrapUpDone(.with { $0.sessionID = "s-4" }))
        #expect(shift.wrapUpDone() == nil, "ready once, until the daemon answers")
        #expect(shift.received(Self.presence(.available)) == [])
        #expect(shift.phase == .connected && shift.wrapUpDone() == nil)
        #expect(
            shift.setAway(.meeting)
                == .setPresence(
                    .with {
                        $0.presence = .away
                        $0.awayReason = .meeting
                    }))
        #expect(shift.setAway(.noAnswer) == nil, "NO_ANSWER is the daemon's to set")
    }

    @Test func theCustomersHangupThenWrapUpEndsTheSessionOnce() {
        var shift = Machine(role: .expert)
        _ = shift.received(Self.offer("t-5"))
        _ = shift.accept()
        _ = shift.received(Self.started("s-5", ticket: "t-5"))
        #expect(shift.received(Self.hangup("s-5", .customerEnded)) == [.sessionEnded(session: "s-5")])
        #expect(shift.received(Self.presence(.wrapUp)) == [.wrapUpStarted(session: "s-5")])
        #expect(shift.hangUp() == nil)
        // The wrap-up time ran out: the daemon makes the expert available.
        #expect(shift.received(Self.presence(.available)) == [])
        #expect(shift.phase == .connected)
    }

    @Test func anAnswerTheDaemonRefusedMayBeGivenAgain() {
        var shift = Machine(role: .expert)
        _ = shift.received(Self.offer("t-2"))
        #expect(shift.accept() == .accept(.with { $0.ticketID = "t-2" }))
        // The relay had no room for the session's legs: the offer still stands (docs/protocol.md).
        #expect(shift.received(Self.error(.overloaded)) == [])
        #expect(shift.phase == .offered(ticket: "t-2"))
        #expect(shift.accept() == .accept(.with { $0.ticketID = "t-2" }))
        #expect(shift.decline() == nil)
    }

    @Test func anotherTicketsCloseOrSessionsFeedbackRequestEndsNothing() {
        var visit = Machine(role: .terminal)
        _ = visit.request(agency: "kela", language: "fi", service: "")
        _ = visit.received(Self.queueStatus("t-1", position: 1))
        let otherTicket = Self.frame(
            .ticketClosed(
                .with {
                    $0.ticketID = "t-9"
                    $0.reason = .expired
                }))
        #expect(visit.received(otherTicket) == [] && visit.ticket == "t-1")
        _ = visit.received(Self.started("s-1"))
        var ownTicket = otherTicket
        ownTicket.ticketClosed.ticketID = "t-1"
        #expect(visit.received(ownTicket) == [], "the ticket is a session now")
        #expect(visit.received(Self.feedbackRequest("s-0")) == [] && visit.session == "s-1")
        #expect(
            visit.received(Self.feedbackRequest("s-1"))
                == [.sessionEnded(session: "s-1"), .feedbackRequested(session: "s-1"), .closed(.completed)])
    }

    @Test func aWithdrawnOfferCannotBeAnswered() {
        var shift = Machine(role: .expert)
        _ = shift.received(Self.offer("t-6"))
        let other = Self.frame(
            .offerWithdrawn(
                .with {
                    $0.ticketID = "t-9"
                    $0.reason = .customerLeft
                }))
        #expect(shift.received(other) == [])
        #expect(shift.phase == .offered(ticket: "t-6"), "another ticket's withdrawal")
        var withdrawn = other
        withdrawn.offerWithdrawn.ticketID = "t-6"
        #expect(shift.received(withdrawn) == [])
        #expect(shift.phase == .connected && shift.accept() == nil)
        // Not answered in time: the daemon sets the expert away (no answer); it may come back.
        _ = shift.received(Self.offer("t-7"))
        #expect(shift.received(Self.presence(.away, .noAnswer)) == [])
        #expect(shift.phase == .connected && shift.offer == nil)
        #expect(shift.setAvailable() == .setPresence(.with { $0.presence = .available }))
    }

    @Test func theDaemonsGoodbyeClosesTheShift() {
        var shift = Machine(role: .expert)
        _ = shift.received(Self.offer("t-8"))
        _ = shift.received(Self.started("s-8", ticket: "t-8"))
        let goodbye = Self.frame(.goodbye(.with { $0.reason = .kicked }))
        #expect(shift.received(goodbye) == [.sessionEnded(session: "s-8"), .closed(.goodbye(.kicked))])
        #expect(shift.received(Self.offer("t-9")) == [], "nothing after the end")
        #expect(shift.connectionClosed() == [], "nor after a lost connection")
        #expect(shift.phase == .closed(.goodbye(.kicked)))
    }

    @Test func aTerminalIgnoresAnExpertsFramesAndTheOtherWayRound() {
        var visit = Machine(role: .terminal)
        _ = visit.request(agency: "kela", language: "fi", service: "")
        #expect(visit.received(Self.offer("t-1")) == [] && visit.phase == .requesting)
        #expect(visit.accept() == nil && visit.setAway(.break) == nil && visit.wrapUpDone() == nil)
        var shift = Machine(role: .expert)
        #expect(shift.received(Self.feedbackRequest("s-1")) == [] && shift.phase == .connected)
        #expect(shift.request(agency: "kela", language: "fi", service: "") == nil && shift.cancel() == nil)
    }

    // MARK: - Random frames

    /// Thousands of seeded random frames and intents for each role, with the model's promises checked after each:
    /// nothing after `closed`; every `sessionEnded` names a started session, once; at most one Hangup and one
    /// answer per offer are sent; the phase and the public ids agree.
    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomFramesKeepTheModelsPromises(seed: UInt64) {
        var random = SplitMix(seed: seed)
        var failures: [String] = []
        for role in [Machine.Role.terminal, .expert] {
            var machine = Machine(role: role)
            var started: Set<String> = []
            var ended: Set<String> = []
            var hangUps: [String: Int] = [:]
            var answers: [String: Int] = [:]
            var closed = false
            var stepsSinceClosed = 0
            for step in 0..<3_000 {
                let session = "s-\(Int.random(in: 1...4, using: &random))"
                let ticket = "t-\(Int.random(in: 1...4, using: &random))"
                var events: [Machine.Event] = []
                switch Int.random(in: 0..<19, using: &random) {
                case 0: events = machine.received(Self.queueStatus(ticket, position: 2))
                case 1: events = machine.received(Self.queueStatus(ticket, position: 1, offered: true))
                case 2: events = machine.received(Self.offer(ticket))
                case 3: events = machine.received(Self.started(session, ticket: ticket))
                case 4: events = machine.received(Self.hangup(session, .customerEnded))
                case 5: events = machine.received(Self.presence(.wrapUp))
                case 6: events = machine.received(Self.presence(.available))
                case 7: events = machine.received(Self.feedbackRequest(session))
                case 8:
                    events = machine.received(Self.error(.invalidPresence))
                    for offered in answers.keys { answers[offered] = 0 }  // a refused answer may be given again
                case 9 where Int.random(in: 0..<40, using: &random) == 0:
                    events = machine.received(Self.error(.overloaded, fatal: true))
                case 10 where Int.random(in: 0..<40, using: &random) == 0: events = machine.connectionClosed()
                case 11:
                    if case .hangup(let hangup) = machine.hangUp() { hangUps[hangup.sessionID, default: 0] += 1 }
                case 12:
                    if case .accept(let accept) = machine.accept() { answers[accept.ticketID, default: 0] += 1 }
                case 13:
                    if case .decline(let decline) = machine.decline() { answers[decline.ticketID, default: 0] += 1 }
                case 14: _ = machine.cancel()
                case 15:
                    if let done = machine.wrapUpDone(), machine.wrapUpSession == nil {
                        failures.append("\(role) step \(step): \(done) outside wrap-up")
                    }
                case 16: _ = machine.request(agency: "kela", language: "fi", service: "")
                case 17: events = machine.received(Self.presence(.away, .noAnswer))
                default: continue
                }
                if closed, !events.isEmpty { failures.append("\(role) step \(step): \(events) after closed") }
                for event in events {
                    switch event {
                    case .sessionStarted(let new):
                        started.insert(new.sessionID)
                        hangUps[new.sessionID] = 0
                        ended.remove(new.sessionID)
                        for offered in answers.keys { answers[offered] = 0 }
                    case .sessionEnded(let id):
                        if !started.contains(id) { failures.append("\(role) step \(step): \(id) ended, never started") }
                        if ended.contains(id) { failures.append("\(role) step \(step): \(id) ended twice") }
                        ended.insert(id)
                    case .offered(let new):
                        answers[new.ticketID] = 0
                        if role != .expert { failures.append("\(role) step \(step): offered to a terminal") }
                    case .closed:
                        closed = true
                    default:
                        break
                    }
                }
                for (id, count) in hangUps where count > 1 {
                    failures.append("\(role) step \(step): \(count) Hangups for \(id)")
                }
                for (id, count) in answers where count > 1 {
                    failures.append("\(role) step \(step): \(count) answers to the offer of \(id)")
                }
                if closed != machine.isClosed { failures.append("\(role) step \(step): closed event and phase differ") }
                if let offer = machine.offer, machine.phase != .offered(ticket: offer.ticketID) {
                    failures.append("\(role) step \(step): offer \(offer.ticketID) in \(machine.phase)")
                }
                // A closed model is driven 20 steps more (nothing may follow), then the next connection starts.
                if closed { stepsSinceClosed += 1 }
                if stepsSinceClosed > 20 {
                    machine = Machine(role: role)
                    (started, ended, hangUps, answers, closed, stepsSinceClosed) = ([], [], [:], [:], false, 0)
                }
            }
        }
        #expect(failures.isEmpty, "seed \(seed): \(failures.prefix(5))")
    }
}
