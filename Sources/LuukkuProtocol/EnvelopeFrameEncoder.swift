import NIOCore

/// An outbound handler that writes each `Luukku_V1_Envelope` as one length-prefixed frame. An envelope over
/// the limit fails its write promise with ``ProtocolError`` `.frameTooLarge` and nothing is sent.
public final class EnvelopeFrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Luukku_V1_Envelope

    private let limits: FrameLimits

    public init(limits: FrameLimits = FrameLimits()) {
        self.limits = limits
    }

    public func encode(data: Luukku_V1_Envelope, out: inout ByteBuffer) throws {
        try EnvelopeCoding.encode(data, into: &out, limits: limits)
    }
}

@available(*, unavailable)
extension EnvelopeFrameEncoder: Sendable {}
