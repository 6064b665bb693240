import Foundation
import Logging
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
    private let broker: Broker
    private let logger: Logger
    private let operatorsGroup: String
    static let maxLineBytes = 4_096

    public init(path: String, broker: Broker, logger: Logger, operatorsGroup: String = "luukku-operators") {
        self.path = path
        self.broker = broker
        self.logger = logger
        self.operatorsGroup = operatorsGroup
    }

    public func run() async throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let group = MultiThreadedEventLoopGroup.singleton
        let broker = self.broker
        let logger = self.logger
        let operatorsGroup = self.operatorsGroup
        let channel = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        StatusHandler(broker: broker, logger: logger, operatorsGroup: operatorsGroup))
                }
            }
            .bind(unixDomainSocketPath: path, cleanupExistingSocketFile: true).get()
        chmod(path, 0o660)
        logger.info("status socket at \(path)")
        try? await gracefulShutdown()
        try? await channel.close()
        unlink(path)
    }

    /// Runs one line of commands for a peer of `level` and returns the whole answer.
    static func answer(_ line: String, level: StatusLevel, broker: Broker) -> String {
        var out = ""
        for parsed in StatusCommand.parse(line) {
            switch parsed {
            case .error(let message):
                out += "error: \(message)\n\n"
            case .command(let command, let format):
                guard level >= command.requiredLevel else {
                    out += "error: '\(command)' needs the operator level; this peer may only read\n\n"
                    continue
                }
                out += execute(command, format, broker) + "\n"
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
            let opened = broker.reopenQueues()
            if format == .json { return "{\"draining\":\(!opened)}\n" }
            return opened ? "queues open\n" : "error: the daemon is stopping; the queues stay closed\n"
        case .showInfo:
            let info = snapshot.info
            if format == .json { return json(info) }
            return StatusTable.render(
                ["field", "value"],
                [
                    ["software", info.software], ["uptime_s", "\(info.uptimeSeconds)"],
                    ["connections", "\(info.connections)"], ["tickets_waiting", "\(info.ticketsWaiting)"],
                    ["tickets_offered", "\(info.ticketsOffered)"], ["sessions", "\(info.sessions)"],
                    ["experts_online", "\(info.expertsOnline)"], ["draining", "\(info.draining)"],
                    ["stopping", "\(info.stopping)"],
                ])
        case .showQueues:
            if format == .json { return json(snapshot.queues) }
            return StatusTable.render(
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
                ["expert", "agency", "languages", "presence", "away_reason", "connected", "session"],
                snapshot.experts.map {
                    [
                        $0.id, $0.agency, $0.languages.joined(separator: ","), $0.presence, $0.awayReason ?? "-",
                        "\($0.connected)", $0.session ?? "-",
                    ]
                })
        case .showSessions:
            if format == .json { return json(snapshot.sessions) }
            return sessionsTable(snapshot.sessions)
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
            return StatusTable.render(["field", "value"], fields.map { [$0.0, $0.1] })
        case .kickExpert(let id):
            let kicked = broker.kick(expert: id)
            if format == .json { return "{\"kicked\":\(kicked)}\n" }
            return kicked ? "expert \(id) logged out\n" : "error: expert \(id) is not connected\n"
        case .showSession(let id):
            guard let session = snapshot.sessions.first(where: { $0.id == Broker.sessionWire(id) }) else {
                return "error: no running session \(Broker.sessionWire(id))\n"
            }
            if format == .json { return json(session) }
            return sessionsTable([session])
        }
    }

    private static func sessionsTable(_ sessions: [StatusSnapshot.Session]) -> String {
        StatusTable.render(
            ["session", "ticket", "service_point", "agency", "language", "expert", "elapsed_s", "ports"],
            sessions.map {
                [
                    $0.id, $0.ticket, $0.servicePoint, $0.agency, $0.language, $0.expert, "\($0.elapsedSeconds)",
                    "\($0.terminalPort),\($0.expertPort)",
                ]
            })
    }

    private static func json<T: Encodable>(_ value: T) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = (try? encoder.encode(value)) ?? Data("null".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

/// Aligned text tables for people: a header, then one row per line, columns padded to their widest cell.
enum StatusTable {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1
                    ? row[column] : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }
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

    private let broker: Broker
    private let logger: Logger
    private let operatorsGroup: String
    private var pending = ByteBuffer()
    private var answered = false

    init(broker: Broker, logger: Logger, operatorsGroup: String) {
        self.broker = broker
        self.logger = logger
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
        let line = String(decoding: view[view.startIndex..<newline], as: UTF8.self)
        answered = true
        let broker = self.broker
        levelOf(context.channel).assumeIsolated().whenComplete { result in
            let level = (try? result.get()) ?? .readOnly
            self.reply(context, StatusSocket.answer(line, level: level, broker: broker))
        }
    }

    private func reply(_ context: ChannelHandlerContext, _ text: String) {
        answered = true
        let buffer = context.channel.allocator.buffer(string: text)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(buffer)).whenComplete { _ in channel.close(promise: nil) }
    }

    /// Root, the daemon's own user and members of the operators' group are operators; others read.
    private func levelOf(_ channel: any Channel) -> EventLoopFuture<StatusLevel> {
        guard let provider = channel as? any SocketOptionProvider else {
            return channel.eventLoop.makeSucceededFuture(.readOnly)
        }
        let operatorsGroup = self.operatorsGroup
        let credentials: EventLoopFuture<PeerCredentials> = provider.unsafeGetSocketOption(
            level: SocketOptionLevel(SOL_SOCKET), name: SocketOptionName(SO_PEERCRED))
        return credentials.map { Self.level(of: $0, operatorsGroup: operatorsGroup) }
    }

    static func level(of credentials: PeerCredentials, operatorsGroup: String) -> StatusLevel {
        if credentials.uid == 0 || credentials.uid == geteuid() { return .operator }
        guard let group = getgrnam(operatorsGroup) else { return .readOnly }
        if credentials.gid == group.pointee.gr_gid { return .operator }
        guard let user = getpwuid(credentials.uid).map({ String(cString: $0.pointee.pw_name) }) else {
            return .readOnly
        }
        var member = group.pointee.gr_mem
        while let name = member?.pointee {
            if String(cString: name) == user { return .operator }
            member = member?.advanced(by: 1)
        }
        return .readOnly
    }
}
