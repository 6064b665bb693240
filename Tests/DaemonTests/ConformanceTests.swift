import Foundation
import LuukkuClient
import LuukkuMedia
import LuukkuProtocol
import LuukkuTestSupport
import Testing

/// docs/protocol.md's exchanges as a vendor's client sees them, through a real luukkud, frame by frame: each test
/// pins one place where the contract used to be silent or wrong (the numbers are the items of the issue that
/// settled them; docs/protocol.md, "Conformance checklist", has the tables).
@Suite(.serialized, .timeLimit(.minutes(2))) struct ConformanceTests {
    static let timeouts: [String: Int] = [
        "handshake": 10, "heartbeat": 15, "idle": 45, "offerAnswer": 20, "wrapUp": 60, "resumeGrace": 30,
        "drain": 300,
    ]

    static func server(_ change: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
        { tree in
            var server = tree["server"] as! [String: Any]
            change(&server)
            tree["server"] = server
        }
    }

    /// The next frame that is not a QueueSnapshot or a Pong, described as "kind detail" for comparing sequences.
    static func nextEvent(_ client: ClientConnection) async -> String {
        while let frame = await client.next() {
            switch frame.message {
            case .queueSnapshot, .pong: continue
            case .offer(let offer): return "Offer \(offer.ticketID)"
            case .offerWithdrawn(let withdrawn): return "OfferWithdrawn \(withdrawn.ticketID) \(withdrawn.reason)"
            case .presenceStatus(let status):
                return status.presence == .away
                    ? "PresenceStatus away \(status.awayReason)" : "PresenceStatus \(status.presence)"
            case .queueStatus(let status):
                let estimate = status.hasEstimatedWaitSeconds ? "\(status.estimatedWaitSeconds)" : "none"
                return "QueueStatus offered=\(status.offered) estimate=\(estimate) online=\(status.expertsOnline)"
            case .sessionStarted: return "SessionStarted"
            case .error(let error): return "Error \(error.code)"
            default: return "\(String(describing: frame.message))"
            }
        }
        return "closed"
    }

    // MARK: 6: when identity refusals arrive

    /// A certificate of the service's CA with an identity the server refuses gets one Error frame right after
    /// TLS, before (and without) the client's Hello, then the close; a certificate of another CA, or none, gets
    /// only the TLS alert: no frame at all.
    @Test func identityRefusalsComeRightAfterTLSBeforeHello() async throws {
        let daemon = try await Daemon.start { tree in
            // Saarijärvi is not in this configuration; Pelkosenniemi is revoked.
            tree["servicePoints"] = (tree["servicePoints"] as! [[String: Any]]).filter {
                $0["id"] as? String != "saarijarvi"
            }
            var server = tree["server"] as! [String: Any]
            server["revokedIdentities"] = ["luukku:terminal:pelkosenniemi"]
            tree["server"] = server
        }
        let other = try await Self.certificates(in: "other-ca")
        let unnamed = try await Self.certificateWithoutLuukkuIdentity()
        let cases: [(name: String?, directory: URL, expected: Luukku_V1_ErrorCode?)] = [
            ("terminal-saarijarvi", Daemon.certificates, .unknownIdentity),
            ("terminal-pelkosenniemi", Daemon.certificates, .revoked),
            ("no-luukku-uri", unnamed, .unauthenticated),
            ("terminal-parainen", other, nil),  // another CA's certificate: TLS alert only
            (nil, Daemon.certificates, nil),  // no certificate: TLS alert only
        ]
        for item in cases {
            let raw = try await RawConnection.connect(port: daemon.port, item.name, certificates: item.directory)
            // Nothing is sent: the refusal does not wait for Hello.
            let first = await raw.next()
            if let expected = item.expected {
                guard case .error(let error) = first?.message else {
                    Issue.record("\(item.name ?? "none"): expected Error \(expected), got \(String(describing: first))")
                    continue
                }
                #expect(error.code == expected && error.fatal && first?.correlationID == 0, "\(error)")
                #expect(await raw.next() == nil, "the connection closes after the refusal")
            } else {
                #expect(
                    first == nil, "\(item.name ?? "none"): a TLS failure has no frame, got \(String(describing: first))"
                )
            }
            raw.close()
        }
        // Everyone else is served.
        let served = try await daemon.connect("terminal-parainen")
        #expect(served.welcome.identity == "parainen")
        await served.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    /// A second development PKI in a folder of its own (certs/make-dev-certs), whose CA the daemon does not trust.
    static func certificates(in name: String) async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-\(name)-\(UUID())")
        try DevCertificates.make(in: directory)
        return directory
    }

    /// A client certificate from the daemon's CA whose only URI is not a `luukku:` one (`no-luukku-uri.pem`).
    static func certificateWithoutLuukkuIdentity() async throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-unnamed-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let ca = Daemon.certificates
        let extensions = directory.appendingPathComponent("ext.cnf")
        try """
        basicConstraints=critical,CA:FALSE
        keyUsage=critical,digitalSignature
        extendedKeyUsage=clientAuth
        subjectAltName=URI:https://example.org/terminal
        """.write(to: extensions, atomically: true, encoding: .utf8)
        let script = """
            openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/no-luukku-uri.key" \
              -subj "/CN=no luukku uri" 2>/dev/null |
            openssl x509 -req -CA "$2/ca.pem" -CAkey "$2/ca.key" -set_serial 0x1234 -sha256 -days 30 \
              -extfile "$1/ext.cnf" -out "$1/no-luukku-uri.pem" 2>/dev/null
            """
        let made = try await runProcess(
            "/bin/bash", ["-c", script, "bash", directory.path, ca.path], errorsToOutput: true)
        #expect(made.status == 0, "\(made.output)")
        return directory
    }

    // MARK: 7, 5, 9, 1: the first frame, Welcome, and messages that are not allowed

    @Test func theFirstFrameMustBeHelloAndWhatFollowsWelcome() async throws {
        let daemon = try await Daemon.start()
        // 7: an empty Envelope (length 0) as the first frame is not Hello: UNEXPECTED_MESSAGE, fatal.
        let empty = try await RawConnection.connect(port: daemon.port, "terminal-parainen")
        empty.write([0, 0, 0, 0])
        let (first, _) = try await empty.expectError()
        #expect(first.code == .unexpectedMessage && first.fatal, "\(first)")
        #expect(await empty.next() == nil)

        // 5, 9: Welcome names the point in the Hello's ui_language and announces the idle timeout.
        let raw = try await RawConnection.connect(port: daemon.port, "terminal-parainen")
        try raw.send(
            .hello(
                .with {
                    $0.protocolVersions = [1]; $0.uiLanguage = "sv"
                }), correlation: 1)
        let answer = await raw.next()
        guard case .welcome(let welcome) = answer?.message else {
            Issue.record("no Welcome")
            return
        }
        #expect(answer?.correlationID == 1, "Welcome answers the Hello")
        #expect(welcome.displayName == "Servicepunkten i Pargas")
        #expect(welcome.heartbeatIntervalMs == 15_000 && welcome.idleTimeoutMs == 45_000)

        // 7: after Welcome an empty Envelope is EMPTY_ENVELOPE, not fatal.
        raw.write([0, 0, 0, 0])
        let (emptyAfter, _) = try await raw.expectError()
        #expect(emptyAfter.code == .emptyEnvelope && !emptyAfter.fatal)
        // 12: a second Hello, and a server's message sent by a client: UNEXPECTED_MESSAGE, not fatal.
        try raw.send(.hello(.with { $0.protocolVersions = [1] }), correlation: 5)
        var (error, correlation) = try await raw.expectError()
        #expect(error.code == .unexpectedMessage && !error.fatal && correlation == 5)
        try raw.send(.queueStatus(.with { $0.position = 1 }), correlation: 6)
        (error, correlation) = try await raw.expectError()
        #expect(error.code == .unexpectedMessage && !error.fatal && correlation == 6)
        // 1: an expert's messages from a terminal: FORBIDDEN (the certificate decides the role), not fatal.
        let expertMessages: [Luukku_V1_Envelope.OneOf_Message] = [
            .setPresence(.with { $0.presence = .available }), .accept(.with { $0.ticketID = "t-1" }),
            .decline(.with { $0.ticketID = "t-1" }), .wrapUpDone(.with { $0.sessionID = "s-1" }),
        ]
        for (index, message) in expertMessages.enumerated() {
            try raw.send(message, correlation: UInt64(10 + index))
            (error, correlation) = try await raw.expectError()
            #expect(error.code == .forbidden && !error.fatal && correlation == UInt64(10 + index), "\(message)")
        }
        try raw.send(.ping(.with { $0.nonce = 99 }), correlation: 20)
        let pong = await raw.next()
        #expect(pong?.pong.nonce == 99 && pong?.correlationID == 20)

        // 5: without ui_language (or in one the point has no name in) the name is Finnish.
        for language in ["", "en"] {
            let plain = try await RawConnection.connect(port: daemon.port, "terminal-parainen")
            try plain.send(
                .hello(
                    .with {
                        $0.protocolVersions = [1]; $0.uiLanguage = language
                    }))
            #expect(await plain.next()?.welcome.displayName == "Paraisten asiointipiste", "ui_language '\(language)'")
            plain.close()
        }

        // 1: a terminal's messages from an expert: FORBIDDEN.
        let expert = try await RawConnection.connect(port: daemon.port, "expert-vero-eero")
        try expert.send(.hello(.with { $0.protocolVersions = [1] }))
        #expect(await expert.next()?.welcome.role == .expert)
        let terminalMessages: [Luukku_V1_Envelope.OneOf_Message] = [
            .requestService(
                .with {
                    $0.agency = "vero"; $0.language = "fi"
                }),
            .cancelRequest(.with { $0.ticketID = "t-1" }),
            .feedback(
                .with {
                    $0.sessionID = "s-1"; $0.rating = 5
                }),
        ]
        for (index, message) in terminalMessages.enumerated() {
            try expert.send(message, correlation: UInt64(30 + index))
            while true {
                guard let frame = await expert.next() else {
                    Issue.record("closed")
                    return
                }
                guard case .error(let refused) = frame.message else { continue }  // its presence and queues
                #expect(refused.code == .forbidden && !refused.fatal && frame.correlationID == UInt64(30 + index))
                break
            }
        }
        raw.close()
        expert.close()
        #expect(await daemon.terminate() == 0)
    }

    // MARK: 2, 4: Accept and Decline of offers not (or no longer) made to this expert

    @Test func acceptAndDeclineAnswerOnlyTheirOwnOffers() async throws {
        let daemon = try await Daemon.start()
        // kela/sv is served by Aino and Björn; Aino has waited longest, so she is offered first.
        let aino = try await daemon.connect("expert-kela-aino")
        try await aino.becomeAvailable()
        let bjorn = try await daemon.connect("expert-kela-bjorn")
        try await bjorn.becomeAvailable()
        let vero = try await daemon.connect("expert-vero-eero")
        try await vero.becomeAvailable()
        let terminal = try await daemon.connect("terminal-parainen")
        terminal.requestService("kela", "sv")
        #expect(await Self.nextEvent(terminal) == "QueueStatus offered=false estimate=0 online=2")
        #expect(await Self.nextEvent(terminal) == "QueueStatus offered=true estimate=0 online=2")
        let offer = try await aino.expectOffer()

        func refusal(_ client: ClientConnection, _ message: Luukku_V1_Envelope.OneOf_Message) async throws
            -> Luukku_V1_ErrorCode
        {
            let error = try await client.expectError(answering: client.send(message))
            #expect(!error.fatal)
            return error.code
        }
        // Another expert of the same queue, and one of another agency: the ticket is not theirs to answer.
        #expect(try await refusal(bjorn, .accept(.with { $0.ticketID = offer.ticketID })) == .forbidden)
        #expect(try await refusal(bjorn, .decline(.with { $0.ticketID = offer.ticketID })) == .forbidden)
        #expect(try await refusal(vero, .accept(.with { $0.ticketID = offer.ticketID })) == .forbidden)
        // No such ticket, and not a ticket id at all.
        #expect(try await refusal(bjorn, .accept(.with { $0.ticketID = "t-999999" })) == .unknownTicket)
        #expect(try await refusal(bjorn, .accept(.with { $0.ticketID = "nonsense" })) == .unknownTicket)

        // Aino declines: the ticket goes to Björn in the same step, so the terminal sees no change at all.
        aino.send(.decline(.with { $0.ticketID = offer.ticketID }))
        #expect(try await bjorn.expectOffer().ticketID == offer.ticketID)
        // Her offer no longer stands: OFFER_EXPIRED (it was made to her), not FORBIDDEN.
        #expect(try await refusal(aino, .accept(.with { $0.ticketID = offer.ticketID })) == .offerExpired)
        // A ticket still waiting (Kela in English: Björn, its only expert, holds an offer) was offered to no one.
        let english = try await daemon.connect("terminal-mikkeli")
        english.requestService("kela", "en")
        let waiting = try await english.expectQueueStatus()
        #expect(!waiting.offered)
        #expect(try await refusal(aino, .accept(.with { $0.ticketID = waiting.ticketID })) == .forbidden)
        bjorn.send(.accept(.with { $0.ticketID = offer.ticketID }))
        #expect(await Self.nextEvent(terminal) == "SessionStarted", "no QueueStatus between the offers")
        // A ticket in session is not open any more: UNKNOWN_TICKET for an expert it was never offered to.
        #expect(try await refusal(vero, .accept(.with { $0.ticketID = offer.ticketID })) == .unknownTicket)
        for client in [aino, bjorn, vero, terminal, english] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
    }

    // MARK: 3, 4, 10: ring-no-answer, what the terminal sees, and the estimate

    /// One expert, `maxMissedOffers` 2: the first miss (a decline) leaves it available and the same ticket is
    /// offered again at once; the second miss in a row (no answer within `offerAnswer`) sends it away with
    /// NO_ANSWER. The terminal sees the ticket offered throughout, then waiting with no estimate (no expert is
    /// serving the queue). The decline needs only to beat the 3 s answer time; the test waits that out once.
    @Test func ringNoAnswerAsTheTerminalAndTheExpertSeeIt() async throws {
        let daemon = try await Daemon.start(
            Self.server { server in
                server["maxMissedOffers"] = 2
                server["timeouts"] = Self.timeouts.merging(["offerAnswer": 3]) { $1 }
            })
        let expert = try await daemon.connect("expert-poliisi-ville")  // the only poliisi/fi expert
        try await expert.becomeAvailable()
        let terminal = try await daemon.connect("terminal-saarijarvi")
        terminal.requestService("poliisi", "fi")
        // 10: a free expert: zero; offered: zero (before, the estimate rose to half a handling time).
        #expect(await Self.nextEvent(terminal) == "QueueStatus offered=false estimate=0 online=1")
        #expect(await Self.nextEvent(terminal) == "QueueStatus offered=true estimate=0 online=1")
        let offer = try await expert.expectOffer()
        let t = offer.ticketID
        let offered = "PresenceStatus \(Luukku_V1_Presence.offered)"
        #expect(await Self.nextEvent(expert) == offered)
        // Miss 1, a decline: available, and the same ticket at once.
        expert.send(.decline(.with { $0.ticketID = t }))
        var events: [String] = []
        for _ in 0..<3 { events.append(await Self.nextEvent(expert)) }
        #expect(events == ["PresenceStatus \(Luukku_V1_Presence.available)", "Offer \(t)", offered])
        // Miss 2, the answer time runs out: withdrawn, then away with NO_ANSWER.
        events = []
        for _ in 0..<2 { events.append(await Self.nextEvent(expert)) }
        #expect(
            events == [
                "OfferWithdrawn \(t) \(Luukku_V1_OfferWithdrawnReason.timedOut)",
                "PresenceStatus away \(Luukku_V1_AwayReason.noAnswer)",
            ])
        // 4: the terminal's next frame is the first change it could see: back to waiting, and 10: no estimate,
        // since the only expert of the queue is away (still online).
        #expect(await Self.nextEvent(terminal) == "QueueStatus offered=false estimate=none online=1")
        await expert.goodbye()
        await terminal.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    // MARK: 11: which reason ends a session that has no media

    /// Both connected and no media for `mediaSilenceSeconds`: MEDIA_TIMEOUT. The expert's connection lost (it is
    /// in its resume grace) when the media stops: CONNECTION_LOST, the cause.
    @Test func mediaSilenceIsAMediaTimeoutOnlyWhileBothAreConnected() async throws {
        let daemon = try await Daemon.start { tree in
            var relay = tree["relay"] as? [String: Any] ?? [:]
            relay["mediaSilenceSeconds"] = 5
            tree["relay"] = relay
        }
        let (quietTerminal, quietExpert, _, _) = try await LifecycleTests.session(
            daemon, point: "terminal-mikkeli", expert: "expert-te-mikko", agency: "te")
        let (terminal, expert, started, _) = try await LifecycleTests.session(
            daemon, point: "terminal-oulu-kiiminki", expert: "expert-poliisi-ville", agency: "poliisi")
        // The terminal keeps its leg alive (SRTP probes) until the broker has surely seen the expert go.
        let media = try TestMedia(started)
        let streaming = Task { try? await media.stream(count: nil) }
        await expert.drop()
        // A new console of the same expert: attaching it detaches the older connection in the broker (if the
        // close was not seen yet), and it waits for Resume, which it never sends. So the expert is gone now.
        let standby = try await daemon.connect("expert-poliisi-ville")
        media.stop()
        _ = await streaming.value

        #expect(try await quietTerminal.expectHangup().reason == .mediaTimeout)
        #expect(try await quietExpert.expectHangup().reason == .mediaTimeout)
        let hangup = try await terminal.expectHangup()
        #expect(hangup.sessionID == started.sessionID && hangup.reason == .connectionLost)
        for client in [quietTerminal, quietExpert, terminal, standby] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
        let sessions = try await daemon.ledger().sessions()
        #expect(sessions.compactMap(\.reason).sorted() == ["connection-lost", "media-timeout"], "\(sessions)")
    }

    // MARK: 12: wrap-up and presence requests

    @Test func wrapUpDoneNamesItsSessionAndNoAnswerIsTheServersReason() async throws {
        let daemon = try await Daemon.start()
        let (terminal, expert, started, _) = try await LifecycleTests.session(
            daemon, point: "terminal-mikkeli", expert: "expert-te-mikko", agency: "te")
        func answer(_ message: Luukku_V1_Envelope.OneOf_Message) async throws -> String {
            let id = expert.send(message)
            return try await expert.expect("answer") { frame -> String? in
                guard frame.correlationID == id else { return nil }
                switch frame.message {
                case .error(let error): return "Error \(error.code) fatal=\(error.fatal)"
                case .presenceStatus(let status): return "PresenceStatus \(status.presence) \(status.awayReason)"
                default: return nil
                }
            }
        }
        #expect(
            try await answer(.wrapUpDone(.with { $0.sessionID = started.sessionID })).hasPrefix("Error invalidPresence")
        )
        expert.send(
            .hangup(
                .with {
                    $0.sessionID = started.sessionID; $0.reason = .expertEnded
                }))
        _ = try await expert.expectPresence(.wrapUp)
        #expect(
            try await answer(.wrapUpDone(.with { $0.sessionID = "s-999999" })) == "Error unknownSession fatal=false")
        #expect(try await answer(.wrapUpDone(.with { $0.sessionID = "" })) == "Error unknownSession fatal=false")
        #expect(
            try await answer(.setPresence(.with { $0.presence = .available })) == "Error invalidPresence fatal=false")
        #expect(
            try await answer(.wrapUpDone(.with { $0.sessionID = started.sessionID }))
                == "PresenceStatus available unspecified")
        #expect(
            try await answer(.wrapUpDone(.with { $0.sessionID = started.sessionID }))
                == "Error invalidPresence fatal=false")
        // NO_ANSWER is the server's own reason: refused, presence unchanged.
        #expect(
            try await answer(
                .setPresence(
                    .with {
                        $0.presence = .away; $0.awayReason = .noAnswer
                    }))
                == "Error invalidPresence fatal=false")
        #expect(
            try await answer(.setPresence(.with { $0.presence = .inSession })) == "Error invalidPresence fatal=false")
        #expect(
            try await answer(
                .setPresence(
                    .with {
                        $0.presence = .away; $0.awayReason = .break
                    }))
                == "PresenceStatus away break")
        await terminal.goodbye()
        await expert.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    // MARK: 15: the open-request limit counts per terminal identity

    @Test func theRequestLimitCountsEveryConnectionOfAServicePoint() async throws {
        let daemon = try await Daemon.start(Self.server { $0["maxRequestsPerTerminal"] = 2 })
        let first = try await daemon.connect("terminal-parainen")
        let second = try await daemon.connect("terminal-parainen")  // a second kiosk on the point's certificate
        #expect(second.welcome.limits.maxOpenRequests == 2)
        first.requestService("vero", "fi")
        let mine = try await first.expectQueueStatus()
        second.requestService("vero", "sv")
        _ = try await second.expectQueueStatus()
        let third = second.requestService("kela", "fi")
        let refused = try await second.expectError(answering: third)
        #expect(refused.code == .tooManyRequests && !refused.fatal, "\(refused)")
        // Tickets still belong to the connection that made them.
        second.send(.cancelRequest(.with { $0.ticketID = mine.ticketID }))
        #expect(try await second.expectError().code == .forbidden)
        second.send(.cancelRequest(.with { $0.ticketID = "t-999999" }))
        #expect(try await second.expectError().code == .unknownTicket)
        // Another point is not affected, and a cancelled ticket frees its place in the count.
        let other = try await daemon.connect("terminal-mikkeli")
        other.requestService("kela", "fi")
        _ = try await other.expectQueueStatus()
        first.send(.cancelRequest(.with { $0.ticketID = mine.ticketID }))
        #expect(try await first.expectTicketClosed().reason == .cancelled)
        second.requestService("kela", "fi")
        #expect(try await second.expectQueueStatus().agency == "kela")
        // A ticket in session is not open: Saga takes the Swedish Vero ticket, and the point may ask again.
        let saga = try await daemon.connect("expert-vero-saga")
        try await saga.becomeAvailable()
        let offer = try await saga.expectOffer()
        saga.send(.accept(.with { $0.ticketID = offer.ticketID }))
        _ = try await second.expectSessionStarted()
        second.requestService("kela", "sv")
        #expect(try await second.expectQueueStatus().agency == "kela")
        // The dropped connection's two waiting tickets still count during its resume grace.
        await second.drop()
        let kiosk = try await daemon.connect("terminal-parainen")
        let refusedAgain = kiosk.requestService("te", "fi")
        let again = try await kiosk.expectError(answering: refusedAgain)
        #expect(again.code == .tooManyRequests, "\(again)")
        for client in [first, kiosk, other, saga] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
    }
}
