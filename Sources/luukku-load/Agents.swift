import CRelayIO
import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuMedia
import LuukkuProtocol
import NIOConcurrencyHelpers
import NIOPosix

/// How an expert behaves: at once (benchmarks: accept, hang up and finish wrap-up without delay), or as a
/// person on a compressed day (handling times, wrap-up, declines, breaks).
enum ExpertBehaviour: Sendable {
    case immediate
    case day(DayProfile, compress: Double, seed: UInt64)
}

/// Whether the run is ending: experts hang up running sessions, customers cancel.
final class StopFlag: Sendable {
    private let box = NIOLockedValueBox(false)
    var isSet: Bool { box.withLockedValue { $0 } }
    func set() { box.withLockedValue { $0 = true } }
}

/// One expert's console: available, answers offers, ends sessions, wrap-up, breaks.
struct ExpertAgent {
    let connection: ClientConnection
    /// Sessions whose Hangup this expert's session task sent, for the loop to forget.
    let ended = NIOLockedValueBox<Set<String>>([])
    let behaviour: ExpertBehaviour
    let tally: Tally
    let stop: StopFlag
    let media: Bool

    func run() async {
        var draw = Draw(random: SplitMix(seed: 1))
        var profile: DayProfile?
        var compress = 1.0
        if case .day(let day, let factor, let seed) = behaviour {
            profile = day
            compress = factor
            draw = Draw(random: SplitMix(seed: seed))
        }
        let connection = self.connection
        connection.send(.setPresence(.with { $0.presence = .available }))
        var lastSession = ""
        var running: [String: Task<Void, Never>] = [:]
        // A break is asked for when WrapUpDone made the expert available: an offer may come in the same step
        // (the protocol has no way from wrap-up straight to away), and the break's SetPresence is then refused:
        // the expert serves that customer first. This loop alone sends and answers it, so there is no race.
        let wantsBreak = NIOLockedValueBox(false)
        var breakAsked: UInt64?
        let pause = profile.map { $0.breakMinutes * 60 / compress } ?? 0
        while let frame = await connection.next() {
            switch frame.message {
            case .offer(let offer):
                tally.offered(ticket: offer.ticketID, nanos: luukku_monotonic_ns())
                if let profile, draw.unit() < profile.declineProbability, !stop.isSet {
                    tally.update { $0.declined += 1 }
                    connection.send(.decline(.with { $0.ticketID = offer.ticketID }))
                } else {
                    connection.send(.accept(.with { $0.ticketID = offer.ticketID }))
                }
            case .sessionStarted(let started):
                lastSession = started.sessionID
                let seconds =
                    profile.map {
                        draw.logNormal(mean: $0.handlingMinutesMean, sigma: $0.handlingSigma) * 60 / compress
                    } ?? 0
                let stop = self.stop
                let media = self.media
                let ended = self.ended
                running[started.sessionID] = Task {
                    let stream = media ? (try? TestMedia(started)) : nil
                    let streaming = stream.map { stream in Task { _ = try? await stream.stream(count: nil) } }
                    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64(seconds * 1_000)))
                    while ContinuousClock.now < deadline, !stop.isSet, !Task.isCancelled {
                        try? await Task.sleep(for: min(.milliseconds(200), deadline - ContinuousClock.now))
                    }
                    stream?.stop()
                    _ = await streaming?.value
                    // Cancelled: the daemon ended the session itself (its Hangup came); nothing to hang up.
                    guard !Task.isCancelled else { return }
                    connection.send(
                        .hangup(
                            .with {
                                $0.sessionID = started.sessionID
                                $0.reason = .expertEnded
                            }))
                    ended.withLockedValue { _ = $0.insert(started.sessionID) }
                }
            case .hangup(let hangup):
                running.removeValue(forKey: hangup.sessionID)?.cancel()
            case .presenceStatus(let status):
                switch status.presence {
                case .wrapUp:
                    let session = lastSession
                    let wrap = profile.map { $0.wrapUpSeconds / compress } ?? 0
                    if profile.map({ draw.unit() < $0.breakProbability }) ?? false {
                        wantsBreak.withLockedValue { $0 = true }
                    }
                    Task {
                        if wrap > 0 { try? await Task.sleep(for: .milliseconds(Int64(wrap * 1_000))) }
                        connection.send(.wrapUpDone(.with { $0.sessionID = session }))
                    }
                case .available where wantsBreak.withLockedValue({ $0 }) && !stop.isSet:
                    wantsBreak.withLockedValue { $0 = false }
                    breakAsked = connection.send(
                        .setPresence(
                            .with {
                                $0.presence = .away
                                $0.awayReason = .break
                            }))
                case .away where status.awayReason == .break && frame.correlationID == breakAsked:
                    breakAsked = nil
                    Task {
                        try? await Task.sleep(for: .milliseconds(Int64(pause * 1_000)))
                        if !stop.isSet { connection.send(.setPresence(.with { $0.presence = .available })) }
                    }
                case .away where status.awayReason == .noAnswer && !stop.isSet:
                    connection.send(.setPresence(.with { $0.presence = .available }))
                default: break
                }
            case .error(let error) where error.code == .invalidPresence && frame.correlationID == breakAsked:
                breakAsked = nil  // offered before the break began: served first
            case .error(let error) where error.code == .offerExpired || error.code == .unknownSession:
                // The customer gave up as the expert accepted, or the session ended as the expert hung up.
                tally.update { $0.crossed += 1 }
            case .error(let error):
                tally.error("expert: \(error.code)")
            default: break
            }
            // Sessions this expert hung up itself (the daemon sends no Hangup back for those).
            for id in ended.withLockedValue({ finished in
                defer { finished.removeAll() }; return finished
            }) {
                running[id] = nil
            }
            if stop.isSet, running.isEmpty { break }
        }
        for task in running.values { await task.value }
    }
}

/// One customer at a terminal: connects (its own kiosk connection), asks, waits (and perhaps gives up), is
/// served, and leaves. What it was told goes into the tally.
struct Customer {
    let identity: ClientIdentity
    let host: String
    let port: Int
    let agency: String
    let language: String
    /// Real seconds before giving up while waiting; nil: never.
    let patience: Double?
    let tally: Tally
    let stop: StopFlag
    let media: Bool

    func run() async {
        let connection: ClientConnection
        do {
            connection = try await ClientConnection.connect(
                host: host, port: port, identity: identity, software: "luukku-load/0.1",
                group: MultiThreadedEventLoopGroup.singleton)
        } catch {
            tally.error("terminal connect: \(error.code)")
            return
        }
        let sent = luukku_monotonic_ns()
        let correlation = connection.send(
            .requestService(
                .with {
                    $0.agency = agency; $0.language = language
                }))
        tally.update { $0.requested += 1 }
        var ticket: String?
        var session: String?
        var giveUp: Task<Void, Never>?
        var mediaTask: Task<Void, Never>?
        var stream: TestMedia?
        let stop = self.stop
        let patience = self.patience
        loop: while let frame = await connection.next() {
            switch frame.message {
            case .queueStatus(let status) where ticket == nil && frame.correlationID == correlation:
                ticket = status.ticketID
                tally.requested(ticket: status.ticketID, sentNanos: sent)
                tally.update { $0.told.tickets[status.ticketID] = "open" }
                let id = status.ticketID
                giveUp = Task {
                    let deadline = ContinuousClock.now.advanced(by: .milliseconds(Int64((patience ?? 1e9) * 1_000)))
                    while ContinuousClock.now < deadline, !stop.isSet, !Task.isCancelled {
                        try? await Task.sleep(for: min(.milliseconds(200), deadline - ContinuousClock.now))
                    }
                    guard !Task.isCancelled else { return }
                    connection.send(.cancelRequest(.with { $0.ticketID = id }))
                }
            case .sessionStarted(let started):
                giveUp?.cancel()
                session = started.sessionID
                let waited = (luukku_monotonic_ns() - sent) / 1_000_000
                tally.update { state in
                    state.answered += 1
                    state.waits.record(waited)
                    state.told.sessions[started.sessionID] = .init(ticket: started.ticketID, end: "open")
                }
                if media, let test = try? TestMedia(started) {
                    stream = test
                    mediaTask = Task { _ = try? await test.stream(count: nil) }
                }
            case .hangup(let hangup):
                stream?.stop()
                _ = await mediaTask?.value
                let end = "completed/\(Self.ledgerReason(hangup.reason))"
                tally.update { state in
                    state.completed += 1
                    state.told.sessions[hangup.sessionID]?.end = end
                    if let ticket { state.told.tickets[ticket] = end }
                }
            case .feedbackRequest:
                break loop
            case .ticketClosed(let closed):
                giveUp?.cancel()
                let end = Self.ledgerEnd(closed.reason)
                tally.update { state in
                    if closed.reason == .cancelled { state.abandoned += 1 }
                    state.told.tickets[closed.ticketID] = end
                }
                break loop
            case .error(let error) where error.code == .tooManyRequests:
                tally.update { $0.throttled += 1 }  // the point has its open tickets already: not served now
                break loop
            case .error(let error) where error.code == .unknownTicket && session != nil:
                break  // the cancel crossed the session's start: the session goes on
            case .error(let error):
                tally.error("terminal: \(error.code)")
                if ticket == nil { break loop }
            default: break
            }
        }
        giveUp?.cancel()
        await connection.goodbye()
    }

    static func ledgerReason(_ reason: Luukku_V1_HangupReason) -> String {
        switch reason {
        case .customerEnded: "customer-ended"
        case .expertEnded: "expert-ended"
        case .connectionLost: "connection-lost"
        case .mediaTimeout: "media-timeout"
        case .operator: "operator"
        case .shutdown: "shutdown"
        default: "unspecified"
        }
    }

    /// A ticket closed without a session, as the ledger writes its end.
    static func ledgerEnd(_ reason: Luukku_V1_TicketCloseReason) -> String {
        reason == .expired ? "expired/wait-limit" : "cancelled/\(ledgerReason(reason))"
    }

    static func ledgerReason(_ reason: Luukku_V1_TicketCloseReason) -> String {
        switch reason {
        case .cancelled: "customer"
        case .queueClosed: "queue-closed"
        case .connectionLost: "connection-lost"
        case .operator: "operator"
        case .expired: "wait-limit"
        default: "unspecified"
        }
    }
}
