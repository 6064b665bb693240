import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuLedger
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// A real luukkud process on a loopback port the kernel picks, with its own configuration, development
/// certificates and SQLite ledger in a temporary folder. Readiness is its ready line on stdout, never a sleep.
final class Daemon: Sendable {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// One development PKI for the whole test run (certs/make-dev-certs, as `make certs` runs it).
    static let certificates: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "luukku-certs-\(UUID().uuidString)")
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent("certs/make-dev-certs")
        process.arguments = [directory.path]
        process.standardOutput = FileHandle.nullDevice
        try! process.run()
        process.waitUntilExit()
        precondition(process.terminationStatus == 0, "certs/make-dev-certs failed")
        return directory
    }()

    let directory: URL
    let ledgerPath: String
    let port: Int
    private let process: Process
    private let exit: ExitBox
    private let lineWaiters: LineLog

    /// The next daemon's window of relay ports, 0-24 (400 ports each in 20000-29999).
    private static let nextPortWindow = NIOLockedValueBox(0)

    /// Starts luukkud with the demo configuration, changed by `adjust` (the `server` and `relay` sections are
    /// there to be changed). `ledger` reuses another daemon's file (a restart).
    static func start(
        ledger: String? = nil, environment: [String: String] = [:], _ adjust: (inout [String: Any]) -> Void = { _ in }
    ) async throws -> Daemon {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "luukku-daemon-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var tree = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: repositoryRoot.appendingPathComponent("config/luukku.example.json")))
                as? [String: Any])
        let ledgerPath = ledger ?? directory.appendingPathComponent("ledger.sqlite").path
        var server: [String: Any] = [
            "listen": "127.0.0.1:0",
            "certificateChain": certificates.appendingPathComponent("server.pem").path,
            "privateKey": certificates.appendingPathComponent("server.key").path,
            "trustRoots": certificates.appendingPathComponent("ca.pem").path,
            "ledgerPath": ledgerPath,
            "statusSocket": directory.appendingPathComponent("luukkud.sock").path,
            "metricsListen": "127.0.0.1:0",
        ]
        server["timeouts"] = ["offerAnswer": 20, "wrapUp": 60, "resumeGrace": 30, "drain": 60]
        tree["server"] = server
        // Each daemon of this test run its own window of relay ports: daemons of tests running in parallel would
        // otherwise reuse each other's freshly closed ports, and a late packet of one test's session would reach
        // another test's leg (and be dropped there as an authentication failure).
        let window = Self.nextPortWindow.withLockedValue { next in
            defer { next = (next + 1) % 25 }
            return next
        }
        let relayPorts = (20_000 + window * 400)...(20_000 + window * 400 + 399)
        tree["relay"] = [
            "bindAddress": "127.0.0.1", "ports": [relayPorts.lowerBound, relayPorts.upperBound], "workers": 1,
        ]
        adjust(&tree)
        let configuration = directory.appendingPathComponent("luukku.json")
        try JSONSerialization.data(withJSONObject: tree).write(to: configuration)

        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent("luukkud")
        process.arguments = ["--config", configuration.path, "--log-level", "debug"]
        process.currentDirectoryURL = directory
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(
            forWritingTo: {
                let url = directory.appendingPathComponent("stderr.log")
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
                return url
            }())
        process.standardInput = FileHandle.nullDevice
        let exit = ExitBox()
        process.terminationHandler = { exit.set($0.terminationStatus) }
        try process.run()

        // Read stdout on its own thread until EOF (so the pipe never fills); hand over the ready line's port.
        let lines = LineLog()
        let port: Int = await withCheckedContinuation { ready in
            Thread.detachNewThread {
                var pending = ""
                var answered = false
                while true {
                    let data = stdout.fileHandleForReading.availableData
                    if data.isEmpty { break }
                    pending += String(decoding: data, as: UTF8.self)
                    while let newline = pending.firstIndex(of: "\n") {
                        let line = String(pending[..<newline])
                        pending.removeSubrange(...newline)
                        lines.append(line)
                        if !answered, line.hasPrefix("luukkud: ready, listening on 127.0.0.1:"),
                            let port = Int(line.split(separator: ":")[2].split(separator: ",")[0])
                        {
                            answered = true
                            ready.resume(returning: port)
                        }
                    }
                }
                lines.finish()
                if !answered { ready.resume(returning: 0) }
            }
        }
        let daemon = Daemon(
            directory: directory, ledgerPath: ledgerPath, port: port, process: process, exit: exit, lines: lines)
        try #require(port > 0, "luukkud did not start: \(daemon.log)")
        return daemon
    }

    private init(
        directory: URL, ledgerPath: String, port: Int, process: Process, exit: ExitBox,
        lines: LineLog
    ) {
        self.directory = directory
        self.ledgerPath = ledgerPath
        self.port = port
        self.process = process
        self.exit = exit
        self.lineWaiters = lines
    }

    /// Waits until the daemon has printed a stdout line starting with `prefix` after the first `skip` such lines.
    func line(startingWith prefix: String, after skip: Int = 0) async -> String? {
        await lineWaiters.wait(for: prefix, skip: skip)
    }

    /// A daemon a failed test left running is killed with the test.
    deinit {
        if !exit.hasExited { kill(process.processIdentifier, SIGKILL) }
    }

    /// The configuration file the daemon was started with (a test may rewrite it and send SIGHUP).
    var configurationFile: URL { directory.appendingPathComponent("luukku.json") }

    /// What the daemon logged so far (stderr), for failure messages.
    var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("stderr.log"), encoding: .utf8)) ?? ""
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// Waits for the process to exit and returns its status.
    func exitStatus() async -> Int32 { await exit.wait() }

    /// SIGTERM, then the exit status.
    func terminate() async -> Int32 {
        signal(SIGTERM)
        return await exitStatus()
    }

    /// Connects as the identity whose files `certs/make-dev-certs` wrote under `name` (e.g. terminal-parainen).
    func connect(_ name: String?, heartbeats: Bool = true, media: MediaCapabilities? = nil) async throws(ClientError)
        -> ClientConnection
    {
        let certs = Self.certificates
        let identity = ClientIdentity(
            certificate: name.map { certs.appendingPathComponent("\($0).pem").path },
            privateKey: name.map { certs.appendingPathComponent("\($0).key").path },
            trustRoots: certs.appendingPathComponent("ca.pem").path)
        return try await ClientConnection.connect(
            host: "127.0.0.1", port: port, identity: identity, software: "daemon-tests",
            group: MultiThreadedEventLoopGroup.singleton, heartbeats: heartbeats, media: media)
    }

    /// The ledger, opened after the daemon exited (the file lock allows one process at a time).
    func ledger() throws -> SQLiteLedger { try SQLiteLedger(path: ledgerPath) }

    /// Runs luukku-terminal against this daemon and returns its exit status and its output (stdout and stderr).
    func runTerminal(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let run = try await runProcess(
            Self.productsDirectory.appendingPathComponent("luukku-terminal").path,
            ["request", "--daemon", "127.0.0.1:\(port)", "--certs", Self.certificates.path] + arguments,
            errorsToOutput: true)
        return (run.status, run.output)
    }
}

/// Runs a program to its end: `input` on its stdin (none: /dev/null), stdout and stderr read back from files
/// (stderr into the output with `errorsToOutput`). A cancelled test (its time limit) kills the program, so no
/// failed test leaves one behind.
func runProcess(_ executable: String, _ arguments: [String], input: String? = nil, errorsToOutput: Bool = false)
    async throws -> (status: Int32, output: String, error: String)
{
    let directory = FileManager.default.temporaryDirectory
    let name = URL(fileURLWithPath: executable).lastPathComponent
    let output = directory.appendingPathComponent("\(name)-\(UUID().uuidString).out")
    let error = directory.appendingPathComponent("\(name)-\(UUID().uuidString).err")
    for file in [output, error] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
    defer { for file in [output, error] { try? FileManager.default.removeItem(at: file) } }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: output)
    process.standardError = errorsToOutput ? process.standardOutput : try FileHandle(forWritingTo: error)
    let stdin = input.map { _ in Pipe() }
    process.standardInput = stdin ?? FileHandle.nullDevice
    let exit = ExitBox()
    process.terminationHandler = { exit.set($0.terminationStatus) }
    try process.run()
    if let stdin, let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let pid = process.processIdentifier
    let status = await withTaskCancellationHandler {
        await exit.wait()
    } onCancel: {
        kill(pid, SIGKILL)
    }
    return (
        status, try String(contentsOf: output, encoding: .utf8), try String(contentsOf: error, encoding: .utf8)
    )
}

/// A process's exit status, awaited without polling. A waiting task that is cancelled (a test's time limit)
/// gets -1 instead of hanging.
final class ExitBox: Sendable {
    private let state = NIOLockedValueBox<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    var hasExited: Bool { state.withLockedValue { $0.status != nil } }

    func set(_ status: Int32) {
        let waiters = state.withLockedValue { state in
            state.status = status
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    func wait() async -> Int32 {
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let status = state.withLockedValue { state -> Int32? in
                    if let status = state.status { return status }
                    if Task.isCancelled { return -1 }
                    state.waiters.append(waiter)
                    return nil
                }
                if let status { waiter.resume(returning: status) }
            }
        } onCancel: {
            let waiters = state.withLockedValue { state in
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: -1) }
        }
    }
}

/// Calls `body` with a `sockaddr_un` for `path` (bind, connect).
func withUnixAddress(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    return withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
}

/// Runs a blocking call on a thread of its own, so it holds none of the cooperative pool's few threads.
func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { done in Thread.detachNewThread { done.resume(returning: body()) } }
}

/// The daemon's stdout lines, and tests waiting for one.
final class LineLog: Sendable {
    private struct Waiter {
        let prefix: String
        let skip: Int
        let anywhere: Bool
        let continuation: CheckedContinuation<String?, Never>
    }

    private let state = NIOLockedValueBox<(lines: [String], finished: Bool, waiters: [Waiter])>(([], false, []))

    func append(_ line: String) {
        let ready = state.withLockedValue { state -> [(Waiter, String)] in
            state.lines.append(line)
            var ready: [(Waiter, String)] = []
            state.waiters.removeAll { waiter in
                guard let match = Self.match(state.lines, waiter.prefix, waiter.skip, anywhere: waiter.anywhere) else {
                    return false
                }
                ready.append((waiter, match))
                return true
            }
            return ready
        }
        for (waiter, line) in ready { waiter.continuation.resume(returning: line) }
    }

    /// Every line so far.
    var lines: [String] { state.withLockedValue { $0.lines } }

    func finish() {
        let waiters = state.withLockedValue { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    /// The line after `skip` earlier ones that starts with `prefix` (or, `anywhere`, contains it).
    func wait(for prefix: String, skip: Int, anywhere: Bool = false) async -> String? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLockedValue { state -> String?? in
                    if let match = Self.match(state.lines, prefix, skip, anywhere: anywhere) { return .some(match) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiters.append(
                        Waiter(prefix: prefix, skip: skip, anywhere: anywhere, continuation: continuation))
                    return .none
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            finish()
        }
    }

    private static func match(_ lines: [String], _ prefix: String, _ skip: Int, anywhere: Bool) -> String? {
        let matching = lines.filter { anywhere ? $0.contains(prefix) : $0.hasPrefix(prefix) }
        return matching.count > skip ? matching[skip] : nil
    }
}

/// On a connected socket: sends `request`, then reads until the peer closes (30 s at most per read) and
/// returns what came back.
func exchange(_ fd: Int32, _ request: String) -> String {
    var bound = timeval(tv_sec: 30, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
    _ = Array(request.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var answer: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { break }
        answer += buffer[0..<count]
    }
    return String(decoding: answer, as: UTF8.self)
}
