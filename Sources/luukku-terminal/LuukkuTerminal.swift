import ArgumentParser
import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuMedia
import LuukkuProtocol
import NIOPosix

/// The reference service-point terminal (docs/terminal.md): asks for an agency in a language, prints the
/// queue position and estimate as they change, then runs the session's media and sends feedback.
@main
struct LuukkuTerminal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukku-terminal",
        abstract: "The reference Luukku service-point video terminal.",
        discussion: """
            Exit status: 0 after a session (or a cancel), 64 for bad usage, 69 when the \
            daemon cannot be reached, 70 when the session ran but its media failed (a busy \
            camera, no GStreamer), 75 when the queue closed or the ticket was closed by the \
            server, 77 when the daemon refused this terminal (its certificate in the TLS \
            handshake, an unknown or revoked identity, an expert's certificate) or its request \
            (NO_COMMON_MEDIA among them), 128+N after signal N (Ctrl-C: 130).
            """,
        subcommands: [Request.self]
    )
}

enum Exit {
    static let unreachable: Int32 = 69
    static let mediaFailed: Int32 = 70
    static let queueClosed: Int32 = 75
    static let refused: Int32 = 77
}

struct Request: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Request an agency in a language, wait in the queue, run the session.",
        discussion: """
            Example: luukku-terminal request --agency kela --language sv --point parainen --feedback 5

            Media (docs/media.md): the camera and microphone when there is a camera, else a green \
            test pattern and a 750 Hz tone; a window with the expert large and this side small, \
            and the speaker, where there is a display and a sound device (else decoded only, as \
            with --headless). Figures are printed once a second.
            """)

    /// The terminal's test colour and tone: green and 750 Hz (the console's are blue and 1750 Hz), so that each
    /// side's figures show whose picture and sound it decodes.
    static let patternColor: UInt32 = 0x00C000
    static let tone = 750

    @Option(help: "Agency id from the catalogue, e.g. kela, vero, poliisi.")
    var agency: String

    @Option(help: "Language code the customer is served in: fi, sv or en.")
    var language: String

    @Option(help: "Optional service card code of the agency, e.g. housing-allowance.")
    var service: String = ""

    @Option(help: ArgumentHelp("The daemon's address.", valueName: "host:port"))
    var daemon: String = "127.0.0.1:7400"

    @Option(help: "Service point whose certificate to use from --certs (terminal-<point>.pem/.key).")
    var point: String = "parainen"

    @Option(help: ArgumentHelp("Folder of the development certificates (certs/make-dev-certs).", valueName: "dir"))
    var certs: String = "certs/dev"

    @Option(
        help: ArgumentHelp("This terminal's certificate instead of --certs/terminal-<point>.pem.", valueName: "pem"))
    var certificate: String?

    @Option(help: ArgumentHelp("This terminal's key instead of --certs/terminal-<point>.key.", valueName: "pem"))
    var key: String?

    @Option(
        help: ArgumentHelp("The CA that signed the daemon's certificate instead of --certs/ca.pem.", valueName: "pem"))
    var ca: String?

    @Option(help: "Seconds of media before this terminal hangs up (with --media test-stream: 50 packets/s each way).")
    var mediaSeconds: Int = 10

    @OptionGroup(title: "Media")
    var media: MediaArguments

    @Option(
        help: ArgumentHelp(
            "Instead of this terminal's own media, write an SDP for ffplay/ffmpeg to receive the expert's media (the session then lasts --media-seconds).",
            valueName: "file"))
    var sdp: String?

    @Option(help: "Local UDP port the --sdp receiver listens on (0: a free one).")
    var sdpPort: Int = 0

    @Flag(help: "With --sdp, also print the ffmpeg command that sends to the relay (it holds this side's send key).")
    var printSendCommand = false

    @Option(help: "Rate the session 1-5 when the daemon asks for feedback.")
    var feedback: Int?

    @Option(help: "A comment with the feedback (stored in the ledger, never logged).")
    var comment: String = ""

    @Option(help: "Give up waiting and cancel the request after this many seconds.")
    var cancelAfter: Int?

    func validate() throws {
        if let feedback, !(1...5).contains(feedback) { throw ValidationError("--feedback must be 1 to 5") }
        guard mediaSeconds >= 1 else { throw ValidationError("--media-seconds must be at least 1") }
        guard daemonEndpoint != nil else { throw ValidationError("--daemon must be HOST:PORT") }
        guard (0...65_535).contains(sdpPort) else { throw ValidationError("--sdp-port must be 0 to 65535") }
        if sdp != nil, media.media == .testStream {
            throw ValidationError("--sdp and --media test-stream exclude each other")
        }
    }

    var daemonEndpoint: (String, Int)? {
        guard let colon = daemon.lastIndex(of: ":"), let port = Int(daemon[daemon.index(after: colon)...]) else {
            return nil
        }
        return (String(daemon[..<colon]), port)
    }

    func run() async throws {
        let (host, port) = daemonEndpoint!
        let identity = ClientIdentity(
            certificate: certificate ?? "\(certs)/terminal-\(point).pem",
            privateKey: key ?? "\(certs)/terminal-\(point).key",
            trustRoots: ca ?? "\(certs)/ca.pem")
        let group = MultiThreadedEventLoopGroup.singleton
        let connection: ClientConnection
        do {
            connection = try await ClientConnection.connect(
                host: host, port: port, identity: identity, software: "luukku-terminal/0.6.0", group: group,
                media: media.capabilities(forSDP: sdp != nil), uiLanguage: language)
        } catch {
            say("luukku-terminal: \(error)")
            switch error.code {
            case .refused, .certificateRefused: throw ExitCode(Exit.refused)
            default: throw ExitCode(Exit.unreachable)
            }
        }
        let welcome = connection.welcome
        guard welcome.role == .terminal else {
            say(
                "luukku-terminal: the daemon says this certificate is an expert's (\(welcome.identity)), not a service "
                    + "point's: use a terminal-<point> certificate")
            await connection.goodbye()
            throw ExitCode(Exit.refused)
        }
        say(
            "connected to \(host):\(port) as \(welcome.identity) (\(welcome.displayName)), protocol v\(welcome.protocolVersion)"
        )
        let session = TerminalSession(connection: connection, options: self)
        let status = await session.run()
        if status != 0 { throw ExitCode(status) }
    }
}

func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
