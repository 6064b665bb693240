import ArgumentParser
import Dispatch
import Foundation
import LuukkuClient
import LuukkuMedia
import LuukkuProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// The full-screen console: frames, keys, a one-second tick and window resizes in one loop that updates a
/// ``ConsoleState`` and redraws it with ``ConsoleScreen``. The terminal is restored however the loop ends.
struct FullScreenConsole {
    let connection: ClientConnection
    let options: LuukkuConsole
    let language: ConsoleLanguage
    let color: Bool

    enum Event: Sendable {
        case frame(Luukku_V1_Envelope)
        case closed
        case key(UInt8)
        case tick
        case resize
        /// A session's media ended: its outcome, which media it was, and its session.
        case mediaDone(SessionMedia.Outcome, SessionMedia, session: String)
    }

    func run() async throws {
        let terminal = try RawTerminal()
        defer { terminal.restore() }
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        Task {
            while let frame = await connection.next() { sink.yield(.frame(frame)) }
            sink.yield(.closed)
        }
        Thread.detachNewThread {
            var byte: UInt8 = 0
            while read(STDIN_FILENO, &byte, 1) == 1 { sink.yield(.key(byte)) }
        }
        let ticks = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                sink.yield(.tick)
            }
        }
        defer { ticks.cancel() }
        signal(SIGWINCH, SIG_IGN)
        let resize = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
        resize.setEventHandler { sink.yield(.resize) }
        resize.resume()
        defer { resize.cancel() }

        var state = ConsoleState(welcome: connection.welcome)
        var media: SessionMedia?
        /// Waits for the running media's end (its GStreamer child reaped) before the console exits.
        var mediaEnded: Task<Void, Never>?
        var size = RawTerminal.size
        func draw() {
            let screen = ConsoleScreen(language: language, color: color, width: size.width, height: size.height)
            terminal.write(screen.frame(state, now: .now))
        }
        if let available = state.shift.setAvailable() { connection.send(available) }
        draw()
        for await event in events {
            var changes: [ClientSessionStateMachine.Event] = []
            switch event {
            case .closed:
                changes = state.shift.connectionClosed()
            case .tick:
                if let running = media, state.session != nil {
                    if let report = running.testReport { state.session?.media = report }
                    state.session?.figures = running.figures
                }
            case .resize:
                size = RawTerminal.size
                terminal.write("\u{1B}[2J")
            case .mediaDone(let outcome, let ended, let endedSession):
                // A late end of an earlier session's media neither clears nor hangs up the current one.
                guard media === ended else { continue }
                media = nil
                state.noticeDetail = outcome.failure.map { "media: \($0)" } ?? outcome.summary
                if let file = options.media.mediaReport { try? outcome.write(to: file) }
                if outcome.failure != nil, let hangup = state.shift.hangUp(session: endedSession) {
                    connection.send(hangup)
                }
            case .key(let key):
                if try await handle(key, &state) {
                    media?.stop(linger: .zero)
                    await mediaEnded?.value
                    return
                }
            case .frame(let frame):
                changes = state.apply(frame, now: .now)
            }
            for change in changes {
                switch change {
                case .send(let message):
                    connection.send(message)
                case .sessionStarted(let started):
                    if let previous = media {
                        // The last session's media still lingers: it ends first (its child may hold the camera).
                        previous.stop(linger: .zero)
                        await mediaEnded?.value
                    }
                    media = startMedia(started, &state)
                    if let running = media {
                        let id = started.sessionID
                        mediaEnded = Task { sink.yield(.mediaDone(await running.run(), running, session: id)) }
                    }
                case .sessionEnded:
                    media?.stop()
                case .offered, .wrapUpStarted, .feedbackRequested:
                    break  // shown by the state; the expert answers with a key
                case .closed(let closure):
                    media?.stop(linger: .zero)
                    await mediaEnded?.value
                    terminal.restore()
                    // As in line mode: the daemon went or sent this expert away (kicked, revoked, shutdown): exit 69.
                    switch closure {
                    case .goodbye(let reason): say("luukku-console: the daemon said goodbye: \(reason)")
                    case .refused: say("luukku-console: the daemon refused: \(state.noticeDetail)")
                    default: say("luukku-console: \(ConsoleText.daemonClosed.text(language))")
                    }
                    throw ExitCode(69)
                }
            }
            draw()
        }
    }

    /// One key; true when the console should quit.
    private func handle(_ key: UInt8, _ state: inout ConsoleState) async throws -> Bool {
        // Quitting works in the menu too.
        if state.choosingReason, ![UInt8(ascii: "q"), 3, 4].contains(key) {
            state.choosingReason = false
            if let digit = Int(String(UnicodeScalar(key))), (1...ConsoleState.reasons.count).contains(digit) {
                if let away = state.shift.setAway(ConsoleState.reasons[digit - 1].1) { connection.send(away) }
            }
            return false
        }
        var message: Luukku_V1_Envelope.OneOf_Message?
        switch key {
        case UInt8(ascii: "q"), 3, 4:  // q, Ctrl-C, Ctrl-D
            state.shift.leave()
            await connection.goodbye()
            return true
        case UInt8(ascii: "a"):
            message = state.shift.setAvailable()
        case UInt8(ascii: "w"):
            // The daemon refuses away with an offer, in a session and in wrap-up: the menu does not open then.
            state.choosingReason = state.shift.canSetPresence
        case UInt8(ascii: "y"), 13:
            message = state.shift.accept()
        case UInt8(ascii: "n"):
            message = state.shift.decline()
        case UInt8(ascii: "h"):
            message = state.shift.hangUp()
        case UInt8(ascii: "r"):
            message = state.shift.wrapUpDone()
        default:
            break
        }
        if let message { connection.send(message) }
        return false
    }

    /// The session's media, or the SDP file for ffmpeg/GStreamer with `--sdp`.
    private func startMedia(_ started: Luukku_V1_SessionStarted, _ state: inout ConsoleState) -> SessionMedia? {
        switch ConsoleMedia.start(started, options: options) {
        case .running(let media, let notes):
            state.noticeDetail = notes.joined(separator: "; ")
            return media
        case .sdp(let text):
            state.notice = .sdpWritten
            state.noticeDetail = text
            return nil
        case .failed(let error):
            state.noticeDetail = "media: \(error)"
            if let hangup = state.shift.hangUp() { connection.send(hangup) }
            return nil
        }
    }
}
