import LuukkuProtocol
import NIOCore
import NIOEmbedded
import Testing

@Suite struct EnvelopeFrameEncoderTests {
    @Test func writesALengthPrefixedEnvelopeThatDecodesBack() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(MessageToByteHandler(EnvelopeFrameEncoder()))
        let sample = SampleEnvelopes.all.first { $0.name == "session-started" }!.envelope
        try channel.writeOutbound(sample)
        var written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let length = try #require(written.getInteger(at: written.readerIndex, endianness: .big, as: UInt32.self))
        #expect(Int(length) == written.readableBytes - 4)

        var parser = FrameParser()
        guard case .frame(let body) = try parser.parseStep(&written) else {
            Issue.record("expected one whole frame")
            return
        }
        #expect(try EnvelopeCoding.decode(frame: body) == sample)
        #expect(try channel.finish().isClean)
    }

    @Test func envelopeOverTheLimitFailsTheWriteAndSendsNothing() throws {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            MessageToByteHandler(EnvelopeFrameEncoder(limits: FrameLimits(maxFrameBytes: 32)))
        )
        var big = Luukku_V1_Feedback()
        big.comment = String(repeating: "a", count: 100)
        let envelope = SampleEnvelopes.envelope(.feedback(big))
        #expect { try channel.writeOutbound(envelope) } throws: { ($0 as? ProtocolError)?.code == .frameTooLarge }
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }

    @Test func encodeIntoLeavesTheBufferUntouchedOnError() throws {
        var buffer = ByteBuffer(bytes: [1, 2, 3])
        var big = Luukku_V1_Feedback()
        big.comment = String(repeating: "b", count: 100)
        #expect(throws: ProtocolError.self) {
            try EnvelopeCoding.encode(
                SampleEnvelopes.envelope(.feedback(big)), into: &buffer, limits: FrameLimits(maxFrameBytes: 10))
        }
        #expect(Array(buffer.readableBytesView) == [1, 2, 3])
    }
}
