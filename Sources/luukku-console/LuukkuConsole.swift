import ArgumentParser
import Dispatch
import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuMedia
import LuukkuProtocol
import NIOPosix

/// The agency expert's client: full screen on a terminal (``FullScreenConsole``), line mode for scripts
/// (``ExpertLoop``). It logs in, becomes available, shows offers and accepts them, carries the session's media
/// (camera or test pattern, through LuukkuMedia) until either side hangs up, and ends wrap-up.
@main
struct LuukkuConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukku-console",
        abstract: "The Luukku agency expert's console.",
        discussion: """
            Full screen on a terminal (keys shown at the bottom); line mode with --line, \
            --auto-accept, --hang-up-after or when stdin or stdout is not a terminal. Line-mode \
            commands on stdin, one per line: a (accept the offer), d (decline), h (hang up), \
            r (ready: end wrap-up), away, available, q (quit).

            Media (docs/media.md): the camera and microphone when there is a camera, else a blue \
            test pattern and a 1750 Hz tone; the customer large and this side small in a window, \
            and the speaker, where there is a display and a sound device (else decoded only, as \
            with --headless).

            Exit status: 0 on quit or end of input, 69 when the daemon cannot be reached, \
            77 when it refuses this expert (its certificate in the TLS handshake, an unknown or \
            revoked identity, a service point's certificate), 128+N after signal N in line mode \
            (Ctrl-C: 130).
            """)

    /// The console's test colour and tone: blue and 1750 Hz (the terminal's are green and 750 Hz).
    static let patternColor: UInt32 = 0x0000FF
    static let tone = 1_750

    @Option(help: "Expert id whose certificate to use from --certs (expert-<id>.pem/.key), e.g. kela-aino.")
    var expert: String

    @Option(help: ArgumentHelp("The daemon's address.", valueName: "host:port"))
    var daemon: String = "127.0.0.1:7400"

    @Option(help: ArgumentHelp("Folder of the development certificates.", valueName: "dir"))
    var certs: String = "certs/dev"

    @Flag(help: "Accept every offer at once.")
    var autoAccept = false

    @Option(help: "Hang up after this many seconds of media (default: wait for the customer).")
    var hangUpAfter: Int?

    @Option(
        help: ArgumentHelp("Language of the full-screen UI: fi, sv or en (default: from $LANG).", valueName: "fi|sv|en")
    )
    var lang: ConsoleLanguage?

    @Flag(help: "No colours in the full-screen UI (as does a non-empty NO_COLOR).")
    var noColor = false

    @Flag(help: "Line mode even on a terminal.")
    var line = false

    @Option(
        help: ArgumentHelp(
            "Instead of this console's own media, write an SDP for ffplay/ffmpeg to receive the customer's media (mode 0600).",
            valueName: "file"))
    var sdp: String?

    @OptionGroup(title: "Media")
    var media: MediaArguments

    func validate() throws {
        if sdp != nil, media.media == .testStream {
            throw ValidationError("--sdp and --media test-stream exclude each other")
        }
    }

    func run() async throws {
        guard let colon = daemon.lastIndex(of: ":"), let port = Int(daemon[daemon.index(after: colon)...]) else {
            throw ValidationError("--daemon must be HOST:PORT")
        }
        let identity = ClientIdentity(
            certificate: "\(certs)/expert-\(expert).pem", privateKey: "\(certs)/expert-\(expert).key",
            trustRoots: "\(certs)/ca.pem")
        let connection: ClientConnection
        do {
            connection = try await ClientConnection.connect(
                host: String(daemon[..<colon]), port: port, identity: identity, software: "luukku-console/0.6.0",
                group: MultiThreadedEventLoopGroup.singleton, media: media.capabilities(forSDP: sdp != nil))
        } catch {
            say("luukku-console: \(error)")
            switch error.code {
            case .refused, .certificateRefused: throw ExitCode(77)
            default: throw ExitCode(69)
            }
        }
        // The role comes from the certificate: a terminal's cannot log in as an expert.
        guard connection.welcome.role == .expert else {
            say(
                "luukku-console: the daemon says this certificate is a service point's (\(connection.welcome.identity)), "
                    + "not an expert's: use an expert-<id> certificate")
            await connection.goodbye()
            throw ExitCode(77)
        }
        let environment = ProcessInfo.processInfo.environment
        let fullScreen =
            !line && !autoAccept && hangUpAfter == nil && isatty(STDIN_FILENO) == 1
            && isatty(STDOUT_FILENO) == 1 && environment["TERM"] != "dumb"
        if fullScreen {
            let color = !noColor && (environment["NO_COLOR"] ?? "").isEmpty
            try await FullScreenConsole(
                connection: connection, options: self, language: lang ?? .fromEnvironment(environment), color: color
            ).run()
            return
        }
        let welcome = connection.welcome
        let skills = welcome.skills.map { "\($0.agency)/\($0.language)" }.joined(separator: ", ")
        say("logged in as \(welcome.identity) (\(welcome.displayName)), queues \(skills)")
        try await ExpertLoop(connection: connection, options: self).run()
    }
}

/// Frames, stdin lines, media results and signals in one loop.
struct ExpertLoop {
    let connection: ClientConnection
    let options: LuukkuConsole

    enum Event: Sendable {
        case frame(Luukku_V1_Envelope)
        case closed
        case line(String)
        case endOfInput
        /// A session's media ended: its outcome, which media it was, and its session.
        case media(SessionMedia.Outcome, SessionMedia, session: String)
        case tick
        case hangUpTimer(String)
        case signal(Int32)
    }

    func run() async throws {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        Task {
            while let frame = await connection.next() { sink.yield(.frame(frame)) }
            sink.yield(.closed)
        }
        Thread.detachNewThread {
            while let line = readLine() { sink.yield(.line(line.trimmingCharacters(in: .whitespaces))) }
            sink.yield(.endOfInput)
        }
        // Ctrl-C or SIGTERM: the session's media stops (and its GStreamer child), Goodbye, then exit.
        let signalSources = ClientSignals.handle { sink.yield(.signal($0)) }
        defer { for source in signalSources { source.cancel() } }
        // Where the shift stands and what may be sent: the shared client model (docs/terminal.md, "One session model").
        var shift = ClientSessionStateMachine(role: .expert)
        if let available = shift.setAvailable() { connection.send(available) }
        var media: SessionMedia?
        /// The running media's task, to wait for its end (its child reaped) before the next session's media starts.
        var mediaTask: Task<Void, Never>?
        var interrupted: Int32?
        /// Sends what the model allows; a command it does not allow now is answered here, not by the daemon.
        func send(_ message: Luukku_V1_Envelope.OneOf_Message?, or refusal: String? = nil) {
            if let message { connection.send(message) } else if let refusal { say(refusal) }
        }
        for await event in events {
            var changes: [ClientSessionStateMachine.Event] = []
            switch event {
            case .closed:
                say("luukku-console: the daemon closed the connection")
                changes = shift.connectionClosed()
            case .signal(let number):
                guard interrupted == nil else { continue }
                interrupted = number
                say("luukku-console: interrupted; logging out")
                guard let running = media else {
                    shift.leave()
                    await connection.goodbye()
                    throw ExitCode(128 + number)
                }
                running.stop(linger: .zero)  // its outcome ends the loop
            case .endOfInput where options.autoAccept:
                continue  // scripted: keep serving until the daemon goes
            case .endOfInput, .line("q"):
                if let running = media {
                    running.stop(linger: .zero)
                    interrupted = 0
                    continue
                }
                shift.leave()
                await connection.goodbye()
                return
            case .line("a"):
                send(shift.accept(), or: "no offer to accept")
            case .line("d"):
                send(shift.decline(), or: "no offer to decline")
            case .line("h"):
                send(shift.hangUp(), or: "no session to hang up")
            case .line("r"):
                send(shift.wrapUpDone(), or: shift.wrapUpSession == nil ? "not in wrap-up" : "ready already sent")
            case .line("away"):
                send(shift.setAway(.break), or: "not now: finish the offer, session or wrap-up first")
            case .line("available"):
                send(
                    shift.setAvailable(),
                    or: shift.canSetPresence
                        ? "already available" : "not now: finish the offer, session or wrap-up first")
            case .line(let other):
                if !other.isEmpty { say("unknown command '\(other)': a, d, h, r, away, available, q") }
            case .tick:
                guard let running = media else { continue }
                say(running.progressLine)
                Task {
                    try? await Task.sleep(for: .seconds(1))
                    sink.yield(.tick)
                }
            case .media(let outcome, let ended, let endedSession):
                // An earlier session's media that ended late (auto-accept took the next customer meanwhile) must
                // not clear, or hang up, the current one.
                let current = media === ended
                if current { media = nil }
                say(outcome.summary)
                if let failure = outcome.failure { say("luukku-console: media: \(failure)") }
                if let file = options.media.mediaReport {
                    do { try outcome.write(to: file) } catch { say("luukku-console: cannot write \(file): \(error)") }
                }
                if let number = interrupted, media == nil {
                    shift.leave()
                    await connection.goodbye()
                    if number == 0 { return }
                    throw ExitCode(128 + number)
                }
                // Media that failed (a busy camera) cannot carry the session: it ends.
                if current, outcome.failure != nil { send(shift.hangUp(session: endedSession)) }
            case .hangUpTimer(let id):
                send(shift.hangUp(session: id))
            case .frame(let frame):
                present(frame)
                changes = shift.received(frame)
            }
            for change in changes {
                switch change {
                case .send(let message):
                    connection.send(message)
                case .offered:
                    if options.autoAccept { send(shift.accept()) }
                case .sessionStarted(let started):
                    if let previous = media {
                        // The last session's media still lingers: it ends now, and its child with it (it may hold
                        // the camera), before this session's starts.
                        previous.stop(linger: .zero)
                        await mediaTask?.value
                        media = nil
                    }
                    media = startMedia(started, &shift, sink, &mediaTask)
                case .sessionEnded:
                    media?.stop()
                case .wrapUpStarted:
                    if options.autoAccept { send(shift.wrapUpDone()) }
                case .feedbackRequested:
                    continue  // a terminal's
                case .closed(.left):
                    return
                case .closed:
                    // The daemon sent this expert away, refused it, or went: the media ends (its child reaped).
                    media?.stop(linger: .zero)
                    await mediaTask?.value
                    throw ExitCode(69)
                }
            }
        }
    }

    /// The daemon's frame in words, one line each (scripts and the tests read them).
    private func present(_ frame: Luukku_V1_Envelope) {
        switch frame.message {
        case .presenceStatus(let status):
            say("presence: \(status.presence)" + (status.presence == .away ? " (\(status.awayReason))" : ""))
        case .queueSnapshot(let snapshot):
            let queues = snapshot.queues.map {
                "\($0.queue.agency)/\($0.queue.language): \($0.depth) waiting, oldest \($0.oldestWaitSeconds) s"
            }
            say("queues: " + queues.joined(separator: "; "))
        case .offer(let new):
            say(
                "offer \(new.ticketID): \(new.servicePointName) (\(new.servicePointID)), \(new.agency)/"
                    + "\(new.language), waited \(new.waitedSeconds) s; answer within "
                    + "\(new.answerWithinMs / 1_000) s" + (options.autoAccept ? "" : " (a / d)"))
        case .offerWithdrawn(let withdrawn):
            say("offer \(withdrawn.ticketID) withdrawn: \(withdrawn.reason)")
        case .sessionStarted(let started):
            say(
                "session \(started.sessionID) with \(started.servicePointName), \(started.language); "
                    + "media via \(started.relayHost):\(started.relayPort)")
        case .hangup(let hangup):
            say("session \(hangup.sessionID) ended: \(hangup.reason)")
        case .error(let error):
            say("error: \(error.code) \(error.message)")
        case .goodbye(let goodbye):
            say("the daemon said goodbye: \(goodbye.reason)")
        default:
            break
        }
    }

    /// The session's media (its task in `task`), or the SDP file; media that cannot start ends the session.
    private func startMedia(
        _ started: Luukku_V1_SessionStarted, _ shift: inout ClientSessionStateMachine,
        _ sink: AsyncStream<Event>.Continuation, _ task: inout Task<Void, Never>?
    ) -> SessionMedia? {
        var running: SessionMedia?
        switch ConsoleMedia.start(started, options: options) {
        case .sdp(let text):
            say(text)
        case .failed(let error):
            say("luukku-console: media cannot start (\(error)); hanging up")
            if let hangup = shift.hangUp() { connection.send(hangup) }
        case .running(let media, let notes):
            say("media: \(SessionMedia.describe(started))")
            for note in notes { say("media: \(note)") }
            running = media
            let id = started.sessionID
            task = Task { sink.yield(.media(await media.run(), media, session: id)) }
            if options.media.media == .real {
                Task {
                    try? await Task.sleep(for: .seconds(1))
                    sink.yield(.tick)
                }
            }
        }
        if let seconds = options.hangUpAfter {
            let id = started.sessionID
            Task {
                try? await Task.sleep(for: .seconds(seconds))
                sink.yield(.hangUpTimer(id))
            }
        }
        return running
    }
}

/// The session's media as the console starts it, in either mode.
enum ConsoleMedia {
    enum Started {
        case running(SessionMedia, notes: [String])
        /// `--sdp`: the file was written (or not), in words.
        case sdp(String)
        case failed(MediaError)
    }

    static func start(_ started: Luukku_V1_SessionStarted, options: LuukkuConsole) -> Started {
        if let file = options.sdp {
            do {
                let port = try SessionDescription.writeReceiver(
                    started, to: file, port: 0, title: "Luukku \(started.sessionID) \(started.servicePointName)")
                return .sdp("sdp: wrote \(file) for a receiver on port \(port)")
            } catch {
                return .sdp("luukku-console: cannot prepare the SDP: \(error)")
            }
        }
        let chosen = options.media.options(defaultColor: LuukkuConsole.patternColor, defaultTone: LuukkuConsole.tone)
        do {
            let media = try SessionMedia(started, mode: options.media.media, options: chosen.options)
            return .running(media, notes: options.media.media == .real ? chosen.notes : [])
        } catch {
            return .failed(error)
        }
    }
}

/// One line on stdout, written at once (stdout may be a pipe or a file).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
