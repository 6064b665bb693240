import Foundation
import LuukkuTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// luukku-console's full-screen UI in a real terminal: tmux (a Debian package `make test` installs) runs it
/// on a pseudo-terminal, the test types keys with send-keys and reads the screen with capture-pane, while a
/// real luukku-terminal process asks for the expert.
@Suite(.serialized, .timeLimit(.minutes(2))) struct ConsoleTmuxTests {
    /// A tmux server of the test's own (`-L`), so that nothing else's sessions are touched.
    struct Tmux {
        let server = "luukku-test-\(UUID().uuidString.prefix(8))"
        let path: String

        init() throws {
            path = try #require(SDPInteropTests.which("tmux"), "tmux is not installed (make test installs it)")
        }

        @discardableResult
        func run(_ arguments: [String]) async throws -> String {
            let output = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: output) }
            let argv = [path, "-L", server] + arguments
            let status = await onThread { Self.spawnAndWait(argv, output: output.path) }
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            #expect(status == 0, "tmux \(arguments): \(text)")
            return text
        }

        /// Runs `argv` with stdout and stderr to `output` and waits for it; its exit status.
        ///
        /// posix_spawn and waitpid rather than Foundation's Process: with Process the tmux client that starts
        /// the server was left a zombie and its exit never reported (Linux, Swift 6.3). The child starts with
        /// no blocked signals and default handlers: it would otherwise inherit the test thread's blocked
        /// signals, and then the tmux server and the pane's shell ignore kill-server's SIGHUP and outlive the
        /// test.
        static func spawnAndWait(_ argv: [String], output: String) -> Int32 {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t()
            sigemptyset(&none)
            posix_spawnattr_setsigmask(&attributes, &none)
            var all = sigset_t()
            sigfillset(&all)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            var cArguments = argv.map { strdup($0) } + [nil]
            defer { for argument in cArguments { free(argument) } }
            let environment = ProcessInfo.processInfo.environment.merging(["TERM": "xterm-256color"]) { $1 }
            var cEnvironment = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { for entry in cEnvironment { free(entry) } }
            var pid: pid_t = 0
            guard posix_spawn(&pid, argv[0], &actions, &attributes, &cArguments, &cEnvironment) == 0 else {
                return -2
            }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : -3
        }

        func screen(escapes: Bool = false) async throws -> String {
            try await run(["capture-pane", "-p"] + (escapes ? ["-e"] : []) + ["-t", "console"])
        }

        /// Reads the screen until every text in `texts` is on it. tmux cannot tell when a program has drawn,
        /// so this looks again every 50 ms, for at most 20 s; the screen as last seen is in the failure.
        @discardableResult
        func waitFor(_ texts: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws -> String {
            let deadline = ContinuousClock.now + .seconds(20)
            var last = ""
            while ContinuousClock.now < deadline {
                last = try await screen()
                if texts.allSatisfy({ last.contains($0) }) { return last }
                try await Task.sleep(for: .milliseconds(50))
            }
            Issue.record("the screen never showed \(texts):\n\(last)", sourceLocation: sourceLocation)
            throw CancellationError()
        }

        func keys(_ keys: String...) async throws { try await run(["send-keys", "-t", "console"] + keys) }

        /// luukku-console as kela-aino in a `columns` x `rows` pane named `console`; when it exits, the pane
        /// shows `luukku-console exit status N` and waits.
        func startConsole(
            _ daemon: Daemon, _ options: [String], columns: Int, rows: Int, environment: String = ""
        ) async throws {
            let console = Repository.products.appendingPathComponent("luukku-console").path
            let command =
                "\(environment)\(console) --expert kela-aino --daemon 127.0.0.1:\(daemon.port) "
                + "--certs \(Daemon.certificates.path) \(options.joined(separator: " ")); "
                + "echo \"luukku-console exit status $?\"; read wait"
            try await run(["new-session", "-d", "-s", "console", "-x", "\(columns)", "-y", "\(rows)", command])
        }
    }

    @Test func anExpertTakesACustomerThroughTheFullScreenConsole() async throws {
        let daemon = try await Daemon.start()
        let tmux = try Tmux()
        // `swift test` sets NO_COLOR, which the console honours; this test wants the colours.
        // Real media both ways (test patterns, no window or speaker here): the screen shows what the console
        // decodes of the terminal's green picture and 750 Hz tone.
        try await tmux.startConsole(
            daemon, ["--lang", "en", "--headless"], columns: 100, rows: 30, environment: "env -u NO_COLOR ")
        defer { Tmux.kill(tmux.path, tmux.server) }

        // Logged in and available (the console asks for it), in colour: green on the presence line.
        try await tmux.waitFor("Expert: Aino K. (kela-aino)  kela  fi, sv", "Presence: AVAILABLE", "kela/fi")
        let coloured = try await tmux.screen(escapes: true)
        let presenceLine = coloured.split(separator: "\n").first { $0.contains("Presence: AVAILABLE") } ?? ""
        #expect(presenceLine.contains("32m"), "green: \(presenceLine.debugDescription)")
        // Away for a meeting, and back.
        try await tmux.keys("w")
        try await tmux.waitFor("Reason for away:", "2  meeting")
        try await tmux.keys("2")
        try await tmux.waitFor("Presence: AWAY (meeting)", "Keys: a available  q quit")
        try await tmux.keys("a")
        try await tmux.waitFor("Presence: AVAILABLE")

        // A real terminal asks for Kela in Finnish; the offer shows the point, the queue and the countdown.
        async let customer = daemon.runTerminal([
            "--agency", "kela", "--language", "fi", "--point", "parainen", "--service", "housing-allowance",
            "--headless", "--media-seconds", "60",
        ])
        let offer = try await tmux.waitFor(
            "CUSTOMER OFFERED", "Service point: Paraisten asiointipiste", "kela/fi  housing-allowance",
            "Answer within: ", "Keys: y accept  n decline")
        #expect(offer.contains("Presence: OFFERED"), "\(offer)")

        // Accept: the session runs with media both ways.
        try await tmux.keys("y")
        let session = try await tmux.waitFor("SESSION RUNNING", "Presence: IN SESSION", "Elapsed: 0:0")
        #expect(session.contains("Keys: h hang up"), "\(session)")
        let media = try await tmux.waitFor("  Video: in ", " fps (luma 0.4", "  Audio: in ", " packets/s (750 Hz)")
        #expect(media.contains("suite AEAD_AES_128_GCM"), "\(media)")

        // Hang up: wrap-up with its countdown; ready ends it.
        try await tmux.keys("h")
        let wrapUp = try await tmux.waitFor("WRAP-UP", " remaining", "you hung up", "Keys: r ready")
        #expect(wrapUp.contains("Presence: WRAP-UP") && !wrapUp.contains("w away"), "\(wrapUp)\n\(media)")
        let (status, output) = try await customer
        #expect(status == 0, "\(output)")
        #expect(output.contains("the session ended: expertEnded"), "\(output)")
        try await tmux.keys("r")
        try await tmux.waitFor("Presence: AVAILABLE", "Keys: a available  w away  q quit")

        // Quit: the terminal comes back from the alternate screen with the exit status.
        try await tmux.keys("q")
        let after = try await tmux.waitFor("luukku-console exit status 0")
        #expect(!after.contains("Presence:"), "the console's screen is gone:\n\(after)")

        #expect(await daemon.terminate() == 0)
        let sessions = try await daemon.ledger().sessions()
        #expect(sessions.map { "\($0.outcome ?? "open")/\($0.reason ?? "")" } == ["completed/expert-ended"])
        #expect(sessions.first?.servicePoint == "parainen" && sessions.first?.expert == "kela-aino")
    }

    @Test func aKickedConsoleLeavesTheScreenAndExits69() async throws {
        let daemon = try await Daemon.start()
        let tmux = try Tmux()
        try await tmux.startConsole(daemon, ["--lang", "sv", "--no-color"], columns: 80, rows: 13)
        defer { Tmux.kill(tmux.path, tmux.server) }
        // Swedish, no colour, in a 13-row window.
        let first = try await tmux.waitFor("Luukku – expertkonsol", "Status: LEDIG", "Tangenter: a ledig  w borta")
        #expect(!(try await tmux.screen(escapes: true)).contains("32m"), "no colour with --no-color")
        #expect(first.contains("Köer") && first.contains("kela/fi"), "\(first)")
        // The away menu is open when an operator logs the expert out. It is taller than the window: the
        // queues give way, the title and the menu stay.
        try await tmux.keys("w")
        let menu = try await tmux.waitFor("Orsak till frånvaro:", "1  paus", "5  annat", "Luukku – expertkonsol")
        // The whole table, headings included: never rows without their headings.
        #expect(!menu.contains("kela/fi") && !menu.contains("Köer") && menu.contains("Tangenter:"), "\(menu)")
        let kick = try await OperatorToolsTests.luukkuctl([
            "kick", "kela-aino", "--socket", daemon.directory.appendingPathComponent("luukkud.sock").path,
        ])
        #expect(kick.status == 0, "\(kick)")
        let after = try await tmux.waitFor("luukku-console exit status 69")
        #expect(after.contains("the daemon said goodbye: kicked") && !after.contains("Orsak"), "\(after)")
        #expect(await daemon.terminate() == 0)
    }

    @Test func lineModeWritesTheSDPForAnOutsideReceiver() async throws {
        let daemon = try await Daemon.start()
        let sdp = daemon.directory.appendingPathComponent("expert.sdp")
        let console = try RunningProcess(
            Repository.products.appendingPathComponent("luukku-console").path,
            [
                "--expert", "kela-aino", "--daemon", "127.0.0.1:\(daemon.port)", "--certs", Daemon.certificates.path,
                "--auto-accept", "--sdp", sdp.path,
            ], in: daemon.directory)
        #expect(await console.line(startingWith: "presence: available") != nil)
        // The terminal writes an SDP too: nothing sends on either side, and neither client's own media waits
        // for the other's.
        let run = try await daemon.runTerminal([
            "--agency", "kela", "--language", "fi", "--media-seconds", "1", "--sdp",
            daemon.directory.appendingPathComponent("terminal.sdp").path,
        ])
        #expect(run.status == 0, "\(run.output)")
        let wrote = await console.line(startingWith: "sdp: wrote \(sdp.path) for a receiver on port ")
        #expect(wrote != nil, "\(console.stderr)")
        let text = try String(contentsOf: sdp, encoding: .utf8)
        #expect(text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:") && text.contains("m=video "), "\(text)")
        let mode = try FileManager.default.attributesOfItem(atPath: sdp.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        _ = await console.stop()
        #expect(await daemon.terminate() == 0)
    }
}

extension ConsoleTmuxTests.Tmux {
    /// Ends the test's tmux server and whatever still runs in it.
    static func kill(_ path: String, _ server: String) {
        _ = spawnAndWait([path, "-L", server, "kill-server"], output: "/dev/null")
        // The server's socket file, which a killed server leaves behind.
        let directory = ProcessInfo.processInfo.environment["TMUX_TMPDIR"] ?? "/tmp"
        unlink("\(directory)/tmux-\(getuid())/\(server)")
    }
}
