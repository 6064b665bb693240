import Foundation
import Testing

/// The daemon binary as an operator runs it: exit status and messages for good and bad configuration.
@Suite struct LuukkudCommandTests {
    static var luukkud: String { ProcessRunner.productsDirectory.appendingPathComponent("luukkud").path }

    @Test func checkConfigAcceptsTheDemoConfiguration() throws {
        let result = try ProcessRunner.run(Self.luukkud, ["--check-config", "--config", "config/luukku.example.json"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout
                == "luukkud: configuration config/luukku.example.json is valid: 7 agencies, 3 languages, 10 service points, 8 experts\n"
        )
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
