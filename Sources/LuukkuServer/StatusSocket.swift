import Foundation
import Logging
import LuukkuCore
import LuukkuLedger
import NIOCore
import NIOPosix
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// The operators' status socket (docs/operations.md): a Unix socket, mode 0660, that takes one line of
/// `;`-separated commands (``StatusCommand``), answers each with a text table or JSON followed by an empty
/// line, and closes, as HAProxy's stats socket does, so `socat - UNIX-CONNECT:PATH` works.
///
/// The peer's credentials (SO_PEERCRED) set its level: root, the daemon's own user and members of the
/// operators' group may change state (drain, undrain); anyone else the socket's mode lets in may only read.
public final class StatusSocket: Service, Sendable {
    private let path: String
    private let context: StatusContext
    private let logger: Logger
    private let operatorsGroup: String
    static let maxLineBytes = 4_096

    /// - Parameters:
    ///   - reports: the ledger's report queries; `timeZone` and `serviceLevelTarget` are the configuration's.
    public init(
        path: String, broker: Broker, reports: any LedgerReports, timeZone: TimeZone, serviceLevelTarget: Duration,
        logger: Logger, operatorsGroup: String = "luukku-operators"
    ) {
        self.path = path
        self.context = StatusContext(
            broker: broker, reports: reports, timeZone: timeZone, serviceLevelTarget: serviceLevelTarget)
        self.logger = logger
        self.operatorsGroup = operatorsGroup
    }

    public func run() async throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let group = MultiThreadedEventLoopGroup.singleton
        let context = self.context
        let operatorsGroup = self.operatorsGroup
        let channel = try await ServerBootstrap(group: group)
            // `echo ... | socat` half-closes after the line; the answer still has to go back.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StatusHandler(context: context, operatorsGroup: operatorsGroup))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o660)
        // The operators' group may connect (mode 0660); under systemd the daemon is a member (docs/operations.md).
        if let operators = StatusHandler.groupID(named: operatorsGroup), chown(path, UInt32.max, operators) != 0 {
            logger.debug(
                "status socket stays in the daemon's group: chown to \(operatorsGroup) failed (errno \(errno))")
        }
        logger.info("status socket at \(path)")
        try? await gracefulShutdown()
        try? await channel.close()
        unlink(path)
    }

    /// Runs one line of commands for a peer of `level` and returns the whole answer.
    static func answer(_ line: String, level: StatusLevel, context: StatusContext) async -> String {
        var out = ""
        for parsed in StatusCommand.parse(line) {
            switch parsed {
            case .error(let message):
                out += "error: \(message)\n\n"
            case .command(let command, let format):
                guard level >= command.requiredLevel else {
                    out += "error: '\(command.line)' needs the operator level; this peer may only read\n\n"
                    continue
                }
                switch command {
                case .reportTransactions(let month):
                    out += await StatusReports.transactions(month, format, context) + "\n"
                case .reportServiceLevel(let day):
                    out += await StatusReports.serviceLevel(day, format, context) + "\n"
                default:
                    out += execute(command, format, context.broker) + "\n"
                }
            }
        }
        return out
    }

    private static func execute(_ command: StatusCommand, _ format: StatusCommand.Format, _ broker: Broker) -> String {
        // Taken only for the show commands: a snapshot walks every ticket and expert under the broker's lock.
        var snapshot: StatusSnapshot { broker.statusSnapshot() }
        switch command {
        case .help:
            return StatusCommand.helpText + "\n"
        case .drain:
            broker.closeQueuesForMaintenance()
            return format == .json ? "{\"draining\":true}\n" : "queues closed: new requests are refused\n"
        case .undrain:
            // A refusal is an error line in every format, so that scripts (luukkuctl --json) see it as one.
            guard broker.reopenQueues() else { return "error: the daemon is stopping; the queues stay closed\n" }
            return format == .json ? "{\"draining\":false}\n" : "queues open\n"
        case .showInfo:
            let info = snapshot.info
            if format == .json { return json(info) }
            return StatusTable.render(
                format,
                ["field", "value"],
                [
                    ["software", info.software], ["uptime_s", "\(info.uptimeSeconds)"],
                    ["connections", "\(info.connections)"], ["tickets_waiting", "\(info.ticketsWaiting)"],
                    ["tickets_offered", "\(info.ticketsOffered)"], ["sessions", "\(info.sessions)"],
                    ["experts_online", "\(info.expertsOnline)"], ["draining", "\(info.draining)"],
                    ["stopping", "\(info.stopping)"],
                    ["connections_tcp", "\(info.connectionsByStage.tcp)"],
                    ["connections_tls", "\(info.connectionsByStage.tls)"],
                    ["connections_authenticated", "\(info.connectionsByStage.authenticated)"],
                ] + info.refusals.keys.sorted().map { ["refused_\($0)", "\(info.refusals[$0] ?? 0)"] })
        case .showQueues:
            if format == .json { return json(snapshot.queues) }
            return StatusTable.render(
                format,
                ["agency", "language", "waiting", "oldest_wait_s", "experts_online", "experts_available"],
                snapshot.queues.map {
                    [
                        $0.agency, $0.language, "\($0.waiting)", "\($0.oldestWaitSeconds)", "\($0.expertsOnline)",
                        "\($0.expertsAvailable)",
                    ]
                })
        case .showExperts:
            if format == .json { return json(snapshot.experts) }
            return StatusTable.render(
                format,
                ["expert", "agency", "languages", "presence", "away_reason", "connected", "session"],
                snapshot.experts.map {
                    [
                        $0.id, $0.agency, $0.languages.joined(separator: ","), $0.presence, $0.awayReason ?? "-",
                        "\($0.connected)", $0.session ?? "-",
                    ]
                })
        case .showSessions:
            if format == .json { return json(snapshot.sessions) }
            return sessionsTable(snapshot.sessions, format)
        case .showRelay:
            let relay = broker.relay
            let free = relay.pool.available
            let fields: [(String, String)] = [
                ("sessions", "\(relay.openSessions)"), ("ports_free", "\(free)"),
                ("ports_total", "\(relay.pool.range.count)"),
                ("ports", "\(relay.configuration.ports.lowerBound)-\(relay.configuration.ports.upperBound)"),
                ("workers", "\(relay.configuration.workers)"), ("crypto", relay.configuration.cryptoBackend.rawValue),
            ]
            if format == .json {
                return json(Dictionary(uniqueKeysWithValues: fields))
            }
            return StatusTable.render(format, ["field", "value"], fields.map { [$0.0, $0.1] })
        case .kickExpert(let id):
            guard broker.kick(expert: id) else { return "error: expert \(id) is not connected\n" }
            return format == .json ? "{\"kicked\":true}\n" : "expert \(id) logged out\n"
        case .showSession(let id):
            guard let session = snapshot.sessions.first(where: { $0.id == SessionWire.wireValue(id) }) else {
                return "error: no running session \(SessionWire.wireValue(id))\n"
            }
            if format == .json { return json(session) }
            return sessionsTable([session], format)
        case .reportTransactions, .reportServiceLevel:
            // Asynchronous: answer(_:level:context:) runs them through StatusReports.
            return "error: internal: a report reached the synchronous commands\n"
        }
    }

    private static func sessionsTable(_ sessions: [StatusSnapshot.Session], _ format: StatusCommand.Format) -> String {
        StatusTable.render(
            format,
            ["session", "ticket", "service_point", "agency", "language", "expert", "elapsed_s", "ports"],
            sessions.map {
                [
                    $0.id, $0.ticket, $0.servicePoint, $0.agency, $0.language, $0.expert, "\($0.elapsedSeconds)",
                    "\($0.terminalPort),\($0.expertPort)",
                ]
            })
    }

    static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// Aligned text tables for people: a header, then one row per line, columns padded to their widest cell; or
/// the same as comma-separated values (RFC 4180 quoting, lines ended by LF) for spreadsheets.
enum StatusTable {
    static func render(_ format: StatusCommand.Format, _ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        if format == .csv {
            return all.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
        }
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1
                    ? row[column] : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// A field quoted when it holds a comma, a quote or a line break, quotes doubled (RFC 4180 section 2).
    private static func csvField(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// What the status socket's commands work on.
struct StatusContext: Sendable {
    let broker: Broker
    let reports: any LedgerReports
    let timeZone: TimeZone
    let serviceLevelTarget: Duration
}

/// Peer credentials as SO_PEERCRED returns them (`struct ucred`).
struct PeerCredentials: Sendable {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// One status-socket connection: reads one line, answers, closes.
final class StatusHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let context: StatusContext
    private let operatorsGroup: String
    private var pending = ByteBuffer()
    private var answered = false

    init(context: StatusContext, operatorsGroup: String) {
        self.context = context
        self.operatorsGroup = operatorsGroup
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !answered else { return }
        var bytes = unwrapInboundIn(data)
        pending.writeBuffer(&bytes)
        let view = pending.readableBytesView
        guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
            if pending.readableBytes > StatusSocket.maxLineBytes { reply(context, "error: line too long\n") }
            return
        }
        answer(context, String(decoding: view[view.startIndex..<newline], as: UTF8.self))
    }

    /// The peer closed its side: what it sent without a final newline is the line (`printf 'show info' | socat`).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard let event = event as? ChannelEvent, event == .inputClosed else {
            context.fireUserInboundEventTriggered(event)
            return
        }
        guard !answered else { return }
        if pending.readableBytes == 0 {
            context.close(promise: nil)
        } else {
            answer(context, String(decoding: pending.readableBytesView, as: UTF8.self))
        }
    }

    private func answer(_ context: ChannelHandlerContext, _ line: String) {
        answered = true
        let statusContext = self.context
        let operatorsGroup = self.operatorsGroup
        // The answer is made off the event loop: the group database may be remote (NSS, sssd), so the level is
        // looked up on NIO's blocking thread pool; reports read the ledger (async). It comes back to the loop to
        // be written.
        let eventLoop = context.eventLoop
        let level = credentials(context.channel).flatMap { credentials in
            NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
                Self.level(of: credentials, operatorsGroup: operatorsGroup)
            }
        }.recover { _ in .readOnly }
        let answer = eventLoop.makePromise(of: String.self)
        level.whenSuccess { level in
            answer.completeWithTask { await StatusSocket.answer(line, level: level, context: statusContext) }
        }
        answer.futureResult.assumeIsolated().whenSuccess { self.reply(context, $0) }
    }

    private func reply(_ context: ChannelHandlerContext, _ text: String) {
        answered = true
        let buffer = context.channel.allocator.buffer(string: text)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// The peer's credentials; a failed future if the channel cannot tell (the peer then only reads).
    private func credentials(_ channel: any Channel) -> EventLoopFuture<PeerCredentials> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeFailedFuture(ChannelError.operationUnsupported)
        }
        return provider.unsafeGetSocketOption(level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
    }

    /// Root, the daemon's own user and members of the operators' group (primary or supplementary, by the
    /// group database) are operators; anyone else may only read. Reentrant lookups (`getgrnam_r`,
    /// `getpwuid_r`, `getgrouplist`) with buffers that grow until the entry fits, so a large group or a user in
    /// many groups is not taken for a stranger. Blocking (NSS): called on NIO's thread pool.
    static func level(of credentials: PeerCredentials, operatorsGroup: String) -> StatusLevel {
        if credentials.uid == 0 || credentials.uid == geteuid() { return .operator }
        guard let operators = groupID(named: operatorsGroup) else { return .readOnly }
        if credentials.gid == operators { return .operator }
        var found: (name: String, gid: gid_t)?
        withGrowingBuffer { buffer in
            var user = passwd()
            var result: UnsafeMutablePointer<passwd>?
            let status = getpwuid_r(credentials.uid, &user, &buffer, buffer.count, &result)
            if status == 0, result != nil, let name = user.pw_name { found = (String(cString: name), user.pw_gid) }
            return status
        }
        guard let (name, gid) = found else { return .readOnly }
        var count: Int32 = 64
        while count <= 65_536 {
            var groups = [gid_t](repeating: 0, count: Int(count))
            var asked = count
            if getgrouplist(name, gid, &groups, &asked) >= 0 {
                return groups.prefix(Int(asked)).contains(operators) ? .operator : .readOnly
            }
            count = max(asked, count * 2)  // too small: `asked` now holds how many there are
        }
        return .readOnly
    }

    /// The group's id from the group database, or nil if there is no such group.
    static func groupID(named name: String) -> gid_t? {
        var id: gid_t?
        withGrowingBuffer { buffer in
            var group = group()
            var result: UnsafeMutablePointer<group>?
            let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
            if status == 0, result != nil { id = group.gr_gid }
            return status
        }
        return id
    }

    /// Calls `body` with a buffer for a `get*_r` lookup, doubling it (up to 1 MiB) while the lookup says ERANGE.
    private static func withGrowingBuffer(_ body: (inout [CChar]) -> Int32) {
        var size = 16_384
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            guard body(&buffer) == ERANGE else { return }
            size *= 2
        }
    }
}
