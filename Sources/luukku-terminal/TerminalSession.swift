import Foundation
import LuukkuClient
import LuukkuProtocol

/// The terminal's side of one customer visit: request, queue, session with built-in media, feedback.
struct TerminalSession {
    let connection: ClientConnection
    let options: Request

    private enum Event: Sendable {
        case frame(Luukku_V1_Envelope)
        case closed
        case mediaDone(Result<MediaReport, MediaError>)
        case cancelTimer
        case timeUp
    }

    func run() async -> Int32 {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        let reader = Task {
            while let frame = await connection.next() { sink.yield(.frame(frame)) }
            sink.yield(.closed)
        }
        defer { reader.cancel() }
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
        var media: TestMedia?
        var mediaRunning = false
        var sessionID = ""
        var hungUp = false
        var cancelPending = false
        var done = false  // the session ended and its FeedbackRequest was answered
        for await event in events {
            switch event {
            case .closed:
                say("luukku-terminal: the daemon closed the connection")
                return Exit.unreachable
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
            case .mediaDone(let result):
                mediaRunning = false
                switch result {
                case .success(let report): say(report.description)
                case .failure(let error): say("luukku-terminal: \(error)")
                }
                hangUp(sessionID, &hungUp)
                if done {
                    await connection.goodbye()
                    return 0
                }
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
                        do {
                            let port = try SessionDescription.writeReceiver(
                                started, to: file, port: UInt16(options.sdpPort),
                                title: "Luukku \(started.sessionID) with \(started.expertDisplayName)")
                            say("sdp: wrote \(file) for a receiver on port \(port); for example:")
                            say("  ffplay -protocol_whitelist file,udp,rtp,srtp,crypto \(file)")
                            if options.printSendCommand {
                                say(
                                    "  to send instead: ffmpeg -re -f lavfi -i testsrc=size=640x360:rate=30 -c:v libvpx "
                                        + "-deadline realtime -g 10 -payload_type 96 -f rtp -srtp_out_suite "
                                        + "AES_CM_128_HMAC_SHA1_80 -srtp_out_params "
                                        + "\(Data(started.outboundKey.keyAndSalt).base64EncodedString()) "
                                        + "'srtp://\(started.relayHost):\(started.relayPort)?localport=\(port)'")
                            }
                        } catch {
                            say("luukku-terminal: cannot prepare the SDP: \(error)")
                        }
                        let seconds = options.mediaSeconds
                        Task {
                            try? await Task.sleep(for: .seconds(seconds))
                            sink.yield(.timeUp)
                        }
                        continue
                    }
                    do {
                        let stream = try TestMedia(started)
                        media = stream
                        mediaRunning = true
                        let count = options.mediaSeconds * TestMedia.packetsPerSecond
                        Task {
                            do throws(MediaError) {
                                sink.yield(.mediaDone(.success(try await stream.stream(count: count))))
                            } catch {
                                sink.yield(.mediaDone(.failure(error)))
                            }
                        }
                    } catch {
                        say("luukku-terminal: media cannot start: \(error)")
                        hangUp(sessionID, &hungUp)
                    }
                case .hangup(let hangup):
                    say("the session ended: \(hangup.reason)")
                    hungUp = true
                    media?.stop()
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
                    if mediaRunning { continue }  // its figures come first
                    await connection.goodbye()
                    return 0
                case .goodbye(let goodbye):
                    say("the daemon said goodbye: \(goodbye.reason)")
                    return Exit.queueClosed
                default:
                    continue
                }
            }
        }
        return Exit.unreachable
    }

    /// Ends the session from this side, once.
    private func hangUp(_ session: String, _ hungUp: inout Bool) {
        guard !hungUp else { return }
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
        let estimate =
            status.hasEstimatedWaitSeconds
            ? "estimated wait \(status.estimatedWaitSeconds) s" : "no estimate (no expert online)"
        return "ticket \(status.ticketID): position \(status.position), \(estimate), "
            + "\(status.expertsOnline) expert(s) online"
    }
}
