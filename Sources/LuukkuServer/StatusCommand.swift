import LuukkuCore

/// One command of the operators' status socket (docs/operations.md, "Status socket"), HAProxy style: one
/// line holds one or more commands separated by `;`, and a trailing `json` word asks for JSON instead of an
/// aligned text table.
///
/// Parsing is a pure function of the line (``StatusCommand/parse(_:)``); the server checks the caller's
/// level (``StatusLevel``) and carries the commands out.
enum StatusCommand: Hashable, Sendable {
    case help
    case showInfo
    case showQueues
    case showExperts
    case showSessions
    case showSession(UInt64)
    case showRelay
    case kickExpert(String)
    case drain
    case undrain

    /// Output format asked for by a trailing `json`.
    enum Format: Hashable, Sendable { case text, json }

    /// What one `;`-separated part of a line asked for.
    enum Parsed: Hashable, Sendable {
        case command(StatusCommand, Format)
        /// Not a command: the text of the error line, which names the input and hints at `help`.
        case error(String)
    }

    /// The commands of one line, in order; empty parts are skipped.
    static func parse(_ line: String) -> [Parsed] {
        line.split(separator: ";").compactMap { part -> Parsed? in
            var words = part.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard !words.isEmpty else { return nil }
            var format = Format.text
            if words.count > 1, words.last == "json" {
                format = .json
                words.removeLast()
            }
            guard let command = command(words) else {
                let shown = words.joined(separator: " ").prefix(60).filter { $0.isASCII && !$0.isNewline }
                return .error("unknown command '\(shown)'; 'help' lists the commands")
            }
            return .command(command, format)
        }
    }

    private static func command(_ words: [String]) -> StatusCommand? {
        switch words {
        case ["help"]: .help
        case ["show", "info"]: .showInfo
        case ["show", "queues"]: .showQueues
        case ["show", "experts"]: .showExperts
        case ["show", "sessions"]: .showSessions
        case ["show", "relay"]: .showRelay
        case ["drain"]: .drain
        case ["undrain"]: .undrain
        default:
            if words.count == 3, words[0] == "kick", words[1] == "expert", ExpertID(words[2]) != nil {
                .kickExpert(words[2])
            } else if words.count == 3, words[0] == "show", words[1] == "session",
                let id = Broker.sessionNumber(words[2]) ?? UInt64(words[2])
            {
                .showSession(id)
            } else {
                nil
            }
        }
    }

    /// The level a command needs: reading is for every peer the socket's mode lets in; changing the
    /// daemon's state is for operators.
    var requiredLevel: StatusLevel {
        switch self {
        case .drain, .undrain, .kickExpert: .operator
        case .help, .showInfo, .showQueues, .showExperts, .showSessions, .showSession, .showRelay: .readOnly
        }
    }

    static let helpText = """
        help                     this list
        show info [json]         version, uptime, connections, tickets, sessions, draining
        show queues [json]       per agency and language: waiting, oldest wait, experts online and available
        show experts [json]      per expert: agency, presence, connected, session
        show sessions [json]     running sessions
        show session <id> [json] one session with its relay legs
        show relay [json]        media relay: sessions, free ports, workers, crypto
        kick expert <id>         (operator) log an expert out; a running session ends (operator)
        drain                    (operator) close the queues as on SIGTERM, without stopping
        undrain                  (operator) open the queues again
        Several commands on one line: separate them with ';'.
        """
}

/// What a status-socket peer may do, from its credentials (SO_PEERCRED).
enum StatusLevel: Comparable, Hashable, Sendable {
    case readOnly
    case `operator`
}
