/// One command of the operators' status socket (docs/operations.md, "Status socket"), HAProxy style: one
/// line holds one or more commands separated by `;`, and a trailing `json` (or `csv`) word asks for JSON (or
/// comma-separated values) instead of an aligned text table.
///
/// Parsing is a pure function of the line (``StatusCommand/parse(_:)``); the server checks the caller's
/// level (``StatusLevel``) and carries the commands out. It lives here, without NIO, so that its fuzz target
/// (`make fuzz TARGET=status`, docs/fuzzing.md) builds in seconds.
public enum StatusCommand: Hashable, Sendable {
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
    /// Reports from the ledger: a month `YYYY-MM` and a day `YYYY-MM-DD`, checked for shape here and as a
    /// calendar date (in the configured time zone) when run.
    case reportTransactions(month: String)
    case reportServiceLevel(day: String)

    /// Output format asked for by a trailing `json` or `csv`.
    public enum Format: String, Hashable, Sendable { case text, json, csv }

    /// What one `;`-separated part of a line asked for.
    public enum Parsed: Hashable, Sendable {
        case command(StatusCommand, Format)
        /// Not a command: the text of the error line, which names the input and hints at `help`.
        case error(String)
    }

    /// The commands of one line, in order; empty parts are skipped.
    public static func parse(_ line: String) -> [Parsed] {
        line.split(separator: ";").compactMap { part -> Parsed? in
            var words = part.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard !words.isEmpty else { return nil }
            var format = Format.text
            if words.count > 1, let last = words.last, let asked = Format(rawValue: last), asked != .text {
                format = asked
                words.removeLast()
            }
            guard let command = command(words) else {
                return .error("unknown command '\(shown(words))'; 'help' lists the commands")
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
            } else if words.count == 3, words[0] == "report", words[1] == "transactions", shape(words[2], "dddd-dd") {
                .reportTransactions(month: words[2])
            } else if words.count == 3, words[0] == "report", words[1] == "service-level",
                shape(words[2], "dddd-dd-dd")
            {
                .reportServiceLevel(day: words[2])
            } else if words.count == 3, words[0] == "show", words[1] == "session",
                let id = SessionWire.number(words[2]) ?? SessionWire.decimal(Substring(words[2]))
            {
                .showSession(id)
            } else {
                nil
            }
        }
    }

    /// What an error line shows of what was typed: its first 60 characters, printable ASCII only, so that an
    /// answer never carries a control sequence back to the operator's terminal.
    private static func shown(_ words: [String]) -> String {
        String(words.joined(separator: " ").unicodeScalars.prefix(60).filter { (0x20...0x7E).contains($0.value) })
    }

    /// The command as a line that parses back to it, e.g. `kick expert kela-aino` or `show session s-12`:
    /// how an answer names the command it refuses.
    public var line: String {
        switch self {
        case .help: "help"
        case .showInfo: "show info"
        case .showQueues: "show queues"
        case .showExperts: "show experts"
        case .showSessions: "show sessions"
        case .showSession(let id): "show session \(SessionWire.wireValue(id))"
        case .showRelay: "show relay"
        case .kickExpert(let id): "kick expert \(id)"
        case .drain: "drain"
        case .undrain: "undrain"
        case .reportTransactions(let month): "report transactions \(month)"
        case .reportServiceLevel(let day): "report service-level \(day)"
        }
    }

    /// True if `text` has the shape of `pattern`, where `d` is an ASCII digit and anything else itself.
    private static func shape(_ text: String, _ pattern: String) -> Bool {
        text.count == pattern.count
            && zip(text, pattern).allSatisfy { $1 == "d" ? ($0.isASCII && $0.isNumber) : $0 == $1 }
    }

    /// The level a command needs: reading is for every peer the socket's mode lets in; changing the
    /// daemon's state is for operators.
    public var requiredLevel: StatusLevel {
        switch self {
        case .drain, .undrain, .kickExpert: .operator
        case .help, .showInfo, .showQueues, .showExperts, .showSessions, .showSession, .showRelay,
            .reportTransactions, .reportServiceLevel:
            .readOnly
        }
    }

    public static let helpText = """
        help                             this list
        show info                        version, uptime, connections, tickets, sessions, draining
        show queues                      per agency and language: waiting, oldest wait, experts online, available
        show experts                     per expert: agency, presence, connected, session
        show sessions                    running sessions
        show session <id>                one running session
        show relay                       media relay: sessions, free ports, workers, crypto
        report transactions <YYYY-MM>    sessions per service point, agency and language in a month
        report service-level <YYYY-MM-DD> per queue: answered within the target, abandoned, waits, handling
        kick expert <id>                 (operator) log an expert out; a running session ends (operator)
        drain                            (operator) close the queues as on SIGTERM, without stopping
        undrain                          (operator) open the queues again
        End a command with 'json' or 'csv' for JSON or comma-separated values instead of a table.
        Several commands on one line: separate them with ';'.
        """
}

/// What a status-socket peer may do, from its credentials (SO_PEERCRED).
public enum StatusLevel: Comparable, Hashable, Sendable {
    case readOnly
    case `operator`
}
