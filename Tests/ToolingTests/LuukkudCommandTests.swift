import Foundation
import Testing

/// The daemon binary as an operator runs it: exit status and messages for good and bad configuration.
@Suite struct LuukkudCommandTests {
    static var luukkud: String { ProcessRunner.productsDirectory.appendingPathComponent("luukkud").path }

    /// The demo configuration with its server section pointing at `tls` (files that exist, or not).
    static func demoConfiguration(tlsDirectory: URL, makeFiles: Bool) throws -> URL {
        try FileManager.default.createDirectory(at: tlsDirectory, withIntermediateDirectories: true)
        var tree = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    contentsOf: ProcessRunner.repositoryRoot.appendingPathComponent("config/luukku.example.json"))
            ) as? [String: Any])
        var server: [String: Any] = [:]
        for (key, name) in [("certificateChain", "server.pem"), ("privateKey", "server.key"), ("trustRoots", "ca.pem")]
        {
            let file = tlsDirectory.appendingPathComponent(name)
            if makeFiles { _ = FileManager.default.createFile(atPath: file.path, contents: Data("pem".utf8)) }
            server[key] = file.path
        }
        tree["server"] = server
        let file = tlsDirectory.appendingPathComponent("luukku.json")
        try JSONSerialization.data(withJSONObject: tree).write(to: file)
        return file
    }

    @Test func checkConfigAcceptsTheDemoConfigurationAndTheFlagsOverrideIt() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try Self.demoConfiguration(tlsDirectory: directory, makeFiles: true)
        let result = try ProcessRunner.run(
            Self.luukkud,
            ["--check-config", "--config", file.path, "--listen", "127.0.0.1:7401", "--ledger", "/tmp/l.sqlite"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout
                == "luukkud: configuration \(file.path) is valid: 7 agencies, 3 languages, 10 service points, 8 experts\n"
                + "luukkud: would listen on 127.0.0.1:7401, ledger /tmp/l.sqlite, status socket state/luukkud.sock, "
                + "relay ports 40000-49999\n")
    }

    /// A flag replaces a bad value in the file before validation, so an operator can override it.
    @Test func aFlagOverridesABadFileValue() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try Self.demoConfiguration(tlsDirectory: directory, makeFiles: true)
        var tree = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        var server = try #require(tree["server"] as? [String: Any])
        server["listen"] = "localhost:7400"
        tree["server"] = server
        try JSONSerialization.data(withJSONObject: tree).write(to: file)
        let bad = try ProcessRunner.run(Self.luukkud, ["--check-config", "--config", file.path])
        #expect(bad.status == 78 && bad.stderr.contains("server.listen: 'localhost' is not an IPv4 address"))
        let overridden = try ProcessRunner.run(
            Self.luukkud, ["--check-config", "--config", file.path, "--listen", "127.0.0.1:7400"])
        #expect(overridden.status == 0, "\(overridden.stderr)")
    }

    @Test func unreadableTLSFilesAndBadFlagsExitWithEXCONFIG() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try Self.demoConfiguration(tlsDirectory: directory, makeFiles: false)
        let missing = try ProcessRunner.run(Self.luukkud, ["--check-config", "--config", file.path])
        #expect(missing.status == 78)
        #expect(
            missing.stderr.contains(
                "\(file.path): server.certificateChain: cannot read '\(directory.path)/server.pem' (make certs makes the dev ones)"
            ))
        #expect(missing.stderr.contains("server.privateKey") && missing.stderr.contains("server.trustRoots"))

        let badListen = try ProcessRunner.run(
            Self.luukkud, ["--check-config", "--config", file.path, "--listen", "7400"])
        #expect(badListen.status == 78)
        #expect(badListen.stderr.contains("\(file.path): --listen (server.listen): expected HOST:PORT, got '7400'"))

        let badAddress = try ProcessRunner.run(
            Self.luukkud, ["--check-config", "--config", file.path, "--relay-public-address", "0.0.0.0"])
        #expect(badAddress.status == 78)
        #expect(
            badAddress.stderr.contains(
                "--relay-public-address (relay.publicAddress): '0.0.0.0' is not an IPv4 address peers can send to"))
    }

    @Test func brokenConfigurationExitsWithEXCONFIGAndNamesFileAndKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-bad-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        var text = try String(
            contentsOf: ProcessRunner.repositoryRoot.appendingPathComponent("config/luukku.example.json"),
            encoding: .utf8
        )
        text = text.replacingOccurrences(of: #""agency": "kela""#, with: #""agency": "kella""#)
        try text.write(to: file, atomically: true, encoding: .utf8)

        let result = try ProcessRunner.run(Self.luukkud, ["--check-config", "--config", file.path])
        #expect(result.status == 78)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("\(file.path): experts[0].agency: no agency has id 'kella'"))
        #expect(result.stderr.contains("\(file.path): experts[1].agency: no agency has id 'kella'"))
    }
}
