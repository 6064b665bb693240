import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuMedia
import LuukkuProtocol
import LuukkuTestSupport
import NIOPosix
import Testing

/// Real two-way media through a real luukkud (issue 13): a real luukku-terminal and a real luukku-console, each
/// with its GStreamer child sending a test pattern of its own colour and a tone of its own frequency (the
/// terminal green and 750 Hz, the console blue and 1750 Hz), headless. What each side decodes is read from its
/// `--media-report`: `videoanalyse`'s luma of every decoded frame and `spectrum`'s loudest band of every 100 ms.
@Suite(.serialized, .timeLimit(.minutes(5))) struct RealMediaTests {
    /// videoanalyse's average luma of the console's blue and of the terminal's green after VP8 (BT.601).
    static let blueLuma = 0.16
    static let greenLuma = 0.44

    struct Session {
        var terminal: MediaFigures
        var expert: MediaFigures
        var terminalOutput: String
        var consoleOutput: String
        var terminalStatus: Int32
    }

    static let console = Repository.products.appendingPathComponent("luukku-console").path
    static let terminal = Repository.products.appendingPathComponent("luukku-terminal").path

    /// A console (kela-aino, auto-accept) serving `daemonPort`, headless at 320x240, writing its report to `report`.
    static func startConsole(
        _ daemon: Daemon, port: Int? = nil, report: String, _ extra: [String] = [], environment: [String: String] = [:]
    ) throws -> RunningProcess {
        try RunningProcess(
            console,
            [
                "--expert", "kela-aino", "--daemon", "127.0.0.1:\(port ?? daemon.port)", "--certs",
                Daemon.certificates.path, "--auto-accept", "--headless", "--video-size", "320x240", "--media-report",
                report,
            ] + extra, in: daemon.directory, environment: environment)
    }

    static func startTerminal(
        _ daemon: Daemon, port: Int? = nil, seconds: Int, report: String, _ extra: [String] = [],
        environment: [String: String] = [:]
    ) throws -> RunningProcess {
        try RunningProcess(
            terminal,
            [
                "request", "--daemon", "127.0.0.1:\(port ?? daemon.port)", "--certs", Daemon.certificates.path,
                "--agency", "kela", "--language", "fi", "--headless", "--video-size", "320x240", "--media-seconds",
                "\(seconds)", "--media-report", report,
            ] + extra, in: daemon.directory, environment: environment)
    }

    static func figures(_ file: String) throws -> MediaFigures {
        try JSONDecoder().decode(MediaFigures.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
    }

    /// One whole session of `seconds`: the console logs in, the terminal asks for Kela in Finnish and hangs up at
    /// the end, the console's media ends with the session and the console is stopped (SIGTERM).
    static func session(
        _ daemon: Daemon, seconds: Int, terminal: [String] = [], expert: [String] = [], terminalPort: Int? = nil,
        consolePort: Int? = nil, environment: [String: String] = [:]
    ) async throws -> Session {
        let name = UUID().uuidString
        let expertReport = daemon.directory.appendingPathComponent("expert-\(name).json").path
        let terminalReport = daemon.directory.appendingPathComponent("terminal-\(name).json").path
        let console = try startConsole(
            daemon, port: consolePort, report: expertReport, expert, environment: environment)
        try #require(await console.line(startingWith: "presence: available") != nil, "\(console.stderr)")
        let customer = try startTerminal(
            daemon, port: terminalPort, seconds: seconds, report: terminalReport, terminal, environment: environment)
        let status = await customer.exitStatus()
        // The console's media ends with the session (Hangup from the terminal); its summary is the last media line.
        let summary = await console.line(startingWith: "media: video sent")
        console.signal(SIGTERM)
        _ = await console.exitStatus()
        try #require(summary != nil, "console:\n\(console.output)\n\(console.stderr)\nterminal:\n\(customer.output)")
        return Session(
            terminal: try figures(terminalReport), expert: try figures(expertReport), terminalOutput: customer.output,
            consoleOutput: console.output, terminalStatus: status)
    }

    /// The daemon's /metrics port, from its start-up line.
    static func metricsPort(_ daemon: Daemon) async throws -> Int {
        let line = try #require(await daemon.line(startingWith: "luukkud: metrics on http://127.0.0.1:"))
        return try #require(Int(line.split(separator: ":").last?.split(separator: "/").first ?? ""))
    }

    // MARK: Two-way

    @Test(arguments: [
        ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_80"), ("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"),
    ])
    func eachSideDecodesTheOthersPictureAndSoundThroughTheDaemon(terminalSuite: String, expertSuite: String)
        async throws
    {
        let daemon = try await Daemon.start()
        let metrics = try await Self.metricsPort(daemon)
        let run = try await Self.session(
            daemon, seconds: 10, terminal: ["--srtp-suites", terminalSuite], expert: ["--srtp-suites", expertSuite])
        let (t, e) = (run.terminal, run.expert)
        let context = "terminal: \(t.summary)\nexpert: \(e.summary)\n\(run.terminalOutput)"
        #expect(run.terminalStatus == 0, "\(context)")
        // Each leg on the suite its party offered; the relay re-protects between them.
        #expect(t.suite == terminalSuite && e.suite == expertSuite, "\(context)")
        #expect(run.terminalOutput.contains("media: suite \(terminalSuite); sends VP8/90000 (pt 96), opus/48000/2"))
        #expect(t.error == nil && e.error == nil, "\(context)")
        // Ten seconds at 30 frames per second: most of them went out (startup and the hang-up take a little).
        #expect(t.videoFramesSent > 240 && e.videoFramesSent > 240, "\(context)")
        // Pictures: at least 95 % of the frames the other side sent were decoded, in the other side's colour.
        #expect(Double(t.framesDecoded(nearLuma: Self.blueLuma)) >= 0.95 * Double(e.videoFramesSent), "\(context)")
        #expect(Double(e.framesDecoded(nearLuma: Self.greenLuma)) >= 0.95 * Double(t.videoFramesSent), "\(context)")
        #expect(t.framesDecoded(nearLuma: Self.greenLuma) == 0 && e.framesDecoded(nearLuma: Self.blueLuma) == 0)
        // Sound: 100 ms spectra whose loudest band is the other side's tone cover at least 95 % of the 20 ms
        // Opus packets it sent.
        #expect(Double(t.audioIntervals(atHertz: 1_750) * 5) >= 0.95 * Double(e.audioPacketsSent), "\(context)")
        #expect(Double(e.audioIntervals(atHertz: 750) * 5) >= 0.95 * Double(t.audioPacketsSent), "\(context)")
        // No SRTP failure at either client nor on either relay leg.
        #expect(t.authenticationFailures == 0 && e.authenticationFailures == 0)
        let (samples, _) = OperatorToolsTests.parsePrometheus(try await OperatorToolsTests.scrape(port: metrics))
        #expect(samples["luukku_srtp_auth_failures_total"] == 0, "\(samples)")
        // Both ways: ten seconds of 30 frames and 50 Opus packets a second, in and out of the relay.
        #expect((samples["luukku_relay_packets_total{direction=\"out\"}"] ?? 0) > 1_000, "\(samples)")
        #expect(await daemon.terminate() == 0)
        let sessions = try await daemon.ledger().sessions()
        #expect(sessions.map(\.reason) == ["customer-ended"])
    }

    // MARK: Key frames

    /// A receiver that starts 3.5 s late (the terminal) and one that loses 5 % of its packets for 2.5 s (the
    /// console) have a picture again at the next key frame, which comes at most every 30 frames (one second).
    /// The disturbances end between two key frames (they come about every whole second from the start).
    @Test func aLateOrLossyReceiverHasAPictureAgainWithinTwoSeconds() async throws {
        let daemon = try await Daemon.start()
        let run = try await Self.session(
            daemon, seconds: 8, terminal: ["--impair", "late=3.5s"], expert: ["--impair", "loss=5%,at=3s,for=2.5s"])
        let (t, e) = (run.terminal, run.expert)
        let context =
            "terminal: \(t.summary) \(t.recoveryMediaMilliseconds) \(t.recoveryWallMilliseconds)\n"
            + "expert: \(e.summary) \(e.recoveryMediaMilliseconds) \(e.recoveryWallMilliseconds)"
        print(context)
        // Key frames at least every 30 frames from both senders.
        #expect(t.longestKeyFrameGap <= 30 && e.longestKeyFrameGap <= 30, "\(context)")
        #expect(t.videoKeyFramesSent >= 6 && e.videoKeyFramesSent >= 6, "\(context)")
        // The late receiver threw away its first 3.5 s, then decoded from the next key frame on: the media between
        // its first packet and that key frame is under 2 s, and it decodes the expert's blue picture after it.
        #expect(t.impaired > 0, "\(context)")
        let late = try #require(t.recoveryMediaMilliseconds.first, "\(context)")
        #expect(late <= 2_000, "\(context)")
        #expect(t.recoveryWallMilliseconds.count == 1, "\(context)")
        #expect((t.firstPictureMilliseconds ?? 0) >= 3_500, "\(context)")
        #expect(t.framesDecoded(nearLuma: Self.blueLuma) >= 60, "\(context)")
        // The lossy receiver lost packets for 2.5 s, then had a picture again at the next key frame.
        #expect(e.impaired > 0, "\(context)")
        let lossy = try #require(e.recoveryMediaMilliseconds.first, "\(context)")
        #expect(lossy <= 2_000, "\(context)")
        #expect(e.recoveryWallMilliseconds.count == 1, "\(context)")
        #expect(e.framesDecoded(nearLuma: Self.greenLuma) >= 120, "\(context)")
        #expect(await daemon.terminate() == 0)
    }

    // MARK: Negotiation

    /// A party with no suite or codec in common with the service is refused with NO_COMMON_MEDIA before any offer:
    /// a real luukku-terminal offering only AEAD_AES_256_GCM, a client that cannot send VP8, an expert that
    /// cannot receive Opus. Each refusal is counted and logged; no ticket is opened.
    @Test func noCommonSuiteOrCodecIsRefusedBeforeAnyOffer() async throws {
        let daemon = try await Daemon.start()
        let metrics = try await Self.metricsPort(daemon)
        let expert = try await daemon.connect("expert-kela-bjorn")
        try await expert.becomeAvailable()

        let refused = try await daemon.runTerminal([
            "--agency", "kela", "--language", "sv", "--srtp-suites", "AEAD_AES_256_GCM", "--headless",
        ])
        #expect(refused.status == 77, "\(refused.output)")
        #expect(refused.output.contains("noCommonMedia"), "\(refused.output)")
        #expect(refused.output.contains("no SRTP suite in common (the service allows AEAD_AES_128_GCM"))

        // A terminal that sends H.264 only.
        let h264 = MediaCodec(kind: .video, name: "H264", clockRate: 90_000, payloadType: 102)
        let noVP8 = try await daemon.connect(
            "terminal-mikkeli",
            media: MediaCapabilities(send: [h264, .opus()], receive: [.vp8(), .opus()], suites: [.aeadAES128GCM]))
        let correlation = noVP8.requestService("kela", "sv")
        let error = try await noVP8.expectError()
        #expect(error.code == .noCommonMedia && !error.fatal)
        #expect(
            error.message
                == "no media in common with the service (cannot send VP8/90000 (video), which the service requires)")
        _ = correlation
        await noVP8.goodbye()

        // An expert console that cannot receive Opus cannot become available.
        let deaf = try await daemon.connect(
            "expert-kela-aino",
            media: MediaCapabilities(send: [.vp8(), .opus()], receive: [.vp8()], suites: [.aesCM128HMACSHA1_80]))
        deaf.send(.setPresence(.with { $0.presence = .available }))
        let deafError = try await deaf.expectError()
        #expect(deafError.code == .noCommonMedia)
        #expect(deafError.message.contains("cannot receive opus/48000/2 (audio)"), "\(deafError.message)")
        await deaf.goodbye()

        let (samples, _) = OperatorToolsTests.parsePrometheus(try await OperatorToolsTests.scrape(port: metrics))
        #expect(samples["luukku_media_refusals_total{role=\"terminal\",reason=\"suite\"}"] == 1, "\(samples)")
        #expect(samples["luukku_media_refusals_total{role=\"terminal\",reason=\"codec\"}"] == 1, "\(samples)")
        #expect(samples["luukku_media_refusals_total{role=\"expert\",reason=\"codec\"}"] == 1, "\(samples)")
        await expert.goodbye()
        #expect(await daemon.terminate() == 0)
        #expect(daemon.log.contains("request refused: no media in common"), "\(daemon.log)")
        #expect(daemon.log.contains("available refused: no media in common"), "\(daemon.log)")
        // Nothing was offered: not a ticket in the ledger.
        #expect(try await daemon.ledger().tickets().isEmpty)
    }

    // MARK: Child processes

    /// kill -9 of a client mid-session leaves no gst-launch of it running; Ctrl-C (SIGINT) of the other ends
    /// its session and its child in order.
    @Test func noGStreamerChildOutlivesItsClient() async throws {
        let daemon = try await Daemon.start { tree in
            var server = tree["server"] as! [String: Any]
            server["timeouts"] = ["offerAnswer": 20, "wrapUp": 1, "resumeGrace": 1, "drain": 60]
            tree["server"] = server
        }
        let name = UUID().uuidString
        let console = try Self.startConsole(
            daemon, report: daemon.directory.appendingPathComponent("expert-\(name).json").path)
        try #require(await console.line(startingWith: "presence: available") != nil, "\(console.stderr)")
        let customer = try Self.startTerminal(
            daemon, seconds: 120, report: daemon.directory.appendingPathComponent("terminal-\(name).json").path)
        // Media flows both ways once each side prints a line with pictures decoded.
        #expect(await customer.line(containing: "fps (luma ") != nil, "\(customer.output)")
        #expect(await console.line(containing: "fps (luma ") != nil, "\(console.output)")
        let terminalChildren = Self.gstreamerChildren(of: customer.pid)
        let consoleChildren = Self.gstreamerChildren(of: console.pid)
        #expect(terminalChildren.count == 1 && consoleChildren.count == 1, "\(terminalChildren) \(consoleChildren)")

        customer.signal(SIGKILL)
        _ = await customer.exitStatus()
        #expect(await Self.ended(terminalChildren), "gst-launch of the killed terminal still runs")
        // The console's session ends (the terminal's connection is lost past its grace), and its child with it.
        #expect(await console.line(startingWith: "session s-1 ended: connectionLost") != nil, "\(console.output)")
        #expect(await Self.ended(consoleChildren), "gst-launch of the console still runs after the session")

        // A second session, and Ctrl-C at the console: it logs out in order, its child ends, exit 130.
        let second = try Self.startTerminal(
            daemon, seconds: 120, report: daemon.directory.appendingPathComponent("second-\(name).json").path)
        #expect(await console.line(startingWith: "session s-2 ") != nil, "\(console.output)")
        let earlier = console.lines(containing: "fps (luma ")
        #expect(await console.line(containing: "fps (luma ", after: earlier) != nil, "\(console.output)")
        let secondChildren = Self.gstreamerChildren(of: console.pid)
        #expect(secondChildren.count == 1, "\(secondChildren)")
        console.signal(SIGINT)
        #expect(await console.exitStatus() == 130, "\(console.output)")
        defer { second.signal(SIGKILL) }
        #expect(await Self.ended(secondChildren), "gst-launch of the interrupted console still runs")
        #expect(await second.line(startingWith: "the session ended: expertEnded") != nil, "\(second.output)")
        _ = await second.exitStatus()
        #expect(await daemon.terminate() == 0)
    }

    // MARK: Keys

    /// The session keys of both legs appear in no process's arguments or environment while the media runs, in
    /// no output of either client, and in no file of the test's folder (the daemon's ledger and log, the
    /// clients' reports and stderr) or of the clients' TMPDIR and HOME. The test learns the keys through a TLS
    /// proxy in front of each client (``KeyCapturingProxy``): nothing else could tell it.
    @Test func sessionKeysAppearInNoArgumentOutputOrFile() async throws {
        let daemon = try await Daemon.start()
        let terminalProxy = try await KeyCapturingProxy(daemonPort: daemon.port, identity: "terminal-parainen")
        let consoleProxy = try await KeyCapturingProxy(daemonPort: daemon.port, identity: "expert-kela-aino")
        let scratch = daemon.directory.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let environment = ["TMPDIR": scratch.path, "HOME": scratch.path]
        let name = UUID().uuidString
        let console = try Self.startConsole(
            daemon, port: consoleProxy.port,
            report: daemon.directory.appendingPathComponent("expert-\(name).json").path,
            environment: environment)
        try #require(await console.line(startingWith: "presence: available") != nil, "\(console.stderr)")
        let customer = try Self.startTerminal(
            daemon, port: terminalProxy.port, seconds: 6,
            report: daemon.directory.appendingPathComponent("terminal-\(name).json").path, environment: environment)
        #expect(await customer.line(containing: "fps (luma ") != nil, "\(customer.output)")
        #expect(await console.line(containing: "fps (luma ") != nil, "\(console.output)")
        // While the media runs: every process's arguments, and the clients' and their children's environments.
        var processes = ""
        let ours =
            [customer.pid, console.pid] + Self.gstreamerChildren(of: customer.pid)
            + Self.gstreamerChildren(of: console.pid)
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry) else { continue }
            processes += (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            if ours.contains(pid) {
                processes += (try? String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8)) ?? ""
            }
        }
        #expect(processes.contains("gst-launch-1.0"), "the snapshot saw the GStreamer children")
        #expect(await customer.exitStatus() == 0, "\(customer.output)")
        #expect(await console.line(startingWith: "media: video sent") != nil, "\(console.output)")
        console.signal(SIGTERM)
        _ = await console.exitStatus()
        #expect(await daemon.terminate() == 0)
        await terminalProxy.close()
        await consoleProxy.close()

        let started = terminalProxy.sessions + consoleProxy.sessions
        try #require(started.count == 2, "one SessionStarted each")
        let keys = started.flatMap { [[UInt8]($0.outboundKey.keyAndSalt), [UInt8]($0.inboundKey.keyAndSalt)] }
        #expect(Set(keys).count == 4 && keys.allSatisfy { $0.count >= 28 })
        let outputs = customer.output + customer.stderr + console.output + console.stderr
        #expect(outputs.contains("media: video sent"), "the outputs were read")
        var files: [String: [UInt8]] = [:]
        for case let file as URL in FileManager.default.enumerator(
            at: daemon.directory, includingPropertiesForKeys: nil)!
        {
            if let data = try? Data(contentsOf: file) { files[file.path] = [UInt8](data) }
        }
        #expect(files.keys.contains { $0.hasSuffix("ledger.sqlite") } && files.keys.contains { $0.hasSuffix(".json") })
        for key in keys {
            for form in Self.encodings(of: key) {
                #expect(!processes.contains(form), "a key in a process's arguments or environment")
                #expect(!outputs.contains(form), "a key in a client's output")
                for (path, bytes) in files where String(decoding: bytes, as: UTF8.self).contains(form) {
                    Issue.record("a key in \(path)")
                }
            }
            for (path, bytes) in files where Self.contains(bytes, key.prefix(16)) {
                Issue.record("key bytes in \(path)")
            }
        }
    }

    /// A key as text might carry it: base64 of key and salt, of the key alone, hex in both cases.
    static func encodings(of key: [UInt8]) -> [String] {
        let master = Array(key.prefix(16))
        let hex = key.map { String(format: "%02x", $0) }.joined()
        let masterHex = master.map { String(format: "%02x", $0) }.joined()
        return [
            Data(key).base64EncodedString(), String(Data(key).base64EncodedString().prefix(20)),
            Data(master).base64EncodedString(), hex, hex.uppercased(), masterHex, masterHex.uppercased(),
        ]
    }

    static func contains(_ haystack: [UInt8], _ needle: ArraySlice<UInt8>) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle.first!
        for start in 0...(haystack.count - needle.count) where haystack[start] == first {
            if haystack[start..<(start + needle.count)].elementsEqual(needle) { return true }
        }
        return false
    }

    /// The gst-launch-1.0 processes whose parent is `pid` (read from /proc).
    static func gstreamerChildren(of pid: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { pid_t($0) }.filter { child in
            guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, pid_t(fields[1]) == pid else { return false }
            let command = (try? String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8)) ?? ""
            return command.contains("gst-launch-1.0")
        }
    }

    /// Whether every process of `pids` has ended (gone, or a zombie no one has reaped yet), waiting up to 10 s,
    /// looking every 50 ms (a process that is not our child gives no event to wait on).
    static func ended(_ pids: [pid_t]) async -> Bool {
        for _ in 0..<200 {
            let running = pids.filter { pid in
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                    let close = stat.lastIndex(of: ")")
                else { return false }
                return stat[stat.index(after: close)...].split(separator: " ").first != "Z"
            }
            if running.isEmpty { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }
}
