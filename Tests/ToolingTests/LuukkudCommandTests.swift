import Foundation
import LuukkuTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The daemon binary as an operator runs it: exit status and messages for good and bad configuration.
@Suite struct LuukkudCommandTests {
    static var luukkud: String { Repository.products.appendingPathComponent("luukkud").path }

    /// The demo configuration with its server section pointing at `tls` (development certificates that
    /// certs/make-dev-certs makes there, or no files).
    static func demoConfiguration(tlsDirectory: URL, makeFiles: Bool) throws -> URL {
        try FileManager.default.createDirectory(at: tlsDirectory, withIntermediateDirectories: true)
        if makeFiles {
            try DevCertificates.make(in: tlsDirectory)
        }
        var tree = try #require(
            try JSONSerialization.jsonObject(
                with: Data(
                    contentsOf: Repository.url("config/luukku.example.json"))
            ) as? [String: Any])
        var server: [String: Any] = [:]
        for (key, name) in [("certificateChain", "server.pem"), ("privateKey", "server.key"), ("trustRoots", "ca.pem")]
        {
            server[key] = tlsDirectory.appendingPathComponent(name).path
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

    /// Messages a new operator reads: a key that is not a key names its file and key; a JSON syntax error
    /// names its line and column; a listen address in use names the address and `server.listen`.
    @Test func anUnusableKeyAJSONSyntaxErrorAndABusyAddressSayWhere() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-cfg-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = try Self.demoConfiguration(tlsDirectory: directory, makeFiles: true)
        let key = directory.appendingPathComponent("server.key")
        let realKey = try Data(contentsOf: key)
        try Data("not a key\n".utf8).write(to: key)
        let badKey = try ProcessRunner.run(Self.luukkud, ["--check-config", "--config", file.path])
        #expect(badKey.status == 78)
        #expect(
            badKey.stderr.contains("server.privateKey \(key.path): not usable as a PEM private key"), "\(badKey.stderr)"
        )
        #expect(!badKey.stderr.contains(".cc:"), "no library source locations: \(badKey.stderr)")
        try realKey.write(to: key)

        // A comma missing at the end of line 3: reported where the next key starts.
        let broken = directory.appendingPathComponent("broken.json")
        try "{\n  \"version\": 1,\n  \"languages\": []\n  \"agencies\": []\n}\n".write(
            to: broken, atomically: true, encoding: .utf8)
        let syntax = try ProcessRunner.run(Self.luukkud, ["--check-config", "--config", broken.path])
        #expect(syntax.status == 78)
        #expect(syntax.stderr.contains("\(broken.path): line 4, column 3: "), "\(syntax.stderr)")

        // The listen address is taken (a socket of this test listens on it).
        let (fd, port) = try FreePort.listeningTCP()
        defer { close(fd) }
        var tree = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        var server = try #require(tree["server"] as? [String: Any])
        server["metricsListen"] = ""
        tree["server"] = server
        try JSONSerialization.data(withJSONObject: tree).write(to: file)
        let busy = try ProcessRunner.run(
            Self.luukkud,
            [
                "--config", file.path, "--listen", "127.0.0.1:\(port)", "--ledger",
                directory.appendingPathComponent("ledger.sqlite").path, "--status-socket",
                directory.appendingPathComponent("s.sock").path,
            ])
        #expect(busy.status != 0)
        #expect(
            busy.stderr.contains(
                "cannot listen on 127.0.0.1:\(port) (server.listen, or --listen): the address is in use"),
            "\(busy.stderr)")
    }

    @Test func brokenConfigurationExitsWithEXCONFIGAndNamesFileAndKey() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-bad-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        var text = try String(
            contentsOf: Repository.url("config/luukku.example.json"),
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
