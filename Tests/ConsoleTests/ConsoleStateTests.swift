import LuukkuClient
import LuukkuProtocol
import Testing

@testable import luukku_console

/// The full-screen console as the pure values it is: frames at given instants change a ``ConsoleState``, and
/// ``ConsoleScreen`` draws it for a window of a given size and language. No terminal, no daemon, no clock: every
/// instant is `start` plus an offset.
@Suite struct ConsoleStateTests {
    let start = ContinuousClock.now

    static let welcome = Luukku_V1_Welcome.with {
        $0.identity = "kela-aino"
        $0.displayName = "Aino Virtanen"
        $0.skills = [
            .with {
                $0.agency = "kela"
                $0.language = "fi"
            },
            .with {
                $0.agency = "kela"
                $0.language = "sv"
            },
        ]
    }

    static func frame(_ message: Luukku_V1_Envelope.OneOf_Message) -> Luukku_V1_Envelope {
        .with { $0.message = message }
    }

    static func presence(_ presence: Luukku_V1_Presence, wrapUpMs: UInt32 = 0) -> Luukku_V1_Envelope {
        frame(
            .presenceStatus(
                .with {
                    $0.presence = presence
                    $0.wrapUpRemainingMs = wrapUpMs
                }))
    }

    static let offer = frame(
        .offer(
            .with {
                $0.ticketID = "t-3"
                $0.servicePointID = "parainen"
                $0.servicePointName = "Paraisten asiointipiste"
                $0.agency = "kela"
                $0.language = "fi"
                $0.serviceCode = "housing-allowance"
                $0.waitedSeconds = 40
                $0.answerWithinMs = 30_000
            }))

    static let started = frame(
        .sessionStarted(
            .with {
                $0.sessionID = "s-1"
                $0.ticketID = "t-3"
                $0.servicePointName = "Paraisten asiointipiste"
                $0.language = "fi"
            }))

    static let snapshot = frame(
        .queueSnapshot(
            .with {
                $0.queues = [
                    .with {
                        $0.queue = .with {
                            $0.agency = "kela"
                            $0.language = "fi"
                        }
                        $0.depth = 4
                        $0.oldestWaitSeconds = 95
                        $0.expertsAvailable = 1
                    }
                ]
            }))

    /// The screen without colour; its lines are compared as text (``plain``).
    func screen(_ language: ConsoleLanguage = .en, width: Int = 80, height: Int = 40) -> Drawn {
        Drawn(screen: ConsoleScreen(language: language, color: false, width: width, height: height))
    }

    /// A screen's lines without their SGR sequences (bold and reverse video stay without colour).
    struct Drawn {
        let screen: ConsoleScreen

        func render(_ state: ConsoleState, now: ContinuousClock.Instant) -> [String] {
            screen.render(state, now: now).map(Self.plain)
        }

        func fitted(_ state: ConsoleState, now: ContinuousClock.Instant) -> [String] {
            screen.fitted(screen.sections(state, now: now)).map(Self.plain)
        }

        func frame(_ state: ConsoleState, now: ContinuousClock.Instant) -> String { screen.frame(state, now: now) }

        static func plain(_ line: String) -> String {
            line.replacing(/\x1B\[[0-9;]*m/, with: "")
        }
    }

    /// An expert, available, with the queue figures and a ringing offer, received at `start`.
    func offered() -> ConsoleState {
        var state = ConsoleState(welcome: Self.welcome)
        state.apply(Self.presence(.available), now: start)
        state.apply(Self.snapshot, now: start)
        state.apply(Self.offer, now: start)
        state.apply(Self.presence(.offered), now: start)
        return state
    }

    @Test func anOfferCountsDownItsAnswerTimeAndTheCustomersWait() {
        let state = offered()
        #expect(state.shift.phase == .offered(ticket: "t-3"))
        let lines = screen().render(state, now: start + .seconds(10))
        #expect(lines.contains("Presence: OFFERED"), "\(lines)")
        #expect(lines.contains("CUSTOMER OFFERED"), "\(lines)")
        #expect(lines.contains("  Service point: Paraisten asiointipiste"), "\(lines)")
        #expect(lines.contains("  kela/fi  housing-allowance"), "\(lines)")
        #expect(lines.contains("  Waited: 50 s"), "40 s before the offer and 10 s since: \(lines)")
        #expect(lines.contains("  Answer within: 20 s"), "\(lines)")
        #expect(lines.last == "Keys: y accept  n decline  q quit", "\(lines)")
        // Past the deadline the countdown stops at zero.
        #expect(screen().render(state, now: start + .seconds(45)).contains("  Answer within: 0 s"))
        // The queue table, headings and all.
        #expect(lines.contains { $0.hasPrefix("  queue") && $0.contains("waiting") && $0.contains("oldest wait") })
        #expect(lines.contains { $0.hasPrefix("  kela/fi") && $0.contains("4") && $0.contains("95 s") })
    }

    @Test func theSessionRunsThenTheExpertsOwnHangUpBecomesWrapUpWithOnlyReadyOnItsKeys() {
        var state = offered()
        #expect(state.apply(Self.started, now: start + .seconds(5)) == [.sessionStarted(Self.started.sessionStarted)])
        #expect(state.offer == nil && state.session?.id == "s-1")
        let running = screen().render(state, now: start + .seconds(80))
        #expect(running.contains("SESSION RUNNING") && running.contains("  Elapsed: 1:15"), "\(running)")
        #expect(running.last == "Keys: h hang up", "\(running)")

        // This expert hung up: no Hangup comes back, the wrap-up is the session's end.
        let events = state.apply(Self.presence(.wrapUp, wrapUpMs: 60_000), now: start + .seconds(90))
        #expect(events == [.sessionEnded(session: "s-1"), .wrapUpStarted(session: "s-1")])
        #expect(state.session == nil && state.wrapUp?.session == "s-1")
        let wrapUp = screen().render(state, now: start + .seconds(110))
        #expect(wrapUp.contains("WRAP-UP") && wrapUp.contains("  s-1: 40 s remaining"), "\(wrapUp)")
        #expect(wrapUp.contains("you hung up"), "\(wrapUp)")
        // The daemon refuses away in wrap-up, so the keys do not offer it.
        #expect(wrapUp.last == "Keys: r ready", "\(wrapUp)")
        let ready = state.shift.wrapUpDone()
        #expect(!state.shift.canSetPresence && ready == .wrapUpDone(.with { $0.sessionID = "s-1" }))

        state.apply(Self.presence(.available), now: start + .seconds(120))
        #expect(state.wrapUp == nil && state.shift.phase == .connected)
        #expect(screen().render(state, now: start + .seconds(120)).last == "Keys: a available  w away  q quit")
    }

    @Test func theCustomersHangUpIsNamedInEachLanguage() {
        var state = offered()
        state.apply(Self.started, now: start)
        let hangup = Self.frame(
            .hangup(
                .with {
                    $0.sessionID = "s-1"
                    $0.reason = .customerEnded
                }))
        #expect(state.apply(hangup, now: start + .seconds(30)) == [.sessionEnded(session: "s-1")])
        state.apply(Self.presence(.wrapUp, wrapUpMs: 60_000), now: start + .seconds(30))
        #expect(screen(.fi).render(state, now: start + .seconds(31)).contains("asiakas lopetti puhelun"))
        #expect(screen(.sv).render(state, now: start + .seconds(31)).contains("kunden lade på"))
        #expect(screen(.en).render(state, now: start + .seconds(31)).contains("the customer hung up"))
        #expect(screen(.fi).render(state, now: start + .seconds(31)).last == "Näppäimet: r valmis")

        // The daemon's own reasons are shown as the wire names them.
        var lost = offered()
        lost.apply(Self.started, now: start)
        var dropped = hangup
        dropped.hangup.reason = .connectionLost
        lost.apply(dropped, now: start + .seconds(1))
        #expect(screen().render(lost, now: start + .seconds(1)).contains("the session ended: connectionLost"))
    }

    @Test func aRingingOfferClosesTheAwayMenuAndAWithdrawalClearsIt() {
        var state = ConsoleState(welcome: Self.welcome)
        state.apply(Self.presence(.available), now: start)
        state.choosingReason = true
        let menu = screen().render(state, now: start)
        #expect(menu.contains("Reason for away:") && menu.contains("  2  meeting"), "\(menu)")
        #expect(menu.last == "Keys: 1-5  Esc cancel", "\(menu)")
        #expect(state.apply(Self.offer, now: start) == [.offered(Self.offer.offer)])
        #expect(!state.choosingReason, "the offer is never hidden behind the menu")
        let withdrawn = Self.frame(
            .offerWithdrawn(
                .with {
                    $0.ticketID = "t-3"
                    $0.reason = .customerLeft
                }))
        state.apply(withdrawn, now: start + .seconds(2))
        #expect(state.offer == nil && state.shift.accept() == nil)
        #expect(screen().render(state, now: start + .seconds(2)).contains("offer withdrawn"))
    }

    @Test func aShortWindowDropsTheWholeQueueTableFirst() {
        let state = offered()
        let tall = screen(height: 40).fitted(state, now: start)
        #expect(tall.contains("Queues") && tall.contains("CUSTOMER OFFERED"))
        let lines = screen(height: 14).fitted(state, now: start)
        #expect(lines.count <= 14, "\(lines)")
        #expect(
            !lines.contains("Queues") && !lines.contains { $0.contains("oldest wait") || $0.contains("95 s") },
            "\(lines)")
        #expect(lines.contains("CUSTOMER OFFERED") && lines.last == "Keys: y accept  n decline  q quit", "\(lines)")
        #expect(lines.first == "Luukku – expert console", "\(lines)")
    }

    @Test func everyLineFitsANarrowWindowAndColourIsOnlyWhereAsked() {
        let state = offered()
        for language in ConsoleLanguage.allCases {
            for line in screen(language, width: 30).render(state, now: start) {
                #expect(line.count <= 30, "\(language): \(line)")
            }
        }
        let plain = screen().frame(state, now: start)
        #expect(!plain.contains("33m"), "no colour without colour")
        let coloured = ConsoleScreen(language: .en, color: true, width: 80, height: 40).frame(state, now: start)
        #expect(coloured.contains("\u{1B}[1;33mPresence: OFFERED\u{1B}[0m"), "offered in yellow")
    }
}
