import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay

// What the broker keeps per ticket, expert and session.
extension BrokerStateMachine {
    struct TicketRecord: Sendable {
        var machine: TicketStateMachine<C>
        let party: UInt64
        let point: ServicePointID
        let queue: QueueKey
        let service: ServiceCode?
        let requestedAt: Date
        var session: UInt64?
        var lastStatus: Luukku_V1_QueueStatus?
    }

    struct ExpertRecord: Sendable {
        let config: Configuration.Expert
        let skills: [QueueKey]
        var presence: PresenceStateMachine<C>
        var party: UInt64?
        var session: UInt64?
        /// When the last session started, for the wait estimator's handling time (session plus wrap-up).
        var sessionStartedAt: C.Instant?
        var lastQueue: QueueKey?
        /// The tickets offered to this expert lately, newest last (at most ``recentOffersKept``): an Accept or
        /// Decline of one whose offer no longer stands gets OFFER_EXPIRED, not FORBIDDEN.
        var recentOffers: [TicketID] = []
        /// The session this expert is wrapping up (WrapUpDone must name it).
        var wrapUpSession: UInt64?
        var lastSnapshot: Luukku_V1_QueueSnapshot?
    }

    struct SessionRecord: Sendable {
        let id: UInt64
        let ticket: TicketID
        let expert: ExpertID
        let terminalParty: UInt64
        let queue: QueueKey
        let point: ServicePointID
        let terminalStarted: Luukku_V1_SessionStarted
        let expertStarted: Luukku_V1_SessionStarted
        let startedAt: C.Instant
    }

    /// An Accept whose legs are being opened: the offer still stands until they are.
    struct PendingAccept: Sendable {
        let ticket: TicketID
        let expert: ExpertID
        let connection: UInt64
        let correlation: UInt64
        let plan: MediaPlan
        let terminalKeys: LegKeys
        let expertKeys: LegKeys
    }

    /// An ended session whose legs are closing: its end is recorded, and `then` sent, when the relay's figures
    /// come back (``legsClosed(session:relay:)``).
    struct ClosingSession: Sendable {
        let ticket: TicketID
        let reason: SessionEndReason
        let then: [BrokerAction<C.Instant>]
    }
}
