import Foundation
import LuukkuTestSupport
import Testing

/// The generated Swift in Sources/LuukkuProtocol/Generated is committed; `make proto` records the hashes of
/// the `.proto` files it was made from. A schema edited without regenerating fails here, in CI, instead of
/// shipping code that does not match the contract.
@Suite struct GeneratedCodeTests {
    @Test func generatedCodeIsFromTheCurrentProtoFiles() throws {
        let sha256sum = try #require(ProcessRunner.which("sha256sum"), "sha256sum (coreutils) is missing")
        let protoDirectory = Repository.url("proto/luukku/v1")
        let protos = try FileManager.default.contentsOfDirectory(atPath: protoDirectory.path)
            .filter { $0.hasSuffix(".proto") }.sorted().map { "proto/luukku/v1/\($0)" }
        try #require(!protos.isEmpty)
        let current = try ProcessRunner.run(sha256sum, protos)
        try #require(current.status == 0, "\(current.stderr)")
        let recorded = try String(
            contentsOf: Repository.url(
                "Sources/LuukkuProtocol/Generated/proto.sha256"
            ),
            encoding: .utf8
        )
        #expect(current.stdout == recorded, "a .proto file changed: run `make proto` and commit the result")
    }
}
