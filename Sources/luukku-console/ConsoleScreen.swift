import Foundation

/// Draws a ``ConsoleState`` as lines of plain ANSI text for a terminal of a given size: a pure function, kept
/// apart from the terminal handling (``RawTerminal``) and the client loop (``FullScreenConsole``).
struct ConsoleScreen {
    var language: ConsoleLanguage
    var color: Bool
    var width: Int
    var height: Int

    /// One line: its text and an SGR colour for all of it (nil: plain).
    private struct Line {
        var text: String
        var style: String? = nil
    }

    /// The whole screen: cursor home, each line cleared to its end, the rest of the screen cleared.
    func frame(_ state: ConsoleState, now: ContinuousClock.Instant) -> String {
        let lines = fitted(sections(state, now: now))
        // No line break after the last line: on the bottom row it would scroll the screen.
        return "\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J"
    }

    /// The screen's four parts, each a list of finished lines.
    struct Sections {
        /// Title, expert, presence.
        var head: [String]
        /// A rule, the queues' title and table.
        var queues: [String]
        /// A rule and the offer, session, wrap-up or away menu (empty when there is none).
        var body: [String]
        /// A rule, the last event and the keys.
        var footer: [String]
    }

    /// The parts within `height` rows. Too short a window drops the whole queue table first (never a part of
    /// it, which would leave numbers without their headings); then the body loses its last lines; the head and
    /// the footer stay as long as there is room for them.
    func fitted(_ parts: Sections) -> [String] {
        let all = parts.head + parts.queues + parts.body + parts.footer
        if all.count <= height { return all }
        let room = height - parts.head.count - parts.footer.count
        if room >= 0 { return parts.head + parts.body.prefix(room) + parts.footer }
        let both = parts.head + parts.footer
        return Array(both.prefix(max(0, height - 2))) + both.suffix(min(2, max(0, height)))
    }

    /// All the lines, in order (for a window tall enough).
    func render(_ state: ConsoleState, now: ContinuousClock.Instant) -> [String] {
        let parts = sections(state, now: now)
        return parts.head + parts.queues + parts.body + parts.footer
    }

    /// The sections, each line at most `width` characters of visible text.
    func sections(_ state: ConsoleState, now: ContinuousClock.Instant) -> Sections {
        func t(_ text: ConsoleText) -> String { text.text(language) }
        func seconds(_ value: Int) -> String { "\(max(0, value)) \(t(.seconds))" }
        func until(_ instant: ContinuousClock.Instant) -> Int {
            let left = (instant - now).components
            return Int(left.seconds) + (left.attoseconds > 0 ? 1 : 0)
        }
        let ruleLine = Line(text: String(repeating: "─", count: max(0, min(width, 72))), style: "2")
        var lines: [Line] = [
            Line(text: t(.title), style: "1"),
            Line(
                text: "\(t(.expert)): \(state.displayName) (\(state.identity))  \(state.agency)  "
                    + state.languages.joined(separator: ", ")),
        ]
        var presence = "\(t(.presence)): \(t(.presenceName(state.presenceText)))"
        if state.presence == .away, let reason = state.awayReasonText { presence += " (\(t(.reasonName(reason))))" }
        lines.append(Line(text: presence, style: Self.style(state.presenceText)))
        let headEnd = lines.count
        lines.append(ruleLine)
        lines.append(Line(text: t(.queues), style: "1"))
        if state.queues.isEmpty {
            lines.append(Line(text: "  " + t(.noQueues)))
        } else {
            let header = [t(.queue), t(.waiting), t(.oldestWait), t(.availableExperts)]
            let rows = state.queues.map {
                ["\($0.agency)/\($0.language)", "\($0.depth)", seconds(Int($0.oldestWaitSeconds)), "\($0.available)"]
            }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                let padded = row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                lines.append(Line(text: "  " + padded.joined(separator: "  ")))
            }
        }
        let queuesEnd = lines.count
        var keys = t(.keysIdle)
        if state.choosingReason {
            lines.append(Line(text: t(.chooseReason), style: "1"))
            for (index, reason) in ConsoleState.reasons.enumerated() {
                lines.append(Line(text: "  \(index + 1)  \(t(.reasonName(reason.0)))"))
            }
            keys = "1-\(ConsoleState.reasons.count)  \(t(.cancel))"
        } else if let offer = state.offer {
            lines.append(Line(text: t(.offerTitle), style: color ? "1;33" : "1"))
            lines.append(Line(text: "  \(t(.servicePoint)): \(offer.servicePoint)"))
            let service = offer.service.isEmpty ? "" : "  \(offer.service)"
            lines.append(Line(text: "  \(offer.agency)/\(offer.language)\(service)"))
            let waited = Int(offer.waitedSeconds) + Int((now - offer.received).components.seconds)
            lines.append(Line(text: "  \(t(.waited)): \(seconds(waited))"))
            lines.append(Line(text: "  \(t(.answerIn)): \(seconds(until(offer.answerBy)))", style: "1"))
            keys = t(.keysOffer)
        } else if let session = state.session {
            lines.append(Line(text: t(.sessionTitle), style: color ? "1;36" : "1"))
            lines.append(Line(text: "  \(t(.servicePoint)): \(session.servicePoint)  \(session.language)"))
            let elapsed = Int((now - session.started).components.seconds)
            lines.append(Line(text: "  \(t(.elapsed)): \(elapsed / 60):\(String(format: "%02d", elapsed % 60))"))
            if let figures = session.figures {
                func one(_ value: Double) -> String { String(format: "%.1f", value) }
                var video =
                    "  \(t(.video)): \(t(.inbound)) \(one(figures.videoFramesDecodedPerSecond)) \(t(.framesPerSecond))"
                if let luma = figures.lastLuma { video += " (luma \(String(format: "%.2f", luma)))" }
                video += "  \(t(.outbound)) \(one(figures.videoFramesSentPerSecond)) \(t(.framesPerSecond))"
                lines.append(Line(text: video))
                var audio =
                    "  \(t(.audio)): \(t(.inbound)) \(Int(figures.audioPacketsReceivedPerSecond.rounded())) "
                    + t(.packetsPerSecond)
                if let tone = figures.dominantToneHertz { audio += " (\(Int(tone)) Hz)" }
                audio += "  \(t(.outbound)) \(Int(figures.audioPacketsSentPerSecond.rounded())) \(t(.packetsPerSecond))"
                lines.append(Line(text: audio))
                let loss = max(figures.videoLossPercent, figures.audioLossPercent)
                let jitter = max(figures.videoJitterMilliseconds, figures.audioJitterMilliseconds)
                lines.append(
                    Line(
                        text: "  \(t(.network)): \(t(.lost)) \(one(loss)) %  \(t(.jitter)) \(one(jitter)) ms  "
                            + "\(t(.roundTrip)) " + (figures.roundTripMilliseconds.map { "\(one($0)) ms" } ?? "-")))
                if let error = figures.error {
                    lines.append(Line(text: "  \(t(.mediaFailed)): \(error)", style: color ? "1;31" : "1"))
                }
            } else {
                let media = session.media
                lines.append(
                    Line(
                        text: "  \(t(.sent)) \(media.sent)  \(t(.received)) \(media.received)  "
                            + "\(t(.lost)) \(String(format: "%.1f", media.lossPercent)) %  "
                            + "\(t(.jitter)) \(media.jitterMicroseconds / 1_000) ms"))
            }
            if !session.negotiated.isEmpty { lines.append(Line(text: "  \(session.negotiated)", style: "2")) }
            keys = t(.keysSession)
        } else if let wrapUp = state.wrapUp, state.presence == .wrapUp {
            lines.append(Line(text: t(.wrapUpTitle), style: color ? "1;33" : "1"))
            lines.append(Line(text: "  \(wrapUp.session): \(seconds(until(wrapUp.until))) \(t(.remaining))"))
            keys = t(.keysWrapUp)
        } else if state.presence == .away {
            keys = t(.keysAway)
        }
        let bodyEnd = lines.count
        lines.append(ruleLine)
        let notice = [state.notice.map(t), state.noticeDetail.isEmpty ? nil : state.noticeDetail].compactMap { $0 }
        lines.append(Line(text: notice.joined(separator: ": "), style: color ? "33" : nil))
        lines.append(Line(text: "\(t(.keys)): \(keys)", style: "7"))
        let finished = lines.map { line in
            let visible = String(line.text.prefix(max(0, width)))
            guard color || line.style == "1" || line.style == "7", let style = line.style else { return visible }
            // Without colour only bold and reverse video are kept: they carry no colour.
            return "\u{1B}[\(style)m\(visible)\u{1B}[0m"
        }
        // The body's rule only when there is a body: otherwise the footer's rule follows the table at once.
        let rule = finished[headEnd]
        let body = bodyEnd > queuesEnd ? [rule] + finished[queuesEnd..<bodyEnd] : []
        return Sections(
            head: Array(finished[..<headEnd]), queues: Array(finished[headEnd..<queuesEnd]), body: body,
            footer: Array(finished[bodyEnd...]))
    }

    private static func style(_ presence: ConsoleText.Presence) -> String {
        switch presence {
        case .available: "1;32"
        case .offered, .wrapUp: "1;33"
        case .inSession: "1;36"
        case .away: "1;31"
        case .offline: "1"
        }
    }
}
