import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuLedger
import LuukkuTestSupport
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// A real luukkud process on a loopback port the kernel picks, with its own configuration, development
/// certificates and SQLite ledger in a temporary folder. Readiness is its ready line on stdout, never a sleep.
final class Daemon: Sendable {
    /// One development PKI for the whole test run (certs/make-dev-certs, as `make certs` runs it).
    static let certificates: URL = DevCertificates.shared

    let directory: URL
    let ledgerPath: String
    let port: Int
    /// luukkud, its stdout lines awaitable, its stderr in `stderr.log` of `directory`; killed with the test.
    private let process: RunningProcess

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
                with: Data(contentsOf: Repository.url("config/luukku.example.json")))
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

        let process = try RunningProcess(
            Repository.products.appendingPathComponent("luukkud").path,
            ["--config", configuration.path, "--log-level", "debug"], in: directory, environment: environment,
            errorFileName: "stderr.log")
        let ready = "luukkud: ready, listening on 127.0.0.1:"
        let port =
            await process.line(startingWith: ready).flatMap { Int($0.dropFirst(ready.count).prefix(while: \.isNumber)) }
            ?? 0
        let daemon = Daemon(directory: directory, ledgerPath: ledgerPath, port: port, process: process)
        try #require(port > 0, "luukkud did not start: \(daemon.log)")
        return daemon
    }

    private init(directory: URL, ledgerPath: String, port: Int, process: RunningProcess) {
        self.directory = directory
        self.ledgerPath = ledgerPath
        self.port = port
        self.process = process
    }

    /// Waits until the daemon has printed a stdout line starting with `prefix` after the first `skip` such lines.
    func line(startingWith prefix: String, after skip: Int = 0) async -> String? {
        await process.line(startingWith: prefix, after: skip)
    }

    /// The configuration file the daemon was started with (a test may rewrite it and send SIGHUP).
    var configurationFile: URL { directory.appendingPathComponent("luukku.json") }

    /// What the daemon logged so far (stderr), for failure messages.
    var log: String {
        (try? String(contentsOf: directory.appendingPathComponent("stderr.log"), encoding: .utf8)) ?? ""
    }

    func signal(_ number: Int32) { process.signal(number) }

    /// Waits for the process to exit and returns its status.
    func exitStatus() async -> Int32 { await process.exitStatus() }

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
            Repository.products.appendingPathComponent("luukku-terminal").path,
            ["request", "--daemon", "127.0.0.1:\(port)", "--certs", Self.certificates.path] + arguments,
            errorsToOutput: true)
        return (run.status, run.output)
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
