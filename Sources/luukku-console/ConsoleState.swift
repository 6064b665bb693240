import Foundation
import LuukkuClient
import LuukkuMedia
import LuukkuProtocol

/// What the full-screen console shows, as a value: the daemon's frames and the expert's keys change it, and
/// ``ConsoleScreen`` draws it. No I/O here; times are `ContinuousClock` instants given by the caller. Where the
/// shift stands, and so which keys send what, is the shared client model's (``shift``); the rest is what the
/// screen shows of it (countdowns, figures, the last event).
struct ConsoleState {
    typealias Instant = ContinuousClock.Instant

    struct Queue: Equatable {
        var agency: String
        var language: String
        var depth: UInt32
        var oldestWaitSeconds: UInt32
        var available: UInt32
    }

    struct Offer: Equatable {
        var ticket: String
        var servicePoint: String
        var agency: String
        var language: String
        var service: String
        var waitedSeconds: UInt32
        var answerBy: Instant
        /// When it arrived, to count the customer's wait on.
        var received: Instant
    }

    struct Session: Equatable {
        var id: String
        var servicePoint: String
        var language: String
        var started: Instant
        /// The test stream's figures (`--media test-stream`), or the engine's.
        var media: MediaReport = MediaReport()
        var figures: MediaFigures?
        /// What the server chose: suite and codecs.
        var negotiated = ""
    }

    /// The expert's side of the protocol: the phase, and the frames each key may send now.
    var shift = ClientSessionStateMachine(role: .expert)
    var identity: String
    var displayName: String
    var agency: String
    var languages: [String]
    var presence: Luukku_V1_Presence = .offline
    var awayReason: Luukku_V1_AwayReason = .unspecified
    var queues: [Queue] = []
    var offer: Offer?
    var session: Session?
    /// The session that ended and is being wrapped up, and until when.
    var wrapUp: (session: String, until: Instant)?
    /// The away-reason menu is open.
    var choosingReason = false
    /// The last thing that happened, shown on the status line.
    var notice: ConsoleText?
    var noticeDetail = ""

    init(welcome: Luukku_V1_Welcome) {
        identity = welcome.identity
        displayName = welcome.displayName
        agency = welcome.skills.first?.agency ?? ""
        languages = welcome.skills.map(\.language)
    }

    /// The daemon's frame at `now`; what the console carries out (media, exit) is the model's events.
    @discardableResult
    mutating func apply(_ frame: Luukku_V1_Envelope, now: Instant) -> [ClientSessionStateMachine.Event] {
        switch frame.message {
        case .presenceStatus(let status):
            presence = status.presence
            awayReason = status.awayReason
            if status.presence == .wrapUp {
                let remaining = Duration.milliseconds(Int64(status.wrapUpRemainingMs))
                wrapUp = (session?.id ?? wrapUp?.session ?? "", now + remaining)
                // The expert's own hang-up gets no Hangup back: wrap-up is the session's end.
                if session != nil {
                    session = nil
                    if notice == nil { notice = .expertEnded }
                }
            } else {
                wrapUp = nil
            }
            if status.presence != .offered { offer = nil }
        case .queueSnapshot(let snapshot):
            queues = snapshot.queues.map {
                Queue(
                    agency: $0.queue.agency, language: $0.queue.language, depth: $0.depth,
                    oldestWaitSeconds: $0.oldestWaitSeconds, available: $0.expertsAvailable)
            }
        case .offer(let new):
            choosingReason = false  // a ringing offer is never hidden behind the menu
            offer = Offer(
                ticket: new.ticketID,
                servicePoint: new.servicePointName.isEmpty ? new.servicePointID : new.servicePointName,
                agency: new.agency, language: new.language, service: new.serviceCode, waitedSeconds: new.waitedSeconds,
                answerBy: now + .milliseconds(Int64(new.answerWithinMs)), received: now)
        case .offerWithdrawn(let withdrawn):
            if offer?.ticket == withdrawn.ticketID { offer = nil }
            notice = .offerWithdrawn
        case .sessionStarted(let started):
            offer = nil
            notice = nil
            noticeDetail = ""
            session = Session(
                id: started.sessionID,
                servicePoint: started.servicePointName.isEmpty ? started.servicePointID : started.servicePointName,
                language: started.language, started: now, negotiated: SessionMedia.describe(started))
        case .hangup(let hangup):
            if session?.id == hangup.sessionID {
                wrapUp = (hangup.sessionID, wrapUp?.until ?? now)
                session = nil
            }
            notice =
                switch hangup.reason {
                case .customerEnded: .customerEnded
                case .expertEnded: .expertEnded
                default: .sessionEnded
                }
            noticeDetail = hangup.reason == .customerEnded || hangup.reason == .expertEnded ? "" : "\(hangup.reason)"
        case .error(let error):
            notice = nil
            noticeDetail = "\(error.code): \(error.message)"
        default:
            break
        }
        return shift.received(frame)
    }

    /// The presence's entry in the text table.
    var presenceText: ConsoleText.Presence {
        switch presence {
        case .available: .available
        case .offered: .offered
        case .inSession: .inSession
        case .wrapUp: .wrapUp
        case .away: .away
        default: .offline
        }
    }

    /// The away reasons an expert may choose, in menu order (1-5), with their wire values.
    static let reasons: [(ConsoleText.AwayReason, Luukku_V1_AwayReason)] = [
        (.breakTime, .break), (.meeting, .meeting), (.backOffice, .backOffice), (.training, .training),
        (.other, .other),
    ]

    var awayReasonText: ConsoleText.AwayReason? {
        switch awayReason {
        case .break: .breakTime
        case .meeting: .meeting
        case .backOffice: .backOffice
        case .training: .training
        case .other: .other
        case .noAnswer: .noAnswer
        default: nil
        }
    }
}
