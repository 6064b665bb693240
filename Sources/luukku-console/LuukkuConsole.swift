import ArgumentParser
import Foundation
import LuukkuClient
import LuukkuProtocol
import NIOPosix

/// The agency expert's client, line mode (issue 5's part; issue 6 adds the full-screen UI on the same client
/// library). It logs in, becomes available, shows offers and accepts them (with --auto-accept, or `a` / `d` on
/// stdin), carries the session's built-in test media until either side hangs up, and ends wrap-up.
@main
struct LuukkuConsole: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukku-console",
        abstract: "The Luukku agency expert's console (line mode).",
        discussion: """
            Commands on stdin, one per line: a (accept the offer), d (decline), h (hang up), \\
            r (ready: end wrap-up), away, available, q (quit).

            Exit status: 0 on quit or end of input, 69 when the daemon cannot be reached, \\
            77 when it refuses this expert.
            """)

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
            "Instead of the built-in test media, write an SDP for ffplay/ffmpeg to receive the customer's media (mode 0600).",
            valueName: "file"))
    var sdp: String?

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
                host: String(daemon[..<colon]), port: port, identity: identity, software: "luukku-console/0.5.0",
                group: MultiThreadedEventLoopGroup.singleton)
        } catch {
            say("luukku-console: \(error)")
            if case .refused = error.code { throw ExitCode(77) }
            throw ExitCode(69)
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
        connection.send(.setPresence(.with { $0.presence = .available }))
        try await ExpertLoop(connection: connection, options: self).run()
    }
}

/// Frames, stdin lines and media results in one loop.
struct ExpertLoop {
    let connection: ClientConnection
    let options: LuukkuConsole

    enum Event: Sendable {
        case frame(Luukku_V1_Envelope)
        case closed
        case line(String)
        case endOfInput
        case media(String)
        case hangUpTimer(String)
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
        var offer: String?
        var session: String?
        var media: TestMedia?
        for await event in events {
            switch event {
            case .closed:
                say("luukku-console: the daemon closed the connection")
                throw ExitCode(69)
            case .endOfInput where options.autoAccept:
                continue  // scripted: keep serving until the daemon goes
            case .endOfInput, .line("q"):
                await connection.goodbye()
                return
            case .line("a"):
                if let offer { connection.send(.accept(.with { $0.ticketID = offer })) }
            case .line("d"):
                if let offer { connection.send(.decline(.with { $0.ticketID = offer })) }
            case .line("h"):
                if let session {
                    connection.send(
                        .hangup(
                            .with {
                                $0.sessionID = session; $0.reason = .expertEnded
                            }))
                }
            case .line("r"):
                connection.send(.wrapUpDone(.with { $0.sessionID = session ?? "" }))
            case .line("away"):
                connection.send(
                    .setPresence(
                        .with {
                            $0.presence = .away; $0.awayReason = .break
                        }))
            case .line("available"):
                connection.send(.setPresence(.with { $0.presence = .available }))
            case .line(let other):
                if !other.isEmpty { say("unknown command '\(other)': a, d, h, r, away, available, q") }
            case .media(let report):
                say(report)
            case .hangUpTimer(let id):
                if session == id {
                    connection.send(
                        .hangup(
                            .with {
                                $0.sessionID = id; $0.reason = .expertEnded
                            }))
                }
            case .frame(let frame):
                switch frame.message {
                case .presenceStatus(let status):
                    say("presence: \(status.presence)" + (status.presence == .away ? " (\(status.awayReason))" : ""))
                    if status.presence == .wrapUp, options.autoAccept {
                        connection.send(.wrapUpDone(.with { $0.sessionID = session ?? "" }))
                    }
                case .queueSnapshot(let snapshot):
                    let queues = snapshot.queues.map {
                        "\($0.queue.agency)/\($0.queue.language): \($0.depth) waiting, oldest \($0.oldestWaitSeconds) s"
                    }
                    say("queues: " + queues.joined(separator: "; "))
                case .offer(let new):
                    offer = new.ticketID
                    say(
                        "offer \(new.ticketID): \(new.servicePointName) (\(new.servicePointID)), \(new.agency)/"
                            + "\(new.language), waited \(new.waitedSeconds) s; answer within "
                            + "\(new.answerWithinMs / 1_000) s" + (options.autoAccept ? "" : " (a / d)"))
                    if options.autoAccept { connection.send(.accept(.with { $0.ticketID = new.ticketID })) }
                case .offerWithdrawn(let withdrawn):
                    say("offer \(withdrawn.ticketID) withdrawn: \(withdrawn.reason)")
                    offer = nil
                case .sessionStarted(let started):
                    session = started.sessionID
                    offer = nil
                    say(
                        "session \(started.sessionID) with \(started.servicePointName), \(started.language); "
                            + "media via \(started.relayHost):\(started.relayPort)")
                    if let file = options.sdp {
                        do {
                            let port = try SessionDescription.writeReceiver(
                                started, to: file, port: 0,
                                title: "Luukku \(started.sessionID) \(started.servicePointName)")
                            say("sdp: wrote \(file) for a receiver on port \(port)")
                        } catch {
                            say("luukku-console: cannot prepare the SDP: \(error)")
                        }
                    } else {
                        do {
                            let stream = try TestMedia(started)
                            media = stream
                            Task {
                                do throws(MediaError) {
                                    sink.yield(.media(try await stream.stream(count: nil, linger: .zero).description))
                                } catch {
                                    sink.yield(.media("media: \(error)"))
                                }
                            }
                        } catch {
                            say("luukku-console: media cannot start (\(error)); hanging up")
                            connection.send(
                                .hangup(
                                    .with {
                                        $0.sessionID = started.sessionID; $0.reason = .expertEnded
                                    }))
                        }
                    }
                    if let seconds = options.hangUpAfter {
                        let id = started.sessionID
                        Task {
                            try? await Task.sleep(for: .seconds(seconds))
                            sink.yield(.hangUpTimer(id))
                        }
                    }
                case .hangup(let hangup):
                    say("session \(hangup.sessionID) ended: \(hangup.reason)")
                    media?.stop()
                case .error(let error):
                    say("error: \(error.code) \(error.message)")
                case .goodbye(let goodbye):
                    say("the daemon said goodbye: \(goodbye.reason)")
                default:
                    continue
                }
            }
        }
    }
}

/// One line on stdout, written at once (stdout may be a pipe or a file).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
