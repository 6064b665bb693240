import Foundation
import LuukkuCore
import Testing

/// The `server` section: defaults, values read, and every bad value named by its key path.
@Suite struct ServerConfigurationTests {
    /// The demo file with its `server` and `relay` sections replaced (nil: absent), decoded and validated.
    static func load(server: [String: Any]?, relay: [String: Any]? = nil) throws -> Result<
        Configuration, ConfigurationError
    > {
        let data = try Data(contentsOf: URL(fileURLWithPath: ConfigurationTests.exampleFile))
        var tree = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        tree["server"] = server
        tree["relay"] = relay
        let edited = try JSONSerialization.data(withJSONObject: tree)
        do {
            return .success(try Configuration(json: edited, file: "edited.json"))
        } catch {
            return .failure(error)
        }
    }

    @Test func defaultsAndValues() throws {
        #expect(try Self.load(server: nil).get().server == Configuration.Server())
        let server = try Self.load(server: [
            "listen": "127.0.0.1:7500", "ledgerPath": "/var/lib/luukku/ledger.sqlite",
            "statusSocket": "/run/luukku/luukkud.sock", "revokedIdentities": ["luukku:terminal:parainen"],
            "maxRequestsPerTerminal": 3, "timeouts": ["offerAnswer": 25, "drain": 600], "maxMissedOffers": 3,
        ]).get().server
        #expect(server.listenHost == "127.0.0.1" && server.listenPort == 7_500)
        #expect(
            server.ledgerPath == "/var/lib/luukku/ledger.sqlite" && server.statusSocket == "/run/luukku/luukkud.sock")
        #expect(server.revokedIdentities == ["luukku:terminal:parainen"] && server.maxRequestsPerTerminal == 3)
        #expect(server.timeouts.offerAnswer == 25 && server.timeouts.drain == 600 && server.timeouts.heartbeat == 15)
        #expect(server.maxMissedOffers == 3)
        #expect(
            server.metricsHost == "127.0.0.1" && server.metricsPort == 9_464
                && server.reportTimeZone == "Europe/Helsinki")
        let reports = try Self.load(server: [
            "metricsListen": "127.0.0.2:0", "reportTimeZone": "UTC", "serviceLevelTargetSeconds": 120,
        ]).get().server
        #expect(reports.metricsHost == "127.0.0.2" && reports.metricsPort == 0 && reports.reportTimeZone == "UTC")
        #expect(reports.serviceLevelTargetSeconds == 120)
        #expect(try Self.load(server: ["metricsListen": ""]).get().server.metricsHost == nil)
        let relay = try Self.load(server: nil, relay: ["publicAddress": "198.51.100.7"]).get().relay
        #expect(relay.publicAddress == "198.51.100.7")
    }

    @Test func everyBadValueIsNamed() throws {
        guard
            case .failure(let error) = try Self.load(
                server: [
                    "listen": "localhost:7400", "ledgerPath": "", "revokedIdentities": ["terminal:parainen"],
                    "maxConnections": 0, "maxFrameBytes": 100, "timeouts": ["heartbeat": 30, "idle": 20, "drain": 0],
                    "metricsListen": "0.0.0.0:9464", "reportTimeZone": "Europe/Mikkeli", "serviceLevelTargetSeconds": 0,
                ], relay: ["publicAddress": "0.0.0.0"])
        else {
            Issue.record("accepted a bad server section")
            return
        }
        #expect(
            Set(error.issues.map(\.keyPath)) == [
                "server.listen", "server.ledgerPath", "server.revokedIdentities[0]", "server.maxConnections",
                "server.maxFrameBytes", "server.timeouts.idle", "server.timeouts.drain", "relay.publicAddress",
                "server.metricsListen", "server.reportTimeZone", "server.serviceLevelTargetSeconds",
            ])
        #expect(
            error.description.contains("edited.json: server.timeouts.idle: must be longer than the heartbeat (30 s)"))
    }

    @Test func structuralMistakesStopDecoding() throws {
        for (server, path) in [
            (["listen": "7400"] as [String: Any], "server.listen"),
            (["timeouts": ["answer": 5]], "server.timeouts.answer"),
            (["metricsListen": "9464"], "server.metricsListen"),
        ] {
            guard case .failure(let error) = try Self.load(server: server) else {
                Issue.record("accepted \(server)")
                continue
            }
            #expect(error.issues.first?.keyPath == path, "\(error)")
        }
    }
}
