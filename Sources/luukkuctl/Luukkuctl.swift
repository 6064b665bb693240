import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The operators' command line over luukkud's status socket (docs/luukkuctl.md). Each subcommand is one
/// status-socket command; the daemon does the work and luukkuctl prints its answer.
@main
struct Luukkuctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "luukkuctl",
        abstract: "Watch and steer a running luukkud through its status socket.",
        discussion: """
            Every subcommand sends one status-socket command (docs/operations.md) and prints the daemon's \
            answer: an aligned table, or JSON with --json, or CSV with --csv. The socket is \
            $LUUKKU_STATUS_SOCKET, else /run/luukku/luukkud.sock (the systemd unit's), unless --socket names \
            another (make run: state/luukkud.sock); --socket, --json and --csv may come before or after the \
            subcommand (raw takes only --socket). Reading needs access to the socket (mode 0660); drain, \
            undrain and kick need the operator level: root, the daemon's user or the luukku-operators group.

            Exit status: 0 answered; 1 the daemon answered with an error (for raw: any command of the line); \
            64 bad usage; 69 no daemon at the socket; 74 an I/O error; 75 no answer within 30 s; 77 not allowed \
            to open the socket.
            """,
        subcommands: [
            Info.self, Queues.self, Experts.self, Sessions.self, Session.self, RelayStatus.self, Report.self,
            Drain.self, Undrain.self, Kick.self, Raw.self,
        ])

    /// `luukkuctl --socket PATH --json queues` as well as `luukkuctl queues --socket PATH --json`: the options
    /// every subcommand takes may come before it, and are moved after it for ArgumentParser.
    static func main() {
        main(Array(hoistingOptions(Array(CommandLine.arguments.dropFirst()))))
    }

    static func hoistingOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            if first == "--json" || first == "--csv" {
                leading.append(first)
                rest = rest.dropFirst()
            } else if first == "--socket", rest.count >= 2 {
                leading += rest.prefix(2)
                rest = rest.dropFirst(2)
            } else if first.hasPrefix("--socket=") {
                leading.append(first)
                rest = rest.dropFirst()
            } else {
                break
            }
        }
        // Before a `--` (after it everything is an argument); `raw` takes --socket only, and is told so.
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        return Array(rest[..<end]) + leading + Array(rest[end...])
    }
}

/// The socket option, which every subcommand takes (`raw` only this one).
struct SocketOption: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's status socket.", valueName: "path"))
    var socket: String = ProcessInfo.processInfo.environment["LUUKKU_STATUS_SOCKET"] ?? "/run/luukku/luukkud.sock"

    /// The daemon's answer to `line`; on failure the reason is printed and the exit status thrown.
    func ask(_ line: String) throws -> String {
        do {
            return try StatusClient.send(line, to: socket)
        } catch {
            FileHandle.standardError.write(Data("luukkuctl: \(error)\n".utf8))
            throw ExitCode(error.exitCode)
        }
    }
}

/// Options every subcommand but `raw` takes.
struct SocketOptions: ParsableArguments {
    @OptionGroup var connection: SocketOption

    @Flag(help: "JSON instead of a table (snake_case keys; absent values left out).")
    var json = false

    @Flag(help: "Comma-separated values instead of a table.")
    var csv = false

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv cannot be used together") }
    }

    /// Sends `command` with the format word the flags ask for, prints the answer, and exits as documented.
    func run(_ command: String) throws {
        // An argument must not smuggle in a second command (`kick 'x; drain'`): one subcommand, one command.
        guard !command.contains(where: { $0 == ";" || $0.isNewline }) else {
            throw ValidationError("an argument cannot hold ';' or a line break")
        }
        let answer = try connection.ask(command + (json ? " json" : csv ? " csv" : ""))
        // The daemon ends each command's answer with an empty line; one command needs no separator.
        let text = answer.hasSuffix("\n\n") ? String(answer.dropLast()) : answer
        if text.hasPrefix("error: ") {
            FileHandle.standardError.write(Data(("luukkuctl: " + text.dropFirst(7)).utf8))
            throw ExitCode(1)
        }
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Software, uptime, connections by stage, refusals, waiting tickets, sessions, experts online, draining.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("show info") }
}

struct Queues: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per agency and language: waiting, oldest wait, experts online and available.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("show queues") }
}

struct Experts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Per expert: agency, languages, presence, away reason, connected, session.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("show experts") }
}

struct Sessions: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Running sessions: ticket, service point, queue, expert, elapsed time, relay ports.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("show sessions") }
}

struct Session: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "One running session.")
    @Argument(help: ArgumentHelp("The session: s-12 or 12.", valueName: "id"))
    var id: String
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("show session \(id)") }
}

struct RelayStatus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "relay", abstract: "The media relay: open sessions, free and total ports, workers, crypto.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("show relay") }
}

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reports from the ledger, in the configured time zone (server.reportTimeZone).",
        subcommands: [Transactions.self, ServiceLevel.self])

    struct Transactions: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sessions answered in a month per service point, agency and language (the compensation).")
        @Argument(help: ArgumentHelp("The month.", valueName: "YYYY-MM"))
        var month: String
        @OptionGroup var options: SocketOptions
        func run() throws { try options.run("report transactions \(month)") }
    }

    struct ServiceLevel: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "service-level",
            abstract: "Per queue on a day: answered within the target, abandoned, average and p90 wait, handling.")
        @Argument(help: ArgumentHelp("The day.", valueName: "YYYY-MM-DD"))
        var day: String
        @OptionGroup var options: SocketOptions
        func run() throws { try options.run("report service-level \(day)") }
    }
}

struct Drain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Close the queues for maintenance: waiting customers get QUEUE_CLOSED; sessions go on.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("drain") }
}

struct Undrain: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open the queues again after a drain.")
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("undrain") }
}

struct Kick: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Log an expert out; a running session ends with reason operator.")
    @Argument(help: ArgumentHelp("The expert's id.", valueName: "expert"))
    var expert: String
    @OptionGroup var options: SocketOptions
    func run() throws { try options.run("kick expert \(expert)") }
}

struct Raw: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a line of status-socket commands as written ('show info; show queues json').")
    @Argument(help: ArgumentHelp("The line.", valueName: "commands"))
    var line: String
    @OptionGroup var connection: SocketOption
    func validate() throws {
        if line.contains(where: \.isNewline) { throw ValidationError("the line cannot hold a line break") }
        // The daemon's limit (StatusSocket.maxLineBytes).
        if line.utf8.count > 4_096 { throw ValidationError("the line is longer than 4096 bytes") }
    }
    func run() throws {
        let answer = try connection.ask(line)
        FileHandle.standardOutput.write(Data(answer.utf8))
        // Each command's answer follows an empty line; any that is an error line makes the exit status 1.
        if answer.components(separatedBy: "\n\n").contains(where: { $0.hasPrefix("error: ") }) { throw ExitCode(1) }
    }
}
