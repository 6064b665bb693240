import ArgumentParser
import CRelayIO
import Foundation
import LuukkuClient
import LuukkuCore
import LuukkuProtocol
import NIOConcurrencyHelpers
import NIOPosix

enum ScenarioName: String, ExpressibleByArgument, CaseIterable {
    case nationalDay = "national-day"
    case burst, rate, idle
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one scenario against a daemon.",
        discussion: """
            national-day: a day compressed --compress times (600: 10 minutes of the day per second), \
            Poisson arrivals following the hourly weights of --scenario-file, scaled by --scale (1 = \
            the national volume); customers come from the points, for the agencies and in the \
            languages of the file's shares, give up after their patience; experts take log-normal \
            handling times, wrap up, decline and take breaks.
            burst: --requests N at once against every expert of --certs, each accepting at once.
            rate: --rate R requests a second for --seconds, from --kiosks connections per terminal \
            certificate; experts accept, hang up and end wrap-up at once (request-to-offer latency).
            idle: --connections N authenticated connections sending only heartbeats, for --seconds.
            """)

    @Option(help: ArgumentHelp("The daemon's address.", valueName: "host:port"))
    var daemon = "127.0.0.1:7400"
    @Option(help: ArgumentHelp("Folder of the certificates (terminal-*, expert-*, ca.pem).", valueName: "dir"))
    var certs = "certs/dev"
    @Option(help: "national-day, burst, rate or idle.")
    var scenario: ScenarioName
    @Option(help: ArgumentHelp("The national-day rates and shares.", valueName: "file"))
    var scenarioFile = "Benchmarks/national-day.json"
    @Option(help: "national-day: how many times faster than the day runs.")
    var compress = 600.0
    @Option(help: "national-day: times the national volume (10 for ten times the national peak).")
    var scale = 1.0
    @Option(help: "How long arrivals go on (rate, national-day) or connections are held (idle), in real seconds.")
    var seconds: Double?
    @Option(help: "national-day: the hour of the day to start at (default: opening).")
    var startHour: Double?
    @Option(help: "burst: requests sent at once.")
    var requests = 100
    @Option(help: "rate: requests a second.")
    var rate = 200.0
    @Option(help: "idle: connections to open.")
    var connections = 1_000
    @Option(help: "rate, burst: connections (kiosks) per terminal certificate.")
    var kiosks = 10
    @Flag(help: "national-day: each session carries the built-in SRTP test stream both ways.")
    var media = false
    @Flag(help: "national-day: the day starts again after closing time, until --seconds (make soak).")
    var loop = false
    @Option(help: "Seconds between progress lines.")
    var progress = 5.0
    @Option(help: ArgumentHelp("Write the summary as JSON here.", valueName: "file"))
    var json: String?
    @Option(help: ArgumentHelp("Write what the clients were told here, for `check`.", valueName: "file"))
    var told: String?
    @Option(help: "Seed of the scenario's random choices.")
    var seed: UInt64 = 1

    func run() async throws {
        guard let colon = daemon.lastIndex(of: ":"), let port = Int(daemon[daemon.index(after: colon)...]) else {
            throw ValidationError("--daemon must be HOST:PORT")
        }
        let host = String(daemon[..<colon])
        let identities: Identities
        do { identities = try Identities.discover(in: certs) } catch { throw ValidationError("\(error)") }
        let tally = Tally()
        let stop = StopFlag()
        let started = ContinuousClock.now
        let reporter = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int64(progress * 1_000)))
                if Task.isCancelled { break }
                say(tally.progressLine(elapsed: Self.seconds(since: started)))
            }
        }
        var extra: [String: Double] = [:]
        do {
            switch scenario {
            case .idle:
                extra = try await idle(identities, host: host, port: port)
            case .burst, .rate:
                extra = try await paced(identities, host: host, port: port, tally: tally, stop: stop)
            case .nationalDay:
                extra = try await day(identities, host: host, port: port, tally: tally, stop: stop)
            }
        } catch let error as LoadError {
            reporter.cancel()
            say("luukku-load: \(error)")
            throw ExitCode(Exit.unreachable)
        }
        reporter.cancel()
        let summary = tally.summary(scenario: scenario.rawValue, seconds: Self.seconds(since: started), extra: extra)
        say(tally.progressLine(elapsed: summary.seconds))
        say(Self.describe(summary))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        if let json { try encoder.encode(summary).write(to: URL(fileURLWithPath: json)) }
        if let told { try encoder.encode(tally.update { $0.told }).write(to: URL(fileURLWithPath: told)) }
        if !summary.errors.isEmpty { throw ExitCode(Exit.failed) }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    static func describe(_ summary: Summary) -> String {
        var line = String(
            format: "summary: %@ %.1fs requested %d offered %d answered %d abandoned %d completed %d declined %d",
            summary.scenario, summary.seconds, summary.requested, summary.offered, summary.answered,
            summary.abandoned, summary.completed, summary.declined)
        if summary.offerSamples > 0 {
            line += String(
                format: " offer p50 %.3fms p99 %.3fms p99.9 %.3fms", summary.offerP50Milliseconds,
                summary.offerP99Milliseconds, summary.offerP999Milliseconds)
        }
        for key in summary.extra.keys.sorted() { line += " \(key) \(summary.extra[key]!)" }
        let errors = summary.errors.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        line += errors.isEmpty ? " errors 0" : " errors " + errors.joined(separator: ",")
        return line
    }

    // MARK: Connections

    func connect(_ identity: ClientIdentity, host: String, port: Int, heartbeats: Bool = true) async throws
        -> ClientConnection
    {
        do {
            return try await ClientConnection.connect(
                host: host, port: port, identity: identity, software: "luukku-load/0.1",
                group: MultiThreadedEventLoopGroup.singleton, heartbeats: heartbeats)
        } catch {
            throw LoadError("\(identity.certificate ?? "no certificate"): \(error)")
        }
    }

    /// Every expert of --certs logged in with `behaviour`; their tasks.
    func experts(
        _ identities: Identities, host: String, port: Int, behaviour: (Int) -> ExpertBehaviour, tally: Tally,
        stop: StopFlag, media: Bool
    ) async throws -> [(ClientConnection, Task<Void, Never>)] {
        var running: [(ClientConnection, Task<Void, Never>)] = []
        for (index, expert) in identities.experts.enumerated() {
            let connection = try await connect(expert.identity, host: host, port: port)
            let agent = ExpertAgent(
                connection: connection, behaviour: behaviour(index), tally: tally, stop: stop, media: media)
            running.append((connection, Task { await agent.run() }))
        }
        guard !running.isEmpty else { throw LoadError("no expert-*.pem in --certs \(certs)") }
        return running
    }

    // MARK: Scenarios

    func idle(_ identities: Identities, host: String, port: Int) async throws -> [String: Double] {
        let terminals = identities.terminals.values.sorted { ($0.certificate ?? "") < ($1.certificate ?? "") }
        guard !terminals.isEmpty else { throw LoadError("no terminal-*.pem in --certs \(certs)") }
        let begin = ContinuousClock.now
        var open: [ClientConnection] = []
        open.reserveCapacity(connections)
        // 64 handshakes at a time: as many kiosks coming up after a power cut, not one at a time.
        var next = 0
        while next < connections {
            let batch = min(64, connections - next)
            let made = try await withThrowingTaskGroup(of: ClientConnection.self) { group in
                for offset in 0..<batch {
                    let identity = terminals[(next + offset) % terminals.count]
                    group.addTask { try await connect(identity, host: host, port: port) }
                }
                var made: [ClientConnection] = []
                for try await connection in group { made.append(connection) }
                return made
            }
            open += made
            next += batch
        }
        let connectSeconds = Self.seconds(since: begin)
        say(String(format: "idle: %d connections authenticated in %.2fs", open.count, connectSeconds))
        try? await Task.sleep(for: .milliseconds(Int64((seconds ?? 10) * 1_000)))
        for connection in open { await connection.goodbye() }
        return ["connections": Double(open.count), "connect_seconds": connectSeconds]
    }

    /// burst and rate: experts accept, hang up and end wrap-up at once; requests come from a pool of kiosks.
    func paced(_ identities: Identities, host: String, port: Int, tally: Tally, stop: StopFlag) async throws
        -> [String: Double]
    {
        let experts = try await experts(
            identities, host: host, port: port, behaviour: { _ in .immediate }, tally: tally, stop: stop, media: false)
        let queues = Set(
            experts.flatMap { connection, _ in connection.welcome.skills.map { "\($0.agency)/\($0.language)" } }
        )
        .sorted()
        guard !queues.isEmpty else { throw LoadError("the experts of --certs \(certs) serve no queue") }
        let points = identities.terminals.keys.sorted()
        guard !points.isEmpty else { throw LoadError("no terminal-*.pem in --certs \(certs)") }
        var pool: [Kiosk] = []
        for point in points {
            for _ in 0..<kiosks {
                let connection = try await connect(identities.terminals[point]!, host: host, port: port)
                pool.append(Kiosk(point: point, connection: connection, tally: tally))
            }
        }
        let limit = pool.first?.connection.welcome.limits.maxOpenRequests ?? 2
        let readers = pool.map { kiosk in Task { await kiosk.read() } }
        let begin = ContinuousClock.now
        var sent = 0
        let total = scenario == .burst ? requests : Int(rate * (seconds ?? 30))
        let interval = scenario == .burst ? Duration.zero : Duration.nanoseconds(Int64(1e9 / rate))
        var due = ContinuousClock.now
        while sent < total {
            if interval > .zero {
                if ContinuousClock.now < due { try? await Task.sleep(until: due) }
                due = due.advanced(by: interval)
            }
            let queue = queues[sent % queues.count].split(separator: "/")
            // A kiosk of a point below its open-ticket limit (the limit counts per point).
            let offset = sent % pool.count
            guard
                let kiosk = (0..<pool.count).lazy.map({ pool[($0 + offset) % pool.count] }).first(where: {
                    tally.openTickets(point: $0.point) < limit
                })
            else {
                tally.update { $0.throttled += 1 }
                sent += 1
                continue
            }
            kiosk.request(agency: String(queue[0]), language: String(queue[1]))
            sent += 1
        }
        let sendSeconds = Self.seconds(since: begin)
        // Every request answered (or refused) before the end.
        await tally.waitUntilSettled()
        stop.set()
        for kiosk in pool { await kiosk.connection.goodbye() }
        for reader in readers { await reader.value }
        for (connection, task) in experts {
            await connection.goodbye()
            await task.value
        }
        return [
            "send_seconds": sendSeconds, "answer_seconds": Self.seconds(since: begin),
            "offered_rate": Double(total) / max(sendSeconds, 1e-9),
        ]
    }

    func day(_ identities: Identities, host: String, port: Int, tally: Tally, stop: StopFlag) async throws
        -> [String: Double]
    {
        let profile: DayProfile
        do {
            profile = try JSONDecoder().decode(
                DayProfile.self, from: Data(contentsOf: URL(fileURLWithPath: scenarioFile)))
        } catch {
            throw ValidationError("--scenario-file \(scenarioFile): \(error)")
        }
        var draw = Draw(random: SplitMix(seed: seed))
        let experts = try await experts(
            identities, host: host, port: port,
            behaviour: { .day(profile, compress: compress, seed: seed &+ UInt64($0) &+ 1) }, tally: tally, stop: stop,
            media: media)
        let catalogue = experts[0].0.welcome.catalogue
        let points = Set(identities.terminals.keys)
        let first = startHour ?? Double(profile.openingHours[0])
        let length = seconds ?? (Double(profile.openingHours[1]) - first) * 3_600 / compress
        let begin = ContinuousClock.now
        var customers: [Task<Void, Never>] = []
        var clock = 0.0  // real seconds since begin
        while true {
            // Poisson arrivals with the hour's rate (thinning: the rate changes by the hour).
            let peak = profile.peakRate(scale: scale) * compress
            guard peak > 0 else { break }
            clock += draw.exponential(mean: 1 / peak)
            guard clock < length else { break }
            let open = Double(profile.openingHours[0])
            let dayHours = Double(profile.openingHours[1]) - open
            var hour = first + clock * compress / 3_600
            if loop { hour = open + (hour - open).truncatingRemainder(dividingBy: dayHours) }
            guard draw.unit() < profile.rate(atHour: hour, scale: scale) * compress / peak else { continue }
            guard let point = draw.pick(profile.pointShares, among: points),
                let agency = draw.pick(profile.agencyShares, among: Set(catalogue.agencies.map(\.id)))
            else { continue }
            let swedish = draw.unit() < (profile.swedishShares[point] ?? profile.defaultSwedishShare)
            let customer = Customer(
                identity: identities.terminals[point]!, host: host, port: port, agency: agency,
                language: swedish ? "sv" : "fi",
                patience: draw.exponential(mean: profile.patienceMinutesMean) * 60 / compress, tally: tally,
                stop: stop, media: media)
            let wait = begin.advanced(by: .milliseconds(Int64(clock * 1_000)))
            if ContinuousClock.now < wait { try? await Task.sleep(until: wait) }
            customers.append(Task { await customer.run() })
        }
        stop.set()
        for customer in customers { await customer.value }
        for (connection, task) in experts {
            await connection.goodbye()
            await task.value
        }
        return ["customers": Double(customers.count), "day_hours": length * compress / 3_600]
    }
}

/// A terminal connection used for many requests (rate, burst): sends them, and reads the answers.
final class Kiosk: Sendable {
    let point: String
    let connection: ClientConnection
    let tally: Tally
    private let sent = NIOLockedValueBox<[UInt64: UInt64]>([:])

    init(point: String, connection: ClientConnection, tally: Tally) {
        self.point = point
        self.connection = connection
        self.tally = tally
    }

    func request(agency: String, language: String) {
        tally.update {
            $0.requested += 1
            $0.openByPoint[point, default: 0] += 1
        }
        let now = luukku_monotonic_ns()
        let correlation = connection.send(
            .requestService(
                .with {
                    $0.agency = agency; $0.language = language
                }))
        sent.withLockedValue { $0[correlation] = now }
    }

    func read() async {
        while let frame = await connection.next() {
            switch frame.message {
            case .queueStatus(let status) where frame.correlationID != 0:
                if let at = sent.withLockedValue({ $0.removeValue(forKey: frame.correlationID) }) {
                    tally.requested(ticket: status.ticketID, sentNanos: at)
                    tally.update { $0.told.tickets[status.ticketID] = "open" }
                }
            case .sessionStarted(let started):
                tally.update { state in
                    state.answered += 1
                    state.openByPoint[point, default: 1] -= 1
                    state.told.sessions[started.sessionID] = .init(ticket: started.ticketID, end: "open")
                }
            case .ticketClosed(let closed):
                // Closed without a session (the queues closed, the point's connection lost): its end is told.
                tally.update { state in
                    state.openByPoint[point, default: 1] -= 1
                    state.told.tickets[closed.ticketID] = Customer.ledgerEnd(closed.reason)
                }
                tally.settled()
            case .hangup(let hangup):
                let end = "completed/\(Customer.ledgerReason(hangup.reason))"
                tally.update { state in
                    state.completed += 1
                    if let ticket = state.told.sessions[hangup.sessionID]?.ticket {
                        state.told.sessions[hangup.sessionID]?.end = end
                        state.told.tickets[ticket] = end
                    }
                }
                tally.settled()
            case .error(let error):
                tally.update { $0.openByPoint[point, default: 1] -= 1 }
                tally.error("terminal: \(error.code)")
                tally.settled()
            default: break
            }
        }
    }
}
