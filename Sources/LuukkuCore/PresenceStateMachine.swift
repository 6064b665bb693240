/// An agency expert's presence: offline, available, offered, in session, wrap-up, away (with a reason).
///
/// A value-type state machine: every event is a `mutating func` that returns what the server must do
/// (``PresenceAction``). It reads no clock: each event carries `now`, and timers are actions with a deadline
/// that the server schedules and later reports back as an event (``offerTimedOut(ticket:now:)``,
/// ``wrapUpTimedOut(now:)``). Generic over `Clock` so tests drive it with a manual clock's instants.
///
/// Rules (docs/protocol.md, "Expert: login to wrap-up" and "Decline and no answer"):
/// - after login the expert is away until it asks to be available;
/// - an offer must be accepted before its deadline; a decline or a lapsed offer gives the ticket back, and
///   after ``PresencePolicy/maxMissedOffers`` in a row the expert goes away (ring-no-answer);
/// - after a session comes wrap-up, which ends when the expert says so or its time runs out;
/// - presence can be set only between tasks: not while offered, in session or in wrap-up.
public struct PresenceStateMachine<C: Clock>: Sendable where C.Instant: Sendable, C.Duration: Sendable {
    private enum State: Sendable {
        case offline
        case available(since: C.Instant)
        case offered(ticket: TicketID, deadline: C.Instant)
        case inSession(ticket: TicketID)
        case wrapUp(until: C.Instant)
        case away(reason: AwayReason, since: C.Instant)
    }

    private var state: State = .offline
    /// Declined or unanswered offers since the last accepted one.
    private var missedOffers = 0
    public let policy: PresencePolicy<C.Duration>

    public init(policy: PresencePolicy<C.Duration>) {
        self.policy = policy
    }

    /// The presence as shown to the expert and to operators.
    public var presence: ExpertPresence {
        switch state {
        case .offline: .offline
        case .available: .available
        case .offered: .offered
        case .inSession: .inSession
        case .wrapUp: .wrapUp
        case .away: .away
        }
    }

    /// Why the expert is away, when away.
    public var awayReason: AwayReason? {
        if case .away(let reason, _) = state { return reason }
        return nil
    }

    /// Since when an available expert has been idle: the matcher offers a new ticket to the longest idle.
    public var availableSince: C.Instant? {
        if case .available(let since) = state { return since }
        return nil
    }

    /// When the standing offer lapses; `nil` without an offer.
    public var offerDeadline: C.Instant? {
        if case .offered(_, let deadline) = state { return deadline }
        return nil
    }

    /// When wrap-up ends unless the expert ends it first; `nil` outside wrap-up.
    public var wrapUpUntil: C.Instant? {
        if case .wrapUp(let until) = state { return until }
        return nil
    }

    /// The ticket offered to or served by the expert, if any.
    public var ticket: TicketID? {
        switch state {
        case .offered(let ticket, _), .inSession(let ticket): ticket
        case .offline, .available, .wrapUp, .away: nil
        }
    }

    // MARK: Events from the expert's connection

    /// The expert's console connected and was authenticated.
    public mutating func loggedIn(now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .offline = state else { return .rejected(.invalidTransition) }
        state = .away(reason: .unspecified, since: now)
        missedOffers = 0
        return .changed(.away)
    }

    /// `SetPresence{AVAILABLE}`.
    public mutating func setAvailable(now: C.Instant) -> PresenceAction<C.Instant> {
        switch state {
        case .available:
            return .none
        case .away:
            state = .available(since: now)
            missedOffers = 0
            return .changed(.available)
        case .offline, .offered, .inSession, .wrapUp:
            return .rejected(.invalidTransition)
        }
    }

    /// `SetPresence{AWAY, reason}`.
    public mutating func setAway(reason: AwayReason, now: C.Instant) -> PresenceAction<C.Instant> {
        switch state {
        case .available:
            state = .away(reason: reason, since: now)
            return .changed(.away)
        case .away(let current, _) where current == reason:
            return .none
        case .away:
            state = .away(reason: reason, since: now)
            return .changed(.away)
        case .offline, .offered, .inSession, .wrapUp:
            return .rejected(.invalidTransition)
        }
    }

    /// `Accept{ticket}`.
    public mutating func accept(ticket: TicketID, now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .offered(let offered, let deadline) = state else { return .rejected(.noOffer) }
        guard offered == ticket else { return .rejected(.noOffer) }
        guard now < deadline else { return missed(ticket: ticket, now: now, lapsed: true) }
        state = .inSession(ticket: ticket)
        missedOffers = 0
        return .connect(ticket: ticket)
    }

    /// `Decline{ticket}`.
    public mutating func decline(ticket: TicketID, now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .offered(let offered, _) = state, offered == ticket else { return .rejected(.noOffer) }
        return missed(ticket: ticket, now: now, lapsed: false)
    }

    /// `WrapUpDone`.
    public mutating func wrapUpDone(now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .wrapUp = state else { return .rejected(.invalidTransition) }
        state = .available(since: now)
        return .changed(.available)
    }

    /// The connection was closed or lost past its grace period, or the expert was kicked.
    public mutating func loggedOut() -> PresenceAction<C.Instant> {
        let previous = state
        state = .offline
        switch previous {
        case .offline: return .none
        case .offered(let ticket, _): return .loggedOut(returnTicket: ticket, endSession: nil)
        case .inSession(let ticket): return .loggedOut(returnTicket: nil, endSession: ticket)
        case .available, .wrapUp, .away: return .loggedOut(returnTicket: nil, endSession: nil)
        }
    }

    // MARK: Events from the broker

    /// The matcher reserved this expert for `ticket`.
    public mutating func offer(ticket: TicketID, now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .available = state else { return .rejected(.notAvailable) }
        let deadline = now.advanced(by: policy.answerTimeout)
        state = .offered(ticket: ticket, deadline: deadline)
        return .offer(ticket: ticket, answerBy: deadline)
    }

    /// The customer cancelled or left while the offer stood.
    public mutating func offerWithdrawn(ticket: TicketID, now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .offered(let offered, _) = state, offered == ticket else { return .none }
        state = .available(since: now)
        return .withdrawn(ticket: ticket)
    }

    /// The offer timer scheduled by ``PresenceAction/offer(ticket:answerBy:)`` fired. Stale timers (the
    /// offer was already answered or withdrawn) are ignored.
    public mutating func offerTimedOut(ticket: TicketID, now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .offered(let offered, let deadline) = state, offered == ticket, now >= deadline else {
            return .none
        }
        return missed(ticket: ticket, now: now, lapsed: true)
    }

    /// The session ended (either side hung up, or media timed out): wrap-up starts.
    public mutating func sessionEnded(now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .inSession = state else { return .rejected(.invalidTransition) }
        let until = now.advanced(by: policy.wrapUpDuration)
        state = .wrapUp(until: until)
        return .wrapUp(until: until)
    }

    /// The wrap-up timer fired; stale timers are ignored.
    public mutating func wrapUpTimedOut(now: C.Instant) -> PresenceAction<C.Instant> {
        guard case .wrapUp(let until) = state, now >= until else { return .none }
        state = .available(since: now)
        return .changed(.available)
    }

    private mutating func missed(ticket: TicketID, now: C.Instant, lapsed: Bool) -> PresenceAction<C.Instant> {
        missedOffers += 1
        if missedOffers >= policy.maxMissedOffers {
            state = .away(reason: .noAnswer, since: now)
            missedOffers = 0
            return .missed(ticket: ticket, lapsed: lapsed, now: .away)
        }
        state = .available(since: now)
        return .missed(ticket: ticket, lapsed: lapsed, now: .available)
    }
}

/// An expert's presence as shown to the expert, to operators and in metrics.
public enum ExpertPresence: Hashable, Sendable {
    case offline, available, offered, inSession, wrapUp, away
}

/// Why an expert is away. `noAnswer` is set by the server (ring-no-answer); the others by the expert.
public enum AwayReason: Hashable, Sendable {
    case unspecified, breakTime, meeting, backOffice, training, other, noAnswer
}

/// Timeouts and counts of the presence rules; from configuration.
public struct PresencePolicy<Duration: DurationProtocol & Sendable>: Sendable {
    /// How long an expert has to accept an offer.
    public var answerTimeout: Duration
    /// Wrap-up time after each session.
    public var wrapUpDuration: Duration
    /// Declined or lapsed offers in a row after which the expert is set away (ring-no-answer); at least 1.
    public var maxMissedOffers: Int

    public init(answerTimeout: Duration, wrapUpDuration: Duration, maxMissedOffers: Int) {
        precondition(maxMissedOffers >= 1, "maxMissedOffers must be at least 1")
        self.answerTimeout = answerTimeout
        self.wrapUpDuration = wrapUpDuration
        self.maxMissedOffers = maxMissedOffers
    }
}

/// What the server must do after a presence event.
public enum PresenceAction<Instant: InstantProtocol & Sendable>: Hashable, Sendable {
    /// Nothing changed (a repeated request, or a stale timer).
    case none
    /// The presence changed; tell the expert (PresenceStatus) and update the matcher.
    case changed(ExpertPresence)
    /// Send the Offer and schedule the answer timer for `answerBy`.
    case offer(ticket: TicketID, answerBy: Instant)
    /// The expert accepted: cancel the offer timer, allocate relay legs, start the session.
    case connect(ticket: TicketID)
    /// The offer was declined (`lapsed == false`) or not answered in time: give the ticket back to its place,
    /// send OfferWithdrawn when it lapsed, and tell the expert its new presence (`now`).
    case missed(ticket: TicketID, lapsed: Bool, now: ExpertPresence)
    /// The customer left: send OfferWithdrawn; the expert is available again.
    case withdrawn(ticket: TicketID)
    /// Wrap-up started: tell the expert and schedule the wrap-up timer.
    case wrapUp(until: Instant)
    /// The expert went offline: give back an offered ticket, end a running session.
    case loggedOut(returnTicket: TicketID?, endSession: TicketID?)
    /// The event is not allowed now; the state is unchanged.
    case rejected(PresenceRejection)
}

/// Why a presence event was refused; the server maps these to INVALID_PRESENCE / OFFER_EXPIRED.
public enum PresenceRejection: Hashable, Sendable {
    /// The presence cannot be changed in the current state.
    case invalidTransition
    /// Accept or Decline for a ticket that is not offered to this expert (any more).
    case noOffer
    /// The matcher tried to offer to an expert who is not available: the claim must be backed out.
    case notAvailable
}
