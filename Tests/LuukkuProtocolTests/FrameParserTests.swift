import LuukkuProtocol
import NIOCore
import Testing

@Suite struct FrameParserTests {
    static func frame(_ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(body.count), endianness: .big)
        buffer.writeBytes(body)
        return buffer
    }

    /// Feeds `input` one byte at a time and collects every frame body.
    static func parseByteByByte(_ input: ByteBuffer, limits: FrameLimits) throws -> [ByteBuffer] {
        var parser = FrameParser(limits: limits)
        var pending = ByteBuffer()
        var frames: [ByteBuffer] = []
        for byte in input.readableBytesView {
            pending.writeInteger(byte)
            while case .frame(let body) = try parser.parseStep(&pending) {
                frames.append(body)
            }
        }
        try parser.finish(remaining: pending.readableBytes)
        return frames
    }

    @Test func framesArrivingByteByByteAreReassembled() throws {
        var input = Self.frame([1, 2, 3])
        var empty = Self.frame([])
        var large = Self.frame(Array(repeating: 0xEE, count: 300))
        input.writeBuffer(&empty)
        input.writeBuffer(&large)
        let frames = try Self.parseByteByByte(input, limits: FrameLimits(maxFrameBytes: 300))
        #expect(frames.map { Array($0.readableBytesView) } == [[1, 2, 3], [], Array(repeating: 0xEE, count: 300)])
    }

    @Test func frameOfExactlyTheLimitIsAccepted() throws {
        var buffer = Self.frame(Array(repeating: 7, count: 64))
        var parser = FrameParser(limits: FrameLimits(maxFrameBytes: 64))
        guard case .frame(let body) = try parser.parseStep(&buffer) else {
            Issue.record("expected a frame")
            return
        }
        #expect(body.readableBytes == 64)
        #expect(parser.isAtFrameBoundary)
    }

    @Test func oversizeLengthIsRefusedBeforeAnyBodyArrives() {
        // Only the 4-byte prefix announcing 65 bytes is there: the parser must not wait for the body.
        var buffer = ByteBuffer(bytes: [0, 0, 0, 65])
        var parser = FrameParser(limits: FrameLimits(maxFrameBytes: 64))
        #expect(throws: ProtocolError(.frameTooLarge, detail: "length 65, limit 64")) { try parser.parseStep(&buffer) }
    }

    @Test func hugeLengthIsRefusedWithTheDefaultLimit() {
        var buffer = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF])
        var parser = FrameParser()
        #expect { try parser.parseStep(&buffer) } throws: { ($0 as? ProtocolError)?.code == .frameTooLarge }
    }

    @Test func endOfStreamInsideALengthPrefixOrBodyIsATruncation() throws {
        var parser = FrameParser()
        var header = ByteBuffer(bytes: [0, 0])
        #expect(try parser.parseStep(&header) == .insufficientData)
        #expect(throws: ProtocolError(.frameTruncated, detail: "2 of 4 length bytes")) {
            try parser.finish(remaining: header.readableBytes)
        }

        var partialBody = ByteBuffer(bytes: [0, 0, 0, 10, 1, 2, 3])
        var bodyParser = FrameParser()
        #expect(try bodyParser.parseStep(&partialBody) == .insufficientData)
        #expect(!bodyParser.isAtFrameBoundary)
        #expect(throws: ProtocolError(.frameTruncated, detail: "3 of 10 body bytes")) {
            try bodyParser.finish(remaining: partialBody.readableBytes)
        }
    }

    @Test func endOfStreamBetweenFramesIsClean() throws {
        var buffer = Self.frame([9])
        var parser = FrameParser()
        _ = try parser.parseStep(&buffer)
        try parser.finish(remaining: buffer.readableBytes)
    }

    @Test func frameBodyIsASliceOfTheInputNotACopy() throws {
        var buffer = Self.frame([1, 2, 3, 4])
        let storage = buffer.withUnsafeReadableBytes { $0.baseAddress }
        var parser = FrameParser()
        guard case .frame(let body) = try parser.parseStep(&buffer) else {
            Issue.record("expected a frame")
            return
        }
        #expect(body.withUnsafeReadableBytes { $0.baseAddress } == storage.map { $0 + 4 })
    }
}
