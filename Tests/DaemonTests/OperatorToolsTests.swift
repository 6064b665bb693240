import Foundation
import LuukkuClient
import LuukkuMedia
import LuukkuProtocol
import LuukkuTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// luukkuctl, the reports and /metrics against a real daemon, after real sessions between luukku-terminal
/// processes and an expert; and the status socket's levels with a peer that is not root.
@Suite(.serialized, .timeLimit(.minutes(3))) struct OperatorToolsTests {
    /// Runs luukkuctl (as `user:group` through setpriv when given) and returns its exit status and stdout.
    static func luukkuctl(_ arguments: [String], as credentials: (uid: Int, gid: Int)? = nil) async throws -> (
        status: Int32, output: String, error: String
    ) {
        let luukkuctl = Repository.products.appendingPathComponent("luukkuctl").path
        guard let credentials else { return try await runProcess(luukkuctl, arguments) }
        return try await runProcess(
            "/usr/bin/setpriv",
            ["--reuid=\(credentials.uid)", "--regid=\(credentials.gid)", "--clear-groups", luukkuctl] + arguments)
    }

    /// An expert that takes `count` customers one after the other: accept, send test media until the
    /// customer hangs up, end the wrap-up at once.
    static func serve(_ expert: ClientConnection, customers count: Int) async throws {
        for _ in 0..<count {
            let offer = try await expert.expectOffer()
            expert.send(.accept(.with { $0.ticketID = offer.ticketID }))
            let started = try await expert.expectSessionStarted()
            let media = try TestMedia(started)
            let streaming = Task { try await media.stream(count: nil, linger: .zero) }
            let hangup = try await expert.expectHangup()
            media.stop()
            _ = try await streaming.value
            #expect(hangup.reason == .customerEnded)
            _ = try await expert.expectPresence(.wrapUp)
            expert.send(.wrapUpDone(.with { $0.sessionID = started.sessionID }))
            _ = try await expert.expectPresence(.available)
        }
    }

    /// GET /metrics over a plain TCP socket; the body of the answer.
    static func scrape(port: Int) async throws -> String {
        let answer = await onThread { () -> String in
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard connected == 0 else { return "connect failed: \(errno)" }
            return exchange(fd, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        }
        let parts = answer.components(separatedBy: "\r\n\r\n")
        try #require(parts.count == 2, "\(answer.prefix(300))")
        #expect(parts[0].hasPrefix("HTTP/1.1 200 OK"), "\(parts[0])")
        #expect(parts[0].lowercased().contains("content-type: text/plain; version=0.0.4"), "\(parts[0])")
        return parts[1]
    }

    /// Parses the Prometheus text format (version 0.0.4): `# HELP`/`# TYPE` comments and `name{labels} value`
    /// samples. Records an issue for any other line; returns the samples by their series (`name{labels}`).
    static func parsePrometheus(_ text: String) -> (samples: [String: Double], types: [String: String]) {
        var samples: [String: Double] = [:]
        var types: [String: String] = [:]
        let label = #"[a-zA-Z_][a-zA-Z0-9_]*="[^"\\]*""#
        let series = #"[a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:"# + label + "(?:," + label + #")*)?\})?"#
        let sample = try! Regex(
            "(" + series + #") ([-+0-9.eE]+|NaN|\+Inf|-Inf)"#, as: (Substring, Substring, Substring).self)
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let words = line.split(separator: " ")
                if words.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(words[3]) {
                    types[String(words[2])] = String(words[3])
                } else {
                    Issue.record("bad TYPE line: \(line)")
                }
            } else if line.hasPrefix("# ") {
                continue
            } else if let match = line.wholeMatch(of: sample), let value = Double(match.2) {
                samples[String(match.1)] = value
            } else {
                Issue.record("not Prometheus text: \(line)")
            }
        }
        return (samples, types)
    }

    /// The period names a report takes for `date`, in Helsinki time (the daemon's default report zone).
    static func helsinki(_ date: Date, _ format: String) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Europe/Helsinki")
        formatter.dateFormat = format
        return formatter.string(from: date)
    }

    @Test func reportsAndMetricsShowTheSessionsTheTestRan() async throws {
        let daemon = try await Daemon.start()
        let socket = daemon.directory.appendingPathComponent("luukkud.sock").path
        let metricsLine = try #require(await daemon.line(startingWith: "luukkud: metrics on http://127.0.0.1:"))
        let metricsPort = try #require(Int(metricsLine.split(separator: ":").last?.split(separator: "/").first ?? ""))

        let expert = try await daemon.connect("expert-kela-aino")
        try await expert.becomeAvailable()
        async let served: Void = Self.serve(expert, customers: 2)
        for point in ["parainen", "mikkeli"] {
            let run = try await daemon.runTerminal([
                "--agency", "kela", "--language", "fi", "--point", point, "--media", "test-stream", "--media-seconds",
                "1",
            ])
            #expect(run.status == 0, "\(run.output)")
        }
        try await served
        // A customer who leaves before an answer: nobody serves vero in Finnish here.
        let left = try await daemon.runTerminal([
            "--agency", "vero", "--language", "fi", "--point", "saarijarvi", "--cancel-after", "0",
        ])
        #expect(left.status == 0, "\(left.output)")

        // The daemon holds the ledger open: what the reports are checked against is read after it stops.
        let month = Self.helsinki(Date(), "yyyy-MM")
        let day = Self.helsinki(Date(), "yyyy-MM-dd")
        let json = try await Self.luukkuctl(["report", "transactions", month, "--json", "--socket", socket])
        let table = try await Self.luukkuctl(["report", "transactions", month, "--socket", socket])
        let csv = try await Self.luukkuctl(["report", "transactions", month, "--csv", "--socket", socket])
        let level = try await Self.luukkuctl(["report", "service-level", day, "--json", "--socket", socket])
        let bad = try await Self.luukkuctl(["report", "transactions", "2026-13", "--socket", socket])
        let (samples, types) = Self.parsePrometheus(try await Self.scrape(port: metricsPort))
        await expert.goodbye()
        #expect(await daemon.terminate() == 0)
        let sessions = try await daemon.ledger().sessions()
        try #require(sessions.count == 2)
        try #require(
            sessions.allSatisfy { Self.helsinki($0.answeredAt, "yyyy-MM-dd") == day }, "the test straddled midnight")

        // Transactions, JSON: one row per service point, matching the ledger's sessions.
        #expect(json.status == 0, "\(json.error)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any])
        #expect(report["month"] as? String == month && report["time_zone"] as? String == "Europe/Helsinki")
        #expect(report["transactions"] as? Int == 2)
        let rows = try #require(report["rows"] as? [[String: Any]])
        let expected = sessions.map { "\($0.servicePoint)/\($0.agency)/\($0.language)/1/1" }.sorted()
        #expect(
            rows.map {
                "\($0["service_point"] ?? "")/\($0["agency"] ?? "")/\($0["language"] ?? "")/\($0["transactions"] ?? "")/\($0["completed"] ?? "")"
            } == expected)
        // The same as a table and as CSV.
        let lines = table.output.split(separator: "\n")
        #expect(lines.first?.hasPrefix("service_point  agency  language  transactions") == true, "\(table.output)")
        #expect(lines.contains { $0.hasPrefix("mikkeli ") && $0.contains(" kela ") }, "\(table.output)")
        #expect(lines.last?.split(separator: " ") == ["total", "2"], "\(table.output)")
        #expect(
            csv.output.split(separator: "\n").prefix(2) == [
                "service_point,agency,language,transactions,completed,interrupted,running,handling_s",
                "mikkeli,kela,fi,1,1,0,0,\(Int((sessions[1].endedAt!.timeIntervalSince(sessions[1].answeredAt)).rounded()))",
            ], "\(csv.output)")

        // Service level of the day: kela/fi both answered, vero/fi abandoned.
        #expect(level.status == 0, "\(level.error)")
        let levels = try #require(try JSONSerialization.jsonObject(with: Data(level.output.utf8)) as? [String: Any])
        let queues = try #require(levels["rows"] as? [[String: Any]])
        let kela = try #require(queues.first { $0["agency"] as? String == "kela" }, "\(level.output)")
        #expect(kela["tickets"] as? Int == 2 && kela["answered"] as? Int == 2 && kela["abandoned"] as? Int == 0)
        #expect(kela["service_level_percent"] as? Double == 100 && kela["average_handling_seconds"] != nil)
        let vero = try #require(queues.first { $0["agency"] as? String == "vero" }, "\(level.output)")
        #expect(vero["tickets"] as? Int == 1 && vero["abandoned"] as? Int == 1 && vero["answered"] as? Int == 0)
        #expect(vero["abandonment_percent"] as? Double == 100 && vero["p90_wait_seconds"] == nil)
        #expect(bad.status == 1 && bad.error == "luukkuctl: '2026-13' is not a month (YYYY-MM)\n", "\(bad)")

        // /metrics parses as Prometheus text and counts what happened.
        #expect(types["luukku_sessions_total"] == "counter" && types["luukku_wait_seconds"] == "histogram")
        #expect(samples["luukku_sessions_total{outcome=\"completed\"}"] == 2)
        #expect(samples["luukku_sessions_active"] == 0)
        #expect(samples["luukku_wait_seconds_count{agency=\"kela\",language=\"fi\"}"] == 2)
        #expect(samples["luukku_queue_depth{agency=\"vero\",language=\"fi\"}"] == 0)
        #expect(samples["luukku_experts{presence=\"available\"}"] == 1)
        // The expert and three terminals.
        #expect(samples["luukku_tls_handshakes_total"] == 4)
        #expect(samples["luukku_tls_handshake_failures_total"] == 0)
        let relayed = sessions.reduce(0) { $0 + Double($1.relay?.packetsToExpert ?? 0) }
        #expect((samples["luukku_relay_packets_total{direction=\"out\"}"] ?? 0) >= relayed && relayed > 0)
        // Not asserted to be 0: test daemons running in parallel share the relay port range, so a late packet
        // of another test's ended session can reach a port this daemon reused, and fail authentication here.
        #expect(
            samples["luukku_srtp_auth_failures_total"] != nil
                && samples["luukku_srtp_auth_failures_total"]
                    == samples["luukku_relay_drops_total{reason=\"authentication_failed\"}"]
        )
        #expect((samples["luukku_ledger_commit_seconds_count"] ?? 0) >= 1)
    }

    @Test func aPeerThatIsNotAnOperatorMayReadButNotChangeState() async throws {
        let daemon = try await Daemon.start()
        let socket = daemon.directory.appendingPathComponent("luukkud.sock").path
        // The socket is 0660 and belongs to root's group here (no luukku-operators group on a test machine):
        // nobody in group root may connect, and is neither root, the daemon's user nor an operator.
        let reader = (uid: 65_534, gid: 0)
        let info = try await Self.luukkuctl(["info", "--socket", socket], as: reader)
        #expect(info.status == 0 && info.output.contains(/draining +false/), "\(info)")
        let drain = try await Self.luukkuctl(["drain", "--socket", socket], as: reader)
        #expect(drain.status == 1, "\(drain)")
        #expect(drain.error == "luukkuctl: 'drain' needs the operator level; this peer may only read\n")
        let after = try await Self.luukkuctl(["--socket", socket, "--json", "info"])  // options first work too
        #expect(after.output.contains("\"draining\":false"), "\(after.output)")
        // Outside the socket's group: the kernel refuses the connection.
        let stranger = try await Self.luukkuctl(["info", "--socket", socket], as: (65_534, 65_534))
        #expect(stranger.status == 77 && stranger.error.contains("not allowed to open"), "\(stranger)")
        // Any error line in the answer makes the exit status 1, in JSON as in text; the rest is still printed.
        let raw = try await Self.luukkuctl(["raw", "show info json; bogus", "--socket", socket], as: reader)
        #expect(raw.status == 1 && raw.output.hasPrefix("{") && raw.output.contains("error: unknown command 'bogus'"))
        // Options before the subcommand are moved after it, and before a `--`.
        let kick = try await Self.luukkuctl(["--json", "--socket", socket, "kick", "--", "kela-aino"])
        #expect(kick.status == 1 && kick.error == "luukkuctl: expert kela-aino is not connected\n", "\(kick)")
        let long = try await Self.luukkuctl(["raw", String(repeating: "x", count: 5_000), "--socket", socket])
        #expect(long.status == 64 && long.error.contains("longer than 4096 bytes"), "\(long)")
        // Root is an operator.
        #expect(
            try await Self.luukkuctl(["drain", "--socket", socket]).output
                == "queues closed: new requests are refused\n")
        let missing = try await Self.luukkuctl([
            "info", "--socket", daemon.directory.appendingPathComponent("none").path,
        ])
        #expect(missing.status == 69 && missing.error.contains("no luukkud at"), "\(missing)")
        #expect(await daemon.terminate() == 0)
    }

    @Test func everyCommandAnswersInTextAndInJSON() async throws {
        let daemon = try await Daemon.start()
        let path = daemon.directory.appendingPathComponent("luukkud.sock").path
        let (terminal, _, started, _) = try await LifecycleTests.session(
            daemon, point: "terminal-parainen", expert: "expert-kela-aino")
        let month = Self.helsinki(Date(), "yyyy-MM")
        let day = Self.helsinki(Date(), "yyyy-MM-dd")
        let reads = [
            "help", "show info", "show queues", "show experts", "show sessions", "show session \(started.sessionID)",
            "show relay", "report transactions \(month)", "report service-level \(day)",
        ]
        // Text: all on one line, each answer a table (or the help) and none an error.
        let text = try await StatusSocketTests.ask(path, reads.joined(separator: "; "))
        let answers = text.components(separatedBy: "\n\n").dropLast()
        try #require(answers.count == reads.count, "\(text)")
        for (command, answer) in zip(reads, answers) {
            #expect(!answer.hasPrefix("error") && answer.split(separator: "\n").count >= 2, "\(command): \(answer)")
        }
        #expect(answers[5].contains("\(started.sessionID) ") && answers[5].contains(" parainen "), "\(answers[5])")
        // JSON: every read but help parses; the running session is in show sessions and show session.
        let json = try await StatusSocketTests.ask(path, reads.dropFirst().map { $0 + " json" }.joined(separator: ";"))
        let documents = json.components(separatedBy: "\n\n").dropLast()
        try #require(documents.count == reads.count - 1, "\(json)")
        for (command, document) in zip(reads.dropFirst(), documents) {
            #expect(
                (try? JSONSerialization.jsonObject(with: Data(document.utf8))) != nil, "\(command) json: \(document)")
        }
        #expect(documents[4].contains("\"id\":\"\(started.sessionID)\""), "\(documents[4])")
        // The state-changing commands, in JSON.
        let changes = try await StatusSocketTests.ask(path, "drain json; undrain json; kick expert kela-aino json")
        #expect(changes == "{\"draining\":true}\n\n{\"draining\":false}\n\n{\"kicked\":true}\n\n", "\(changes)")
        _ = try await terminal.expectHangup()
        await terminal.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    @Test func aTakenMetricsPortLeavesTheDaemonServingWithoutMetrics() async throws {
        // Something else listens on the port first.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        try #require(bound)
        let taken = Int(UInt16(bigEndian: address.sin_port))
        let daemon = try await Daemon.start { tree in
            var server = tree["server"] as? [String: Any] ?? [:]
            server["metricsListen"] = "127.0.0.1:\(taken)"
            tree["server"] = server
        }
        let line = await daemon.line(startingWith: "luukkud: no metrics")
        #expect(line == "luukkud: no metrics: cannot listen on 127.0.0.1:\(taken) (server.metricsListen)")
        // The broker serves all the same.
        let info = try await Self.luukkuctl(
            ["info", "--socket", daemon.directory.appendingPathComponent("luukkud.sock").path])
        #expect(info.status == 0 && info.output.contains(/stopping +false/), "\(info)")
        let run = try await daemon.runTerminal(["--agency", "vero", "--language", "fi", "--cancel-after", "0"])
        #expect(run.status == 0, "\(run.output)")
        #expect(daemon.log.contains("metrics listener cannot bind 127.0.0.1:\(taken); running without /metrics"))
        #expect(await daemon.terminate() == 0)
    }
}
