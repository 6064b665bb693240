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
        // Where the visit stands and what may be sent: the shared client model (docs/terminal.md, "One session model").
        var visit = ClientSessionStateMachine(role: .terminal)
        if let request = visit.request(agency: options.agency, language: options.language, service: options.service) {
            connection.send(request)
        }
        if let seconds = options.cancelAfter { schedule(.cancelTimer, after: seconds, sink) }
        var media = Media()
        var completed = false  // the session ended and its FeedbackRequest was answered
        var interrupted: Int32?
        func finish(_ status: Int32) async -> Int32 {
            visit.leave()
            await connection.goodbye()
            return media.failed && status == 0 ? Exit.mediaFailed : status
        }
        func send(_ message: Luukku_V1_Envelope.OneOf_Message?) {
            guard let message else { return }
            switch message {
            case .cancelRequest(let cancel): say("cancelling \(cancel.ticketID)")
            case .hangup(let hangup): say("hanging up \(hangup.sessionID)")
            default: break
            }
            connection.send(message)
        }
        for await event in events {
            var changes: [ClientSessionStateMachine.Event] = []
            switch event {
            case .closed:
                say("luukku-terminal: the daemon closed the connection")
                if completed {
                    // The visit is over (feedback asked for): its lingering media ends now and the exit is as usual.
                    media.running?.stop(linger: .zero)
                    continue
                }
                changes = visit.connectionClosed()
            case .signal(let number):
                guard interrupted == nil else { continue }
                interrupted = number
                say("luukku-terminal: interrupted; ending the session")
                guard let running = media.running, !media.finished else {
                    visit.leave()
                    await connection.goodbye()
                    return 128 + number
                }
                running.stop(linger: .zero)  // its outcome ends the loop below
            case .cancelTimer:
                send(visit.cancel())  // before the ticket id is known, the model sends it with the first QueueStatus
            case .timeUp:
                send(visit.hangUp())
                media.running?.stop()
            case .tick:
                guard let running = media.running, !media.finished else { continue }
                say(running.progressLine)
                schedule(.tick, after: 1, sink)
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
                    visit.leave()
                    await connection.goodbye()
                    return 128 + number
                }
                send(visit.hangUp())
                if completed { return await finish(0) }
            case .frame(let frame):
                present(frame)
                changes = visit.received(frame)
            }
            for change in changes {
                switch change {
                case .send(let message):
                    send(message)
                case .sessionStarted(let started):
                    startMedia(started, &media, &visit, sink, send)
                case .sessionEnded:
                    media.running?.stop()
                case .feedbackRequested(let session):
                    if let rating = options.feedback,
                        let feedback = visit.feedback(rating: UInt32(rating), comment: options.comment)
                    {
                        connection.send(feedback)
                        say("feedback \(rating) sent for \(session)")
                    }
                case .closed(.completed):
                    completed = true
                    if media.running != nil, !media.finished { continue }  // its figures come first
                    return await finish(0)
                case .closed(.ticketClosed(let reason)):
                    media.running?.stop(linger: .zero)
                    await connection.goodbye()
                    return reason == .cancelled ? 0 : Exit.queueClosed
                case .closed(.refused(let code)):
                    media.running?.stop(linger: .zero)
                    await connection.goodbye()
                    return code == .queueClosed ? Exit.queueClosed : Exit.refused
                case .closed(.goodbye):
                    media.running?.stop(linger: .zero)
                    return Exit.queueClosed
                case .closed(.connectionLost), .closed(.left):
                    media.running?.stop(linger: .zero)
                    return Exit.unreachable
                case .offered, .wrapUpStarted:
                    continue  // an expert's
                }
            }
        }
        return Exit.unreachable
    }

    /// The daemon's frame in words, one line each (scripts and the tests read them).
    private func present(_ frame: Luukku_V1_Envelope) {
        switch frame.message {
        case .error(let error): say("luukku-terminal: the daemon refused: \(error.code) \(error.message)")
        case .queueStatus(let status): say(describe(status))
        case .ticketClosed(let closed): say("ticket \(closed.ticketID) closed: \(closed.reason)")
        case .sessionStarted(let started):
            say(
                "session \(started.sessionID) with \(started.expertDisplayName) (\(started.expertAgency)); "
                    + "media via \(started.relayHost):\(started.relayPort)")
        case .hangup(let hangup): say("the session ended: \(hangup.reason)")
        case .goodbye(let goodbye): say("the daemon said goodbye: \(goodbye.reason)")
        default: break
        }
    }

    /// The session's media, or with `--sdp` the receiver's SDP file; media that cannot start ends the session.
    private func startMedia(
        _ started: Luukku_V1_SessionStarted, _ media: inout Media, _ visit: inout ClientSessionStateMachine,
        _ sink: AsyncStream<Event>.Continuation, _ send: (Luukku_V1_Envelope.OneOf_Message?) -> Void
    ) {
        if let file = options.sdp {
            writeSDP(started, to: file)
            schedule(.timeUp, after: options.mediaSeconds, sink)
            return
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
            send(visit.hangUp())
        }
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
