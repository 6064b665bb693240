import Foundation
import LuukkuCore
import Testing

/// The `relay` section of the configuration file: defaults when absent, values read, every bad value named by
/// its key path.
@Suite struct RelayConfigurationTests {
    static func load(relay: [String: Any]?) throws -> Result<Configuration, ConfigurationError> {
        try ServerConfigurationTests.load(server: nil, relay: relay)
    }

    @Test func absentSectionGivesTheDefaults() throws {
        let configuration = try Self.load(relay: nil).get()
        #expect(configuration.relay == Configuration.Relay())
        #expect(configuration.relay.crypto == .openssl)
        #expect(configuration.relay.firstPort == 40_000 && configuration.relay.lastPort == 49_999)
        #expect(configuration.relay.packetsPerSecond == 2_500 && configuration.relay.burstPackets == 1_000)
    }

    @Test func valuesAreRead() throws {
        let relay = try Self.load(relay: [
            "bindAddress": "192.0.2.10", "ports": [50_000, 50_999], "workers": 4, "packetsPerSecond": 5_000,
            "burstPackets": 2_000, "mediaSilenceSeconds": 45, "crypto": "nss",
        ]).get().relay
        #expect(relay.bindAddress == "192.0.2.10" && relay.firstPort == 50_000 && relay.lastPort == 50_999)
        #expect(relay.workers == 4 && relay.packetsPerSecond == 5_000 && relay.burstPackets == 2_000)
        #expect(relay.mediaSilenceSeconds == 45 && relay.crypto == .nss)
    }

    @Test func everyBadValueIsNamed() throws {
        let result = try Self.load(relay: [
            "bindAddress": "relay.example", "ports": [2_000, 1_999], "workers": -1, "packetsPerSecond": 0,
            "burstPackets": 0, "mediaSilenceSeconds": 0,
        ])
        guard case .failure(let error) = result else {
            Issue.record("accepted a bad relay section")
            return
        }
        #expect(
            Set(error.issues.map(\.keyPath)) == [
                "relay.bindAddress", "relay.ports", "relay.workers", "relay.packetsPerSecond", "relay.burstPackets",
                "relay.mediaSilenceSeconds",
            ])
        #expect(error.description.contains("edited.json: relay.bindAddress: 'relay.example' is not an IPv4 address"))
    }

    @Test func structuralMistakesStopDecodingWithTheirPath() throws {
        for (relay, path, words) in [
            (["crypto": "boringssl"] as [String: Any], "relay.crypto", "boringssl"),
            (["ports": [40_000]], "relay.ports", "[first, last]"),
            (["port": [40_000, 40_100]], "relay.port", "unknown key"),
        ] {
            guard case .failure(let error) = try Self.load(relay: relay) else {
                Issue.record("accepted \(relay)")
                continue
            }
            #expect(error.issues.first?.keyPath == path)
            #expect(error.issues.first?.problem.contains(words) == true, "\(error)")
        }
    }

    @Test func limitsTheRelayWouldRefuseAreRefusedHere() throws {
        guard case .failure(let error) = try Self.load(relay: ["bindAddress": "01.2.3.4", "burstPackets": 20_000_000])
        else {
            Issue.record("accepted a leading zero and a 20,000,000 burst")
            return
        }
        #expect(Set(error.issues.map(\.keyPath)) == ["relay.bindAddress", "relay.burstPackets"])
    }
}
