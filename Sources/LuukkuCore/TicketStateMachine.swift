/// A customer's request, from the moment it is stamped until it is closed: waiting, offered, connected, and
/// then completed, cancelled or expired, with the reason kept for the ledger.
///
/// Like ``PresenceStateMachine`` it reads no clock: events carry `now`, and the expiry deadline is for the
/// server to schedule (``expiresAt``), reported back with ``expiryTimerFired(now:)``.
///
/// A declined or lapsed offer returns the ticket to `waiting` with its stamp unchanged, so the matcher puts it
/// back at its original place. A ticket that passes its wait limit while offered is not pulled from the
/// expert: the offer runs its course, and if it comes back unanswered the ticket expires then.
public struct TicketStateMachine<C: Clock>: Sendable where C.Instant: Sendable, C.Duration: Sendable {
    private enum State: Sendable {
        case waiting
        case offered(expert: ExpertID)
        case connected(expert: ExpertID)
        case closed(TicketOutcome)
    }

    public let id: TicketID
    public let createdAt: C.Instant
    /// When the ticket expires if still waiting; `nil` when waiting has no limit.
    public let expiresAt: C.Instant?
    private var state: State = .waiting

    public init(id: TicketID, createdAt: C.Instant, maxWait: C.Duration?) {
        self.id = id
        self.createdAt = createdAt
        self.expiresAt = maxWait.map { createdAt.advanced(by: $0) }
    }

    public var phase: TicketPhase {
        switch state {
        case .waiting: .waiting
        case .offered: .offered
        case .connected: .connected
        case .closed(let outcome): .closed(outcome)
        }
    }

    /// The expert the ticket is offered to or connected with.
    public var expert: ExpertID? {
        switch state {
        case .offered(let expert), .connected(let expert): expert
        case .waiting, .closed: nil
        }
    }

    /// The matcher claimed the ticket for `expert`.
    public mutating func offered(to expert: ExpertID) -> TicketAction {
        guard case .waiting = state else { return .rejected }
        state = .offered(expert: expert)
        return .none
    }

    /// The offer was declined or lapsed: back to its place, or expired if its time ran out meanwhile.
    public mutating func returned(now: C.Instant) -> TicketAction {
        guard case .offered = state else { return .rejected }
        if let expiresAt, now >= expiresAt {
            state = .closed(.expired)
            return .closed(.expired)
        }
        state = .waiting
        return .requeue
    }

    /// The expert accepted and the session started.
    public mutating func connected() -> TicketAction {
        guard case .offered(let expert) = state else { return .rejected }
        state = .connected(expert: expert)
        return .none
    }

    /// The session ended.
    public mutating func completed(_ reason: SessionEndReason) -> TicketAction {
        guard case .connected = state else { return .rejected }
        state = .closed(.completed(reason))
        return .closed(.completed(reason))
    }

    /// The customer cancelled, the connection was lost past its grace, the queue closed, or an operator
    /// removed the ticket. An offer that stands is withdrawn from its expert.
    public mutating func cancel(_ reason: CancelReason) -> TicketAction {
        switch state {
        case .waiting:
            state = .closed(.cancelled(reason))
            return .closed(.cancelled(reason))
        case .offered(let expert):
            state = .closed(.cancelled(reason))
            return .withdrawOffer(from: expert, outcome: .cancelled(reason))
        case .connected, .closed:
            return .rejected
        }
    }

    /// The expiry timer fired. Only a waiting ticket expires here; see the type's note on offered ones.
    public mutating func expiryTimerFired(now: C.Instant) -> TicketAction {
        guard case .waiting = state, let expiresAt, now >= expiresAt else { return .none }
        state = .closed(.expired)
        return .closed(.expired)
    }
}

/// Where a ticket stands.
public enum TicketPhase: Hashable, Sendable {
    case waiting, offered, connected
    case closed(TicketOutcome)
}

/// How a ticket ended; each is a ledger outcome.
public enum TicketOutcome: Hashable, Sendable {
    case completed(SessionEndReason)
    case cancelled(CancelReason)
    /// Waited past the configured limit.
    case expired
}

public enum CancelReason: Hashable, Sendable {
    /// The customer cancelled at the terminal.
    case customer
    /// The terminal's connection was lost past the resume grace period.
    case connectionLost
    /// The node is draining or stopping.
    case queueClosed
    /// An operator removed the ticket.
    case operatorAction
}

public enum SessionEndReason: Hashable, Sendable {
    case customerEnded, expertEnded, connectionLost, mediaTimeout, operatorAction, shutdown
}

/// What the server must do after a ticket event.
public enum TicketAction: Hashable, Sendable {
    case none
    /// Put the ticket back in its queue at its stamp and tell the terminal (QueueStatus).
    case requeue
    /// The ticket closed: write the outcome to the ledger and tell the terminal (TicketClosed) unless it
    /// completed a session.
    case closed(TicketOutcome)
    /// The ticket closed while offered: also withdraw the offer from that expert (OfferWithdrawn).
    case withdrawOffer(from: ExpertID, outcome: TicketOutcome)
    /// The event is not allowed in the current phase; nothing changed.
    case rejected
}
