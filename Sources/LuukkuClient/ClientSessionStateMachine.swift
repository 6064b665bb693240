import LuukkuProtocol

/// One client's side of the protocol as a value: where its visit (a terminal) or its shift (an expert) stands,
/// which frames it may send now, and what each frame from the daemon means for it. `luukku-terminal` and both
/// modes of `luukku-console` keep their state here and decide nothing of their own; they print, run the media
/// and carry out the ``Event``s. No I/O and no clock: frames in, events and frames to send out (docs/terminal.md, "One session model").
///
/// Phases (docs/protocol.md, "Terminal: request to feedback" and "Expert: login to wrap-up"):
///
///     terminal: connected -> requesting -> waiting <-> offered -> inSession -> wrapUp -> closed(.completed)
///     expert:   connected (available or away) -> offered -> inSession -> wrapUp -> connected ...
///
/// A terminal's `wrapUp` comes only after the other side's Hangup: after its own, the FeedbackRequest moves it from
/// `inSession` to `closed(.completed)`. Every phase can end in `closed` (a closed ticket, a refusal, the daemon's
/// Goodbye, a lost connection, or the client leaving), and nothing leaves `closed`: frames and a lost connection
/// after it are no events.
public struct ClientSessionStateMachine: Sendable {
    public enum Role: Sendable, Equatable {
        case terminal, expert
    }

    public enum Phase: Sendable, Equatable {
        /// Logged in. A terminal has asked for nothing yet; an expert has no offer and no session (``presence``
        /// says whether it is available or away).
        case connected
        /// The terminal's `RequestService` is on its way; no ticket yet.
        case requesting
        /// The terminal's ticket waits in its queue.
        case waiting(Waiting)
        /// A ticket is being offered: the terminal's to an expert, or one to this expert (``offer``).
        case offered(ticket: String)
        case inSession(session: String)
        /// The session is over: the expert's wrap-up, or the terminal waiting for its `FeedbackRequest`.
        case wrapUp(session: String)
        case closed(Closure)
    }

    /// A waiting ticket as its last `QueueStatus` told it.
    public struct Waiting: Sendable, Equatable {
        public var ticket: String
        /// 1 = the next to be offered.
        public var position: UInt32
        /// Nil when no expert of the queue is serving.
        public var estimatedWaitSeconds: UInt32?
        public var expertsOnline: UInt32

        public init(ticket: String, position: UInt32, estimatedWaitSeconds: UInt32?, expertsOnline: UInt32) {
            self.ticket = ticket
            self.position = position
            self.estimatedWaitSeconds = estimatedWaitSeconds
            self.expertsOnline = expertsOnline
        }
    }

    /// Why this client is done.
    public enum Closure: Sendable, Equatable {
        /// The terminal's session ended and the daemon asked for its feedback: the visit is complete.
        case completed
        /// The terminal's ticket closed before a session (cancelled, expired, queue closed, ...).
        case ticketClosed(Luukku_V1_TicketCloseReason)
        /// The daemon refused the terminal's request, or sent a fatal error.
        case refused(Luukku_V1_ErrorCode)
        /// The daemon sent this client away.
        case goodbye(Luukku_V1_GoodbyeReason)
        /// The connection ended without a Goodbye.
        case connectionLost
        /// This client said Goodbye.
        case left
    }

    /// What a frame from the daemon (or the lost connection) means for the client.
    public enum Event: Sendable, Equatable {
        /// A frame the model sends on its own: a cancel that waited for its ticket id.
        case send(Luukku_V1_Envelope.OneOf_Message)
        /// An offer rings for this expert.
        case offered(Luukku_V1_Offer)
        /// The session starts: its media with it.
        case sessionStarted(Luukku_V1_SessionStarted)
        /// The session is over (the media stops), once per session: the other side's or the daemon's
        /// `Hangup`, or the expert's wrap-up or the terminal's `FeedbackRequest` after this side's own hang-up.
        case sessionEnded(session: String)
        /// The expert's wrap-up began (`PresenceStatus{WRAP_UP}`).
        case wrapUpStarted(session: String)
        /// The daemon asks the terminal to rate the session.
        case feedbackRequested(session: String)
        /// The client is done; nothing follows.
        case closed(Closure)
    }

    public let role: Role
    public private(set) var phase: Phase = .connected
    /// The expert's presence as the daemon last said it (`.offline` until its first `PresenceStatus`).
    public private(set) var presence: Luukku_V1_Presence = .offline
    /// The offer ringing for this expert, while ``phase`` is `offered`.
    public private(set) var offer: Luukku_V1_Offer?
    /// The session whose `FeedbackRequest` came and that has no `Feedback` yet.
    public private(set) var feedbackSession: String?
    /// The terminal asked to cancel before its ticket id was known: the cancel goes with the first `QueueStatus`.
    public private(set) var cancelPending = false
    /// This side's `Hangup` for the current session has been sent.
    public private(set) var hangUpSent = false
    /// This expert answered the ringing offer (Accept or Decline sent) and no error has refused the answer.
    public private(set) var offerAnswered = false
    /// This expert's `WrapUpDone` is on its way (until the next `PresenceStatus`).
    public private(set) var wrapUpDoneSent = false

    public init(role: Role) {
        self.role = role
    }

    /// The ticket: the terminal's own while it waits or is offered, the offered one for an expert.
    public var ticket: String? {
        switch phase {
        case .waiting(let waiting): waiting.ticket
        case .offered(let ticket): ticket
        default: nil
        }
    }

    /// The running session, if any.
    public var session: String? {
        if case .inSession(let session) = phase { return session }
        return nil
    }

    /// The session being wrapped up, if any.
    public var wrapUpSession: String? {
        if case .wrapUp(let session) = phase { return session }
        return nil
    }

    public var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    /// The expert may set its presence (available or away): only with no offer, session or wrap-up.
    public var canSetPresence: Bool { role == .expert && phase == .connected }

    // MARK: - Frames from the daemon

    /// The daemon's frame: the new phase, and what the client carries out, in order.
    public mutating func received(_ frame: Luukku_V1_Envelope) -> [Event] {
        if isClosed { return [] }
        switch frame.message {
        case .queueStatus(let status) where role == .terminal: return queueStatus(status)
        case .ticketClosed(let closed) where role == .terminal:
            // A ticket that became a session is not closed as a ticket (the session's end is its own).
            guard phase == .requesting || ticket == closed.ticketID else { return [] }
            return close(.ticketClosed(closed.reason))
        case .offer(let new): return offered(new)
        case .offerWithdrawn(let withdrawn):
            if phase == .offered(ticket: withdrawn.ticketID) { clearOffer() }
            return []
        case .sessionStarted(let started):
            clearOffer()
            phase = .inSession(session: started.sessionID)
            hangUpSent = false
            feedbackSession = nil
            return [.sessionStarted(started)]
        case .hangup(let hangup):
            guard phase == .inSession(session: hangup.sessionID) else { return [] }  // an ended session's
            phase = .wrapUp(session: hangup.sessionID)
            return [.sessionEnded(session: hangup.sessionID)]
        case .presenceStatus(let status) where role == .expert: return presenceStatus(status)
        case .feedbackRequest(let request): return feedbackRequested(request.sessionID)
        case .error(let error):
            // While requesting, the only thing this terminal has sent is its RequestService: the error is its answer.
            if error.fatal || phase == .requesting { return close(.refused(error.code)) }
            // While offered, the only thing this expert can have sent is its answer: refused (OVERLOADED: the relay
            // had no room; docs/protocol.md), the offer still stands and may be answered again.
            if case .offered = phase, role == .expert { offerAnswered = false }
            return []
        case .goodbye(let goodbye): return close(.goodbye(goodbye.reason))
        default: return []
        }
    }

    /// The connection ended: the client is done, unless it was done already.
    public mutating func connectionClosed() -> [Event] {
        if isClosed { return [] }
        return close(.connectionLost)
    }

    private mutating func queueStatus(_ status: Luukku_V1_QueueStatus) -> [Event] {
        switch phase {
        case .requesting, .waiting, .offered: break
        default: return []  // a late update for a ticket that has since become a session
        }
        phase =
            status.offered
            ? .offered(ticket: status.ticketID)
            : .waiting(
                Waiting(
                    ticket: status.ticketID, position: status.position,
                    estimatedWaitSeconds: status.hasEstimatedWaitSeconds ? status.estimatedWaitSeconds : nil,
                    expertsOnline: status.expertsOnline))
        guard cancelPending else { return [] }
        cancelPending = false
        return [.send(.cancelRequest(.with { $0.ticketID = status.ticketID }))]
    }

    private mutating func offered(_ new: Luukku_V1_Offer) -> [Event] {
        guard role == .expert, phase == .connected || ticket != nil else { return [] }
        phase = .offered(ticket: new.ticketID)
        offer = new
        offerAnswered = false
        return [.offered(new)]
    }

    private mutating func presenceStatus(_ status: Luukku_V1_PresenceStatus) -> [Event] {
        presence = status.presence
        wrapUpDoneSent = false
        switch status.presence {
        case .wrapUp:
            // After this expert's own Hangup no Hangup comes back: wrap-up is the session's end.
            var events = endSession()
            if let session = session ?? wrapUpSession {
                phase = .wrapUp(session: session)
                events.append(.wrapUpStarted(session: session))
            }
            return events
        case .available, .away:
            if case .inSession = phase { return [] }  // not the daemon's order; the session's end comes as its own
            clearOffer()
            phase = .connected
            return []
        default:
            return []
        }
    }

    private mutating func feedbackRequested(_ session: String) -> [Event] {
        guard role == .terminal, session == self.session || session == wrapUpSession else { return [] }
        var events = endSession()
        feedbackSession = session
        phase = .closed(.completed)
        events += [.feedbackRequested(session: session), .closed(.completed)]
        return events
    }

    private mutating func close(_ closure: Closure) -> [Event] {
        var events = endSession()
        clearOffer()
        phase = .closed(closure)
        events.append(.closed(closure))
        return events
    }

    /// The running session's end, if one runs: it moves to wrap-up.
    private mutating func endSession() -> [Event] {
        guard let session else { return [] }
        phase = .wrapUp(session: session)
        return [.sessionEnded(session: session)]
    }

    private mutating func clearOffer() {
        offer = nil
        offerAnswered = false
        if role == .expert, case .offered = phase { phase = .connected }
    }

    // MARK: - What the client may send
    //
    // Each returns the frame to send, or nil when there is nothing to send in this phase (the caller says so).

    /// The terminal's `RequestService`, once, from `connected`.
    public mutating func request(agency: String, language: String, service: String) -> Luukku_V1_Envelope
        .OneOf_Message?
    {
        guard role == .terminal, phase == .connected else { return nil }
        phase = .requesting
        return .requestService(
            .with {
                $0.agency = agency
                $0.language = language
                $0.serviceCode = service
            })
    }

    /// The terminal's `CancelRequest` while its ticket waits or is offered. Before the ticket id is known it
    /// waits for the first `QueueStatus` (an ``Event/send(_:)``); in or after a session there is nothing to cancel.
    public mutating func cancel() -> Luukku_V1_Envelope.OneOf_Message? {
        guard role == .terminal else { return nil }
        switch phase {
        case .requesting:
            cancelPending = true
            return nil
        case .waiting, .offered:
            guard let ticket else { return nil }
            return .cancelRequest(.with { $0.ticketID = ticket })
        default:
            return nil
        }
    }

    /// This side's `Hangup`, once per session; with `session`, only if that is the one running.
    public mutating func hangUp(session only: String? = nil) -> Luukku_V1_Envelope.OneOf_Message? {
        guard let session, !hangUpSent, only == nil || only == session else { return nil }
        hangUpSent = true
        let reason: Luukku_V1_HangupReason = role == .terminal ? .customerEnded : .expertEnded
        return .hangup(
            .with {
                $0.sessionID = session
                $0.reason = reason
            })
    }

    /// The terminal's `Feedback` for the session the daemon asked about, once.
    public mutating func feedback(rating: UInt32, comment: String) -> Luukku_V1_Envelope.OneOf_Message? {
        guard let session = feedbackSession else { return nil }
        feedbackSession = nil
        return .feedback(
            .with {
                $0.sessionID = session
                $0.rating = rating
                $0.comment = comment
            })
    }

    /// The expert's `Accept` of the ringing offer, once (again after an error refused it).
    public mutating func accept() -> Luukku_V1_Envelope.OneOf_Message? {
        guard role == .expert, !offerAnswered, let ticket = offer?.ticketID else { return nil }
        offerAnswered = true
        return .accept(.with { $0.ticketID = ticket })
    }

    /// The expert's `Decline` of the ringing offer, once.
    public mutating func decline() -> Luukku_V1_Envelope.OneOf_Message? {
        guard role == .expert, !offerAnswered, let ticket = offer?.ticketID else { return nil }
        offerAnswered = true
        return .decline(.with { $0.ticketID = ticket })
    }

    /// The expert's `WrapUpDone` for the session being wrapped up, once.
    public mutating func wrapUpDone() -> Luukku_V1_Envelope.OneOf_Message? {
        guard role == .expert, !wrapUpDoneSent, let session = wrapUpSession else { return nil }
        wrapUpDoneSent = true
        return .wrapUpDone(.with { $0.sessionID = session })
    }

    /// `SetPresence{AVAILABLE}`: at login, or back from away (nil when already available).
    public func setAvailable() -> Luukku_V1_Envelope.OneOf_Message? {
        guard canSetPresence, presence != .available else { return nil }
        return .setPresence(.with { $0.presence = .available })
    }

    /// `SetPresence{AWAY, reason}` (the daemon's `NO_ANSWER` is not the expert's to choose).
    public func setAway(_ reason: Luukku_V1_AwayReason) -> Luukku_V1_Envelope.OneOf_Message? {
        guard canSetPresence, reason != .noAnswer, reason != .unspecified else { return nil }
        return .setPresence(
            .with {
                $0.presence = .away
                $0.awayReason = reason
            })
    }

    /// This client says Goodbye: nothing is carried out after it.
    public mutating func leave() {
        if !isClosed { phase = .closed(.left) }
    }
}
