import LuukkuProtocol
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

@Suite struct EnvelopeFrameDecoderTests {
    static func encoded(_ envelopes: [Luukku_V1_Envelope]) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        for envelope in envelopes { try EnvelopeCoding.encode(envelope, into: &buffer) }
        return buffer
    }

    static func rawFrame(_ body: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(body.count), endianness: .big)
        buffer.writeBytes(body)
        return buffer
    }

    static func channel(limits: FrameLimits = FrameLimits()) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(EnvelopeFrameDecoder(limits: limits)))
        return channel
    }

    /// NIO's verifier feeds every input byte by byte, in odd chunks and all at once, and checks the decoder
    /// leaves nothing behind and gives the same messages each way.
    @Test func everyMessageKindDecodesWhateverTheChunking() throws {
        let pairs = try SampleEnvelopes.all.map { sample in (try Self.encoded([sample.envelope]), [sample.envelope]) }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { EnvelopeFrameDecoder() }
    }

    @Test func severalFramesInOneReadAllDecode() throws {
        let envelopes = SampleEnvelopes.all.map(\.envelope)
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(try Self.encoded(envelopes), envelopes)]) {
            EnvelopeFrameDecoder()
        }
    }

    @Test func oversizeFrameIsFrameTooLarge() throws {
        let channel = try Self.channel(limits: FrameLimits(maxFrameBytes: 16))
        #expect { try channel.writeInbound(Self.rawFrame(Array(repeating: 0, count: 17))) } throws: {
            ($0 as? ProtocolError)?.code == .frameTooLarge
        }
        _ = try? channel.finish()
    }

    @Test func garbageBodyIsMalformedEnvelope() throws {
        let channel = try Self.channel()
        // Field 1 with wire type 7, which does not exist.
        #expect { try channel.writeInbound(Self.rawFrame([0x0F, 0x01])) } throws: {
            ($0 as? ProtocolError)?.code == .malformedEnvelope
        }
        _ = try? channel.finish()
    }

    @Test func invalidUTF8IsMalformedEnvelope() throws {
        // RequestService (field 30, length-delimited) whose agency string (field 1) holds 0xFF.
        let channel = try Self.channel()
        #expect { try channel.writeInbound(Self.rawFrame([0xF2, 0x01, 0x03, 0x0A, 0x01, 0xFF])) } throws: { error in
            let error = error as? ProtocolError
            return error?.code == .malformedEnvelope && error?.detail == "string field is not UTF-8"
        }
        _ = try? channel.finish()
    }

    @Test func connectionClosedMidFrameIsFrameTruncated() throws {
        let channel = try Self.channel()
        var partial = try Self.encoded([SampleEnvelopes.all[0].envelope])
        partial.moveWriterIndex(to: partial.writerIndex - 1)
        try channel.writeInbound(partial)
        #expect(try channel.readInbound(as: Luukku_V1_Envelope.self) == nil)
        #expect { try channel.finish() } throws: { ($0 as? ProtocolError)?.code == .frameTruncated }
    }

    @Test func framingErrorsHaveDistinctFatalWireCodes() {
        let codes: [ProtocolError.Code] = [.frameTooLarge, .frameTruncated, .malformedEnvelope]
        #expect(Set(codes.map(\.wireCode)).count == 3)
        #expect(codes.allSatisfy { $0.isFatal })
    }

    @Test func emptyEnvelopeIsPassedOnAndClassified() throws {
        let channel = try Self.channel()
        try channel.writeInbound(Self.rawFrame([]))
        let envelope = try #require(try channel.readInbound(as: Luukku_V1_Envelope.self))
        #expect(EnvelopeCoding.missingMessageError(envelope) == ProtocolError(.emptyEnvelope))
        #expect(try channel.finish().isClean)
    }

    @Test func newerPeersMessageKindIsUnsupportedNotFatal() throws {
        // Field 250 (a message kind this build does not know), length-delimited, empty; correlation id 5.
        let channel = try Self.channel()
        try channel.writeInbound(Self.rawFrame([0x08, 0x05, 0xD2, 0x0F, 0x00]))
        let envelope = try #require(try channel.readInbound(as: Luukku_V1_Envelope.self))
        #expect(envelope.correlationID == 5)
        let error = try #require(EnvelopeCoding.missingMessageError(envelope))
        #expect(error.code == .unsupportedMessage && !error.isFatal)
        #expect(try channel.finish().isClean)
    }
}
