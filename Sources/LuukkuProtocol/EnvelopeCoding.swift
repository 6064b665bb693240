import NIOCore
import SwiftProtobuf

/// Turning frame bodies into Envelopes and back. Shared by the NIO handlers, the clients and the fuzzer, so
/// all of them accept and reject exactly the same bytes.
public enum EnvelopeCoding {
    /// Nesting allowed while decoding. Our schema nests at most 4 deep; a hostile frame cannot make the
    /// decoder recurse further than this.
    public static let maxMessageDepth = 16

    private static var decodingOptions: BinaryDecodingOptions {
        var options = BinaryDecodingOptions()
        options.messageDepthLimit = maxMessageDepth
        return options
    }

    /// Decodes one frame body, reading straight from the buffer's storage.
    /// - Throws: ``ProtocolError`` `.malformedEnvelope` when the bytes are not a valid Envelope.
    public static func decode(frame: ByteBuffer) throws(ProtocolError) -> Luukku_V1_Envelope {
        do {
            return try Luukku_V1_Envelope(serializedBytes: frame.readableBytesSpan, options: decodingOptions)
        } catch {
            throw ProtocolError(.malformedEnvelope, detail: Self.reason(error))
        }
    }

    /// Appends the length prefix and the serialized envelope to `buffer`.
    /// - Throws: ``ProtocolError`` `.frameTooLarge` when the envelope exceeds `limits`; nothing is written then.
    public static func encode(
        _ envelope: Luukku_V1_Envelope,
        into buffer: inout ByteBuffer,
        limits: FrameLimits = FrameLimits()
    ) throws(ProtocolError) {
        let bytes: [UInt8]
        do {
            bytes = try envelope.serializedBytes()
        } catch {
            throw ProtocolError(.internal, detail: "envelope could not be serialized")
        }
        guard bytes.count <= limits.maxFrameBytes else {
            throw ProtocolError(.frameTooLarge, detail: "length \(bytes.count), limit \(limits.maxFrameBytes)")
        }
        buffer.reserveCapacity(minimumWritableBytes: FrameParser.lengthPrefixBytes + bytes.count)
        buffer.writeInteger(UInt32(bytes.count), endianness: .big)
        buffer.writeBytes(bytes)
    }

    /// Classifies an envelope whose `message` is unset: a newer peer's message kind (unknown field present)
    /// or an envelope with nothing in it. Both are answered with an Error and the connection stays open.
    public static func missingMessageError(_ envelope: Luukku_V1_Envelope) -> ProtocolError? {
        guard envelope.message == nil else { return nil }
        if envelope.unknownFields.data.isEmpty { return ProtocolError(.emptyEnvelope) }
        return ProtocolError(.unsupportedMessage)
    }

    /// A safe description of a decoding failure: the kind of error, never the bytes.
    private static func reason(_ error: any Error) -> String {
        switch error as? BinaryDecodingError {
        case .truncated?: "truncated field"
        case .malformedProtobuf?: "malformed protobuf"
        case .messageDepthLimit?: "nested deeper than \(maxMessageDepth)"
        case .invalidUTF8?: "string field is not UTF-8"
        case .missingRequiredFields?: "missing required fields"
        default: "undecodable"
        }
    }
}
