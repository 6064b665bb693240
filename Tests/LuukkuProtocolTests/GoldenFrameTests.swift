import Foundation
import LuukkuProtocol
import LuukkuTestSupport
import NIOCore
import Testing

/// The wire contract, pinned: each sample envelope must encode to the bytes in proto/luukku/v1/frames/<name>.hex
/// and those bytes must decode to it; <name>.txtpb, the same envelope in protobuf text format, must parse to it,
/// and protoc (another implementation of the encoding, as a vendor would use) must encode it to the same bytes.
/// A renumbered field or a changed type breaks this test, which is the point: terminal vendors implement
/// against these published frames (docs/protocol.md, "Versioning"; proto/luukku/v1/frames/README.md).
///
/// To add a fixture for a new message, add the sample and run once with LUUKKU_RECORD_FIXTURES=1; review the
/// new files (and list them in the README) before committing. Existing fixtures are never rewritten by recording.
@Suite struct GoldenFrameTests {
    static let fixtures = Repository.url("proto/luukku/v1/frames")

    static func hex(_ buffer: ByteBuffer) -> String {
        buffer.readableBytesView.map { String(format: "%02x", $0) }.joined()
    }

    static func bytes(hex: String) throws -> [UInt8] {
        let digits = Array(hex.filter { !$0.isWhitespace })
        try #require(digits.count.isMultiple(of: 2))
        return try stride(from: 0, to: digits.count, by: 2).map { i in
            try #require(UInt8(String(digits[i...i + 1]), radix: 16))
        }
    }

    @Test(arguments: SampleEnvelopes.all.map(\.name))
    func sampleMatchesItsGoldenFrame(_ name: String) throws {
        let envelope = SampleEnvelopes.all.first { $0.name == name }!.envelope
        var encoded = ByteBuffer()
        try EnvelopeCoding.encode(envelope, into: &encoded)
        let file = Self.fixtures.appendingPathComponent("\(name).hex")

        if !FileManager.default.fileExists(atPath: file.path),
            ProcessInfo.processInfo.environment["LUUKKU_RECORD_FIXTURES"] == "1"
        {
            try FileManager.default.createDirectory(at: Self.fixtures, withIntermediateDirectories: true)
            try (Self.hex(encoded) + "\n").write(to: file, atomically: true, encoding: .utf8)
        }
        let golden = try Self.bytes(hex: String(contentsOf: file, encoding: .utf8))
        #expect(Self.hex(encoded) == Self.hex(ByteBuffer(bytes: golden)), "encoding of \(name) changed")

        var buffer = ByteBuffer(bytes: golden)
        var parser = FrameParser()
        guard case .frame(let body) = try parser.parseStep(&buffer) else {
            Issue.record("\(name).hex is not one whole frame")
            return
        }
        #expect(buffer.readableBytes == 0)
        #expect(try EnvelopeCoding.decode(frame: body) == envelope)

        let text = Self.fixtures.appendingPathComponent("\(name).txtpb")
        if !FileManager.default.fileExists(atPath: text.path),
            ProcessInfo.processInfo.environment["LUUKKU_RECORD_FIXTURES"] == "1"
        {
            try envelope.textFormatString().write(to: text, atomically: true, encoding: .utf8)
        }
        let parsed = try Luukku_V1_Envelope(textFormatString: String(contentsOf: text, encoding: .utf8))
        #expect(parsed == envelope, "\(name).txtpb does not say what \(name).hex holds")
    }

    /// protoc (protobuf-compiler, which `make test` installs) encodes every .txtpb to its .hex frame's body:
    /// the published text and bytes agree for a tool that is not ours.
    @Test func protocEncodesEveryTextFrameToItsBytes() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.path).filter {
            $0.hasSuffix(".txtpb")
        }
        #expect(files.count == SampleEnvelopes.all.count)
        let schema = try FileManager.default.contentsOfDirectory(
            atPath: Repository.url("proto/luukku/v1").path
        ).filter { $0.hasSuffix(".proto") }.sorted().map { "proto/luukku/v1/\($0)" }
        for file in files.sorted() {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/protoc")
            process.currentDirectoryURL = Repository.root
            process.arguments = ["--encode=luukku.v1.Envelope", "-I", "proto"] + schema
            process.standardInput = try FileHandle(forReadingFrom: Self.fixtures.appendingPathComponent(file))
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            let body = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "protoc --encode failed on \(file)")
            let hex = try String(
                contentsOf: Self.fixtures.appendingPathComponent(file.replacingOccurrences(of: ".txtpb", with: ".hex")),
                encoding: .utf8
            ).filter { !$0.isWhitespace }
            #expect(String(hex.dropFirst(8)) == body.map { String(format: "%02x", $0) }.joined(), "\(file)")
        }
    }

    @Test func everyMessageKindInTheSchemaHasASample() throws {
        // One sample per case of Envelope.message: a message added to the schema without a sample (and so
        // without a golden frame) fails here.
        let schema = try String(
            contentsOf: Repository.url("proto/luukku/v1/envelope.proto"),
            encoding: .utf8
        )
        let oneof = try #require(
            schema.components(separatedBy: "oneof message {").last?.components(separatedBy: "}").first)
        let fields = oneof.split(separator: "\n").filter { $0.contains("=") && $0.hasSuffix(";") }
        let kinds = Set(SampleEnvelopes.all.compactMap { $0.envelope.message.map { "\($0)".prefix { $0 != "(" } } })
        // A kind may have a second sample with the fields a later release added (hello-with-media): the first
        // sample stays as it was, the bytes an older client sends.
        let variants = SampleEnvelopes.all.filter { $0.name.contains("-with-") }
        #expect(kinds.count + variants.count == SampleEnvelopes.all.count, "two samples of one kind")
        #expect(fields.count == kinds.count, "schema has \(fields.count) message kinds, samples cover \(kinds.count)")
    }
}
