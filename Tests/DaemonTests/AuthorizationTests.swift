import Foundation
import LuukkuClient
import LuukkuProtocol
import Testing

/// Who may do what is read from the certificate: a terminal cannot act as an expert, an expert cannot take
/// another agency's customer, a client without a certificate (or with a revoked one) never gets a Welcome.
@Suite(.serialized, .timeLimit(.minutes(2))) struct AuthorizationTests {
    @Test func aTerminalCertificateCannotActAsAnExpert() async throws {
        let daemon = try await Daemon.start()
        let terminal = try await daemon.connect("terminal-oulu-kiiminki")
        #expect(terminal.welcome.role == .terminal && terminal.welcome.identity == "oulu-kiiminki")
        terminal.send(.setPresence(.with { $0.presence = .available }))
        let presence = try await terminal.expectError()
        #expect(presence.code == .forbidden && !presence.fatal)
        terminal.send(.accept(.with { $0.ticketID = "t-1" }))
        #expect(try await terminal.expectError().code == .forbidden)
        // The connection stays usable for what a terminal may do.
        terminal.requestService("vero", "fi")
        let status = try await terminal.expectQueueStatus()
        #expect(status.ticketID.hasPrefix("t-") && status.agency == "vero")
        // And an expert cannot request service.
        let expert = try await daemon.connect("expert-vero-eero")
        expert.requestService("vero", "fi")
        #expect(try await expert.expectError().code == .forbidden)
        await terminal.goodbye()
        await expert.goodbye()
        #expect(await daemon.terminate() == 0)
    }

    @Test func anExpertOfOneAgencyCannotAcceptAnotherAgencysOffer() async throws {
        let daemon = try await Daemon.start()
        let kela = try await daemon.connect("expert-kela-aino")
        try await kela.becomeAvailable()
        let vero = try await daemon.connect("expert-vero-eero")
        try await vero.becomeAvailable()
        let terminal = try await daemon.connect("terminal-mikkeli")
        terminal.requestService("kela", "fi")
        let offer = try await kela.expectOffer()
        #expect(offer.agency == "kela")

        vero.send(.accept(.with { $0.ticketID = offer.ticketID }))
        let refused = try await vero.expectError()
        #expect(refused.code == .forbidden)
        vero.send(.decline(.with { $0.ticketID = offer.ticketID }))
        #expect(try await vero.expectError().code == .forbidden)

        // The offer still stands for the Kela expert, who takes it.
        kela.send(.accept(.with { $0.ticketID = offer.ticketID }))
        let started = try await kela.expectSessionStarted()
        #expect(started.ticketID == offer.ticketID)
        let terminalStarted = try await terminal.expectSessionStarted()
        #expect(terminalStarted.sessionID == started.sessionID && terminalStarted.relayPort != started.relayPort)
        #expect(terminalStarted.expertAgency == "kela")
        for client in [kela, vero, terminal] { await client.goodbye() }
        #expect(await daemon.terminate() == 0)
    }

    @Test func aClientWithoutACertificateNeverGetsAWelcome() async throws {
        let daemon = try await Daemon.start()
        await #expect(throws: ClientError.self) { _ = try await daemon.connect(nil) }
        #expect(await daemon.terminate() == 0)
        // Logged before the daemon exits; the refused client was never attached.
        #expect(daemon.log.contains("PEER_DID_NOT_RETURN_A_CERTIFICATE"), "\(daemon.log)")
        #expect(!daemon.log.contains("welcome"))
    }

    @Test func aRevokedIdentityIsRefusedWithAnErrorAndALogLine() async throws {
        let daemon = try await Daemon.start { tree in
            var server = tree["server"] as! [String: Any]
            server["revokedIdentities"] = ["luukku:terminal:pelkosenniemi"]
            tree["server"] = server
        }
        do {
            _ = try await daemon.connect("terminal-pelkosenniemi")
            Issue.record("a revoked terminal got a Welcome")
        } catch {
            #expect(error.code == .refused(.revoked, "identity has been revoked"), "\(error)")
        }
        // Others are still served.
        let other = try await daemon.connect("terminal-saarijarvi")
        #expect(other.welcome.identity == "saarijarvi")
        await other.goodbye()
        #expect(await daemon.terminate() == 0)
        let refusal = daemon.log.split(separator: "\n").filter { $0.contains("refused") }
        #expect(refusal.count == 1 && refusal[0].contains("identity=luukku:terminal:pelkosenniemi"), "\(daemon.log)")
    }
}
