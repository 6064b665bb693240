import LuukkuCore
import Testing

@testable import LuukkuServer

/// Parsing status-socket lines: several commands, the json suffix, errors with a hint, and levels.
@Suite struct StatusCommandTests {
    @Test func severalCommandsOnOneLineWithTheirFormats() {
        #expect(
            StatusCommand.parse("show info; show queues json;;  show session s-12 json ;help")
                == [
                    .command(.showInfo, .text), .command(.showQueues, .json), .command(.showSession(12), .json),
                    .command(.help, .text),
                ])
        #expect(StatusCommand.parse("show session 7") == [.command(.showSession(7), .text)])
        #expect(
            StatusCommand.parse("show relay json; kick expert kela-aino")
                == [.command(.showRelay, .json), .command(.kickExpert("kela-aino"), .text)])
        #expect(StatusCommand.parse("  ") == [])
    }

    @Test func unknownCommandsGetAnErrorWithAHint() {
        #expect(
            StatusCommand.parse("show tickets") == [.error("unknown command 'show tickets'; 'help' lists the commands")]
        )
        #expect(StatusCommand.parse("json") == [.error("unknown command 'json'; 'help' lists the commands")])
        #expect(
            StatusCommand.parse("show session x") == [
                .error("unknown command 'show session x'; 'help' lists the commands")
            ])
    }

    @Test func everyCommandHasALineThatParsesBackToIt() {
        let all: [StatusCommand] = [
            .help, .showInfo, .showQueues, .showExperts, .showSessions, .showSession(12), .showRelay,
            .kickExpert("kela-aino"), .drain, .undrain, .reportTransactions(month: "2026-11"),
            .reportServiceLevel(day: "2026-11-24"),
        ]
        for command in all {
            #expect(StatusCommand.parse(command.line) == [.command(command, .text)])
            #expect(StatusCommand.parse(command.line + " json") == [.command(command, .json)])
        }
        #expect(StatusCommand.showSession(12).line == "show session s-12")
        #expect(StatusCommand.kickExpert("kela-aino").line == "kick expert kela-aino")
    }

    @Test func aSessionHasOneSpelling() {
        #expect(SessionWire.number("s-12") == 12 && SessionWire.wireValue(12) == "s-12")
        #expect(SessionWire.number("s-0") == 0)
        for wrong in ["s-+12", "s- 12", "s-", "s-1x", "s-012", "s12", "s-123456789012345678901", "s-\u{0661}"] {
            #expect(SessionWire.number(wrong) == nil, "\(wrong)")
        }
        #expect(
            StatusCommand.parse("show session +7") == [
                .error("unknown command 'show session +7'; 'help' lists the commands")
            ])
    }

    @Test func anErrorLineCarriesNoControlCharacters() {
        // What was typed comes back printable: an escape sequence or a NUL is left out, not echoed.
        #expect(
            StatusCommand.parse("show \u{1B}[2Jqueues\u{0}x\u{7F}") == [
                .error("unknown command 'show [2Jqueuesx'; 'help' lists the commands")
            ])
        let long = String(repeating: "x", count: 500)
        #expect(
            StatusCommand.parse(long) == [.error("unknown command '\(long.prefix(60))'; 'help' lists the commands")])
    }

    @Test func changingStateNeedsTheOperatorLevel() {
        #expect(StatusCommand.drain.requiredLevel == .operator && StatusCommand.undrain.requiredLevel == .operator)
        #expect(StatusCommand.kickExpert("kela-aino").requiredLevel == .operator)
        #expect(StatusCommand.showRelay.requiredLevel == .readOnly)
        #expect(StatusCommand.showInfo.requiredLevel == .readOnly)
        #expect(StatusLevel.operator >= .readOnly && !(StatusLevel.readOnly >= .operator))
        // Root is an operator whatever the groups say.
        #expect(
            StatusHandler.level(of: PeerCredentials(pid: 1, uid: 0, gid: 0), operatorsGroup: "no-such-group")
                == .operator)
        // nobody (65534:65534) by the real group database: an operator through its primary group, else a reader.
        let nobody = PeerCredentials(pid: 1, uid: 65_534, gid: 65_534)
        #expect(StatusHandler.groupID(named: "nogroup") == 65_534 && StatusHandler.groupID(named: "no-such") == nil)
        #expect(StatusHandler.level(of: nobody, operatorsGroup: "nogroup") == .operator)
        #expect(StatusHandler.level(of: nobody, operatorsGroup: "root") == .readOnly)
        #expect(StatusHandler.level(of: nobody, operatorsGroup: "no-such-group") == .readOnly)
    }

    @Test func tablesAlignTheirColumns() {
        #expect(
            StatusTable.render(.text, ["a", "bb", "c"], [["xyz", "1", "last"], ["q", "22", "z"]])
                == "a    bb  c\nxyz  1   last\nq    22  z\n")
    }

    @Test func csvQuotesOnlyWhatNeedsIt() {
        #expect(
            StatusTable.render(.csv, ["a", "b"], [["plain", "with,comma"], ["say \"hi\"", "line\nbreak"]])
                == "a,b\nplain,\"with,comma\"\n\"say \"\"hi\"\"\",\"line\nbreak\"\n")
    }

    @Test func reportsTakeAMonthOrADayAndAnyFormat() {
        #expect(
            StatusCommand.parse("report transactions 2026-11 csv; report service-level 2026-11-24 json")
                == [
                    .command(.reportTransactions(month: "2026-11"), .csv),
                    .command(.reportServiceLevel(day: "2026-11-24"), .json),
                ])
        #expect(StatusCommand.parse("show queues csv") == [.command(.showQueues, .csv)])
        for wrong in ["report transactions 2026-1", "report transactions 2026-11-24", "report service-level 2026-11"] {
            #expect(StatusCommand.parse(wrong) == [.error("unknown command '\(wrong)'; 'help' lists the commands")])
        }
        #expect(StatusCommand.reportTransactions(month: "2026-11").requiredLevel == .readOnly)
    }
}
