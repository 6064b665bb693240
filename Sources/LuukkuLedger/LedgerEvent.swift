import Foundation
import LuukkuCore

/// Something that happened to a ticket, an offer or a session, as the ledger records it. The server writes
/// one (or a few together) and tells clients only after ``Ledger/record(_:)`` returned: the record is then on
/// disk.
///
/// Tickets and sessions are numbered by the broker within one run of the daemon; the ledger keys them by
/// (run, number), so numbers that start again after a restart never collide.
public enum LedgerEvent: Hashable, Sendable {
    case ticketOpened(TicketOpened)
    case ticketClosed(ticket: TicketID, outcome: LedgerOutcome, at: Date)
    case offerMade(ticket: TicketID, expert: ExpertID, at: Date)
    case offerAnswered(ticket: TicketID, expert: ExpertID, answer: OfferAnswer, at: Date)
    case sessionStarted(session: UInt64, ticket: TicketID, expert: ExpertID, answeredAt: Date)
    case sessionEnded(session: UInt64, outcome: LedgerOutcome, at: Date, relay: RelayStats)
    /// The customer's rating, 1 to 5, and optional comment. The comment is stored, never logged.
    case feedback(session: UInt64, score: Int, comment: String = "", at: Date)

    /// A customer's request as the service point made it.
    public struct TicketOpened: Hashable, Sendable {
        public let ticket: TicketID
        public let servicePoint: ServicePointID
        public let agency: AgencyID
        public let language: LanguageCode
        public let service: ServiceCode?
        public let requestedAt: Date

        public init(
            ticket: TicketID, servicePoint: ServicePointID, agency: AgencyID, language: LanguageCode,
            service: ServiceCode? = nil, requestedAt: Date
        ) {
            self.ticket = ticket
            self.servicePoint = servicePoint
            self.agency = agency
            self.language = language
            self.service = service
            self.requestedAt = requestedAt
        }
    }

    /// How an expert answered an offer.
    public enum OfferAnswer: String, Hashable, Sendable, CaseIterable {
        case accepted, declined
        /// The answer deadline passed.
        case noAnswer = "no-answer"
        /// The ticket closed (cancelled, expired) while the offer was open.
        case withdrawn
        /// Open when the daemon stopped without closing it (set at the next start).
        case interrupted
    }

    /// A session's media through the relay, per direction, as the relay's final snapshot gave it.
    public struct RelayStats: Hashable, Sendable {
        public var packetsToExpert: UInt64
        public var packetsToTerminal: UInt64
        /// Packets lost on the way in from each side (RFC 3550 statistics at the relay).
        public var lostFromTerminal: Int64
        public var lostFromExpert: Int64
        /// Interarrival jitter in microseconds from each side.
        public var jitterFromTerminalMicroseconds: UInt64
        public var jitterFromExpertMicroseconds: UInt64

        public init(
            packetsToExpert: UInt64 = 0, packetsToTerminal: UInt64 = 0, lostFromTerminal: Int64 = 0,
            lostFromExpert: Int64 = 0, jitterFromTerminalMicroseconds: UInt64 = 0,
            jitterFromExpertMicroseconds: UInt64 = 0
        ) {
            self.packetsToExpert = packetsToExpert
            self.packetsToTerminal = packetsToTerminal
            self.lostFromTerminal = lostFromTerminal
            self.lostFromExpert = lostFromExpert
            self.jitterFromTerminalMicroseconds = jitterFromTerminalMicroseconds
            self.jitterFromExpertMicroseconds = jitterFromExpertMicroseconds
        }
    }
}

/// How a ticket or a session ended, as two words for the ledger: an outcome and a reason.
public struct LedgerOutcome: Hashable, Sendable, CustomStringConvertible {
    public let outcome: String
    public let reason: String

    /// A ticket's or session's end from the state machines.
    public init(_ ticket: TicketOutcome) {
        switch ticket {
        case .completed(let reason): self.init(outcome: "completed", reason: Self.text(reason))
        case .cancelled(let reason): self.init(outcome: "cancelled", reason: Self.text(reason))
        case .expired: self.init(outcome: "expired", reason: "wait-limit")
        }
    }

    /// Closed by the ledger at start-up: the previous run stopped without closing it.
    public static let interrupted = LedgerOutcome(outcome: "interrupted", reason: "restart")

    init(outcome: String, reason: String) {
        self.outcome = outcome
        self.reason = reason
    }

    public var description: String { "\(outcome) (\(reason))" }

    static func text(_ reason: SessionEndReason) -> String {
        switch reason {
        case .customerEnded: "customer-ended"
        case .expertEnded: "expert-ended"
        case .connectionLost: "connection-lost"
        case .mediaTimeout: "media-timeout"
        case .operatorAction: "operator"
        case .shutdown: "shutdown"
        }
    }

    static func text(_ reason: CancelReason) -> String {
        switch reason {
        case .customer: "customer"
        case .connectionLost: "connection-lost"
        case .queueClosed: "queue-closed"
        case .operatorAction: "operator"
        }
    }
}
