import Foundation
import LuukkuClient
import LuukkuLedger
import LuukkuMedia
import LuukkuProtocol
import Testing

/// A whole visit through real processes: luukku-terminal asks for Kela in Swedish, an expert accepts, SRTP
/// flows both ways through the relay, the terminal hangs up and rates the session; the ledger has it all.
@Suite(.serialized, .timeLimit(.minutes(2))) struct CompleteSessionTests {
    @Test func aSwedishKelaSessionFromRequestToFeedback() async throws {
        let daemon = try await Daemon.start()
        let expert = try await daemon.connect("expert-kela-bjorn")
        #expect(expert.welcome.role == .expert)
        #expect(expert.welcome.identity == "kela-bjorn")
        #expect(expert.welcome.skills.map { "\($0.agency)/\($0.language)" } == ["kela/sv", "kela/en"])
        _ = try await expert.expectPresence(.away)
        try await expert.becomeAvailable()

        async let terminal = daemon.runTerminal([
            "--agency", "kela", "--language", "sv", "--service", "housing-allowance", "--point", "parainen",
            "--media", "test-stream", "--media-seconds", "4", "--feedback", "5",
            "--comment", "Tack, det gick bra",
        ])

        let offer = try await expert.expectOffer()
        #expect(offer.agency == "kela" && offer.language == "sv" && offer.servicePointID == "parainen")
        #expect(offer.serviceCode == "housing-allowance" && offer.servicePointName == "Servicepunkten i Pargas")
        #expect(offer.answerWithinMs > 0)
        expert.send(.accept(.with { $0.ticketID = offer.ticketID }))
        let started = try await expert.expectSessionStarted()
        #expect(started.ticketID == offer.ticketID && started.servicePointID == "parainen")
        #expect(started.outboundKey.keyAndSalt.count == 30 && started.inboundKey.keyAndSalt.count == 30)

        // The expert's media runs until the terminal hangs up.
        let media = try TestMedia(started)
        let expertMedia = Task { try await media.stream(count: nil, linger: .zero) }
        let hangup = try await expert.expectHangup()
        media.stop()
        let expertReport = try await expertMedia.value
        #expect(hangup.reason == .customerEnded && hangup.sessionID == started.sessionID)
        let wrapUp = try await expert.expectPresence(.wrapUp)
        #expect(wrapUp.wrapUpRemainingMs > 0)
        expert.send(.wrapUpDone(.with { $0.sessionID = started.sessionID }))
        _ = try await expert.expectPresence(.available)

        let (status, output) = try await terminal
        #expect(status == 0, "\(output)")
        #expect(output.contains("session \(started.sessionID) with Björn L. (kela)"), "\(output)")
        #expect(output.contains("feedback 5 sent for \(started.sessionID)"), "\(output)")

        // Media both ways: the terminal sent 4 s x 50 packets; >= 99 % of each direction arrived.
        let mediaLine = try #require(
            output.split(separator: "\n").first { $0.hasPrefix("media: sent ") }.map(String.init), "\(output)")
        let sent = try #require(Self.figure(mediaLine, after: "media: sent "))
        #expect(sent == 200)
        #expect(Double(expertReport.arrived) >= 0.99 * Double(sent), "\(expertReport) vs \(output)")
        let terminalReceived = try #require(Self.figure(mediaLine, after: "received "))
        let terminalExpected = try #require(Self.figure(mediaLine, after: " of "))
        #expect(terminalExpected > 0 && Double(terminalReceived) >= 0.99 * Double(terminalExpected), "\(output)")
        #expect(expertReport.rejected == 0)

        await expert.goodbye()
        #expect(await daemon.terminate() == 0, "\(daemon.log)")
        // Keys and resume tokens never reach the log (debug level included).
        let log = daemon.log
        for secret in [started.outboundKey.keyAndSalt, started.inboundKey.keyAndSalt, expert.welcome.resumeToken] {
            #expect(!log.contains(secret.base64EncodedString()))
            #expect(!log.contains(secret.map { String(format: "%02x", $0) }.joined()))
        }

        let ledger = try daemon.ledger()
        let sessions = try await ledger.sessions()
        try #require(sessions.count == 1)
        let session = sessions[0]
        #expect(session.servicePoint == "parainen" && session.agency == "kela" && session.language == "sv")
        #expect(session.expert == "kela-bjorn")
        #expect(session.outcome == "completed" && session.reason == "customer-ended")
        #expect(session.service == "housing-allowance")
        let matched = try #require(session.matchedAt)
        #expect(session.requestedAt <= matched && matched <= session.answeredAt)
        let ended = try #require(session.endedAt)
        #expect(session.answeredAt <= ended)
        let relay = try #require(session.relay)
        #expect(relay.packetsToExpert >= UInt64(sent) && relay.packetsToTerminal > 0, "\(relay)")
        #expect(session.feedback == 5 && session.feedbackComment == "Tack, det gick bra")
        let tickets = try await ledger.tickets().filter { $0.run == session.run }
        #expect(tickets.map(\.outcome) == ["completed"])
        #expect(ledger.recovered.tickets == 0 && ledger.recovered.sessions == 0)
    }

    /// The number after `marker` in `text`.
    static func figure(_ text: String, after marker: String) -> Int? {
        guard let range = text.range(of: marker) else { return nil }
        return Int(text[range.upperBound...].prefix { $0.isNumber })
    }
}
