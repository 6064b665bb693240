import Dispatch
import Foundation
import LuukkuClient
import LuukkuMedia
import LuukkuProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The terminal's side of one customer visit: request, queue, session with its media, feedback.
struct TerminalSession {
    let connection: ClientConnection
    let options: Request

    private enum Event: Sendable {
        case frame(Luukku_V1_Envelope)
        case closed
        case mediaDone(SessionMedia.Outcome)
        case cancelTimer
        case timeUp
        case tick
        case signal(Int32)
    }

    /// What the session's media is doing.
    private struct Media {
        var running: SessionMedia?
        var finished = false
        var failed = false
    }

    func run() async -> Int32 {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        let reader = Task {
            while let frame = await connection.next() { sink.yield(.frame(frame)) }
            sink.yield(.closed)
        }
        defer { reader.cancel() }
        // Ctrl-C or SIGTERM: the media stops (its child with it), the daemon is told (Goodbye ends the session as
        // the customer's), and only then does the terminal exit.
        let signalSources = ClientSignals.handle { sink.yield(.signal($0)) }
        defer { for source in signalSources { source.cancel() } }
        let requestID = connection.send(
            .requestService(
                .with {
                    $0.agency = options.agency
                    $0.language = options.language
                    $0.serviceCode = options.service
                }))
        if let seconds = options.cancelAfter {
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                sink.yield(.cancelTimer)
            }
        }
        var ticket = ""
        var media = Media()
        var sessionID = ""
        var hungUp = false
        var cancelPending = false
        var done = false  // the session ended and its FeedbackRequest was answered
        var interrupted: Int32?
        func finish(_ status: Int32) async -> Int32 {
            await connection.goodbye()
            return media.failed && status == 0 ? Exit.mediaFailed : status
        }
        for await event in events {
            switch event {
            case .closed:
                media.running?.stop(linger: .zero)
                say("luukku-terminal: the daemon closed the connection")
                return Exit.unreachable
            case .signal(let number):
                guard interrupted == nil else { continue }
                interrupted = number
                say("luukku-terminal: interrupted; ending the session")
                guard let running = media.running, !media.finished else {
                    await connection.goodbye()
                    return 128 + number
                }
                running.stop(linger: .zero)  // its outcome ends the loop below
            case .cancelTimer:
                guard sessionID.isEmpty else { continue }
                guard !ticket.isEmpty else {
                    cancelPending = true  // sent as soon as the ticket id is known
                    continue
                }
                say("cancelling \(ticket)")
                connection.send(.cancelRequest(.with { $0.ticketID = ticket }))
            case .timeUp:
                hangUp(sessionID, &hungUp)
                media.running?.stop()
            case .tick:
                guard let running = media.running, !media.finished else { continue }
                say(running.progressLine)
                let next = sink
                Task {
                    try? await Task.sleep(for: .seconds(1))
                    next.yield(.tick)
                }
            case .mediaDone(let outcome):
                media.finished = true
                say(outcome.summary)
                if let failure = outcome.failure {
                    media.failed = true
                    say("luukku-terminal: media: \(failure)")
                }
                if let file = options.media.mediaReport {
                    do { try outcome.write(to: file) } catch { say("luukku-terminal: cannot write \(file): \(error)") }
                }
                if let number = interrupted {
                    await connection.goodbye()
                    return 128 + number
                }
                hangUp(sessionID, &hungUp)
                if done { return await finish(0) }
            case .frame(let frame):
                switch frame.message {
                case .error(let error):
                    say("luukku-terminal: the daemon refused: \(error.code) \(error.message)")
                    if frame.correlationID == requestID || error.fatal {
                        await connection.goodbye()
                        return error.code == .queueClosed ? Exit.queueClosed : Exit.refused
                    }
                case .queueStatus(let status):
                    ticket = status.ticketID
                    say(describe(status))
                    if cancelPending {
                        cancelPending = false
                        say("cancelling \(ticket)")
                        connection.send(.cancelRequest(.with { $0.ticketID = ticket }))
                    }
                case .ticketClosed(let closed):
                    say("ticket \(closed.ticketID) closed: \(closed.reason)")
                    await connection.goodbye()
                    return closed.reason == .cancelled ? 0 : Exit.queueClosed
                case .sessionStarted(let started):
                    sessionID = started.sessionID
                    say(
                        "session \(started.sessionID) with \(started.expertDisplayName) (\(started.expertAgency)); "
                            + "media via \(started.relayHost):\(started.relayPort)")
                    if let file = options.sdp {
                        writeSDP(started, to: file)
                        schedule(.timeUp, after: options.mediaSeconds, sink)
                        continue
                    }
                    let chosen = options.media.options(defaultColor: Request.patternColor, defaultTone: Request.tone)
                    say("media: \(SessionMedia.describe(started))")
                    if options.media.media == .real {
                        for note in chosen.notes { say("media: \(note)") }
                    }
                    do {
                        let running = try SessionMedia(
                            started, mode: options.media.media, options: chosen.options,
                            testPackets: options.mediaSeconds * TestMedia.packetsPerSecond)
                        media.running = running
                        Task { sink.yield(.mediaDone(await running.run())) }
                        if options.media.media == .real {
                            schedule(.timeUp, after: options.mediaSeconds, sink)
                            schedule(.tick, after: 1, sink)
                        }
                    } catch {
                        media.failed = true
                        media.finished = true
                        say("luukku-terminal: media cannot start: \(error)")
                        hangUp(sessionID, &hungUp)
                    }
                case .hangup(let hangup):
                    say("the session ended: \(hangup.reason)")
                    hungUp = true
                    media.running?.stop()
                case .feedbackRequest(let request):
                    if let rating = options.feedback {
                        connection.send(
                            .feedback(
                                .with {
                                    $0.sessionID = request.sessionID
                                    $0.rating = UInt32(rating)
                                    $0.comment = options.comment
                                }))
                        say("feedback \(rating) sent for \(request.sessionID)")
                    }
                    done = true
                    if media.running != nil, !media.finished { continue }  // its figures come first
                    return await finish(0)
                case .goodbye(let goodbye):
                    media.running?.stop(linger: .zero)
                    say("the daemon said goodbye: \(goodbye.reason)")
                    return Exit.queueClosed
                default:
                    continue
                }
            }
        }
        return Exit.unreachable
    }

    private func schedule(_ event: Event, after seconds: Int, _ sink: AsyncStream<Event>.Continuation) {
        Task {
            try? await Task.sleep(for: .seconds(seconds))
            sink.yield(event)
        }
    }

    /// `--sdp`: the SDP for an outside receiver (mode 0600: it holds this side's receive key), and with
    /// `--print-send-command` the ffmpeg command that sends into the leg.
    private func writeSDP(_ started: Luukku_V1_SessionStarted, to file: String) {
        do {
            let port = try SessionDescription.writeReceiver(
                started, to: file, port: UInt16(options.sdpPort),
                title: "Luukku \(started.sessionID) with \(started.expertDisplayName)")
            say("sdp: wrote \(file) for a receiver on port \(port); for example:")
            say("  ffplay -protocol_whitelist file,udp,rtp,srtp,crypto \(file)")
            if options.printSendCommand {
                let videoType = started.sendCodecList.first { $0.kind == .video }?.payloadType ?? 96
                say(
                    "  to send instead: ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=30 -c:v libvpx "
                        + "-deadline realtime -g 10 -payload_type \(videoType) -f rtp -srtp_out_suite "
                        + "\(started.legSuite?.rawValue ?? "AES_CM_128_HMAC_SHA1_80") -srtp_out_params "
                        + "\(Data(started.outboundKey.keyAndSalt).base64EncodedString()) "
                        + "'srtp://\(started.relayHost):\(started.relayPort)?localport=\(port)'")
            }
        } catch {
            say("luukku-terminal: cannot prepare the SDP: \(error)")
        }
    }

    /// Ends the session from this side, once.
    private func hangUp(_ session: String, _ hungUp: inout Bool) {
        guard !hungUp, !session.isEmpty else { return }
        hungUp = true
        say("hanging up \(session)")
        connection.send(
            .hangup(
                .with {
                    $0.sessionID = session
                    $0.reason = .customerEnded
                }))
    }

    private func describe(_ status: Luukku_V1_QueueStatus) -> String {
        if status.offered { return "ticket \(status.ticketID): being offered to an expert" }
        // No estimate: no expert of the queue is serving (docs/protocol.md): none online, or all away.
        let estimate =
            status.hasEstimatedWaitSeconds
            ? "estimated wait \(status.estimatedWaitSeconds) s"
            : status.expertsOnline == 0
                ? "no estimate (no expert online)" : "no estimate (every expert of the queue is away)"
        return "ticket \(status.ticketID): position \(status.position), \(estimate), "
            + "\(status.expertsOnline) expert(s) online"
    }
}
