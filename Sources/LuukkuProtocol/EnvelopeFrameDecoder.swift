import NIOCore

/// An inbound handler that turns the byte stream of a signaling connection into `Luukku_V1_Envelope`s.
///
/// The framing work is done by ``FrameParser``; this class only loops, in the style of NIO's
/// `WebSocketFrameDecoder`. Errors it throws (oversize, malformed, truncated at end of stream) are fatal for
/// the connection: the connection handler reports them with an Error frame and closes. An Envelope with no
/// known message is passed on; ``EnvelopeCoding/missingMessageError(_:)`` classifies it.
public final class EnvelopeFrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Luukku_V1_Envelope

    private var parser: FrameParser

    public init(limits: FrameLimits = FrameLimits()) {
        self.parser = FrameParser(limits: limits)
    }

    public func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        switch try parser.parseStep(&buffer) {
        case .insufficientData:
            return .needMoreData
        case .frame(let body):
            let envelope = try EnvelopeCoding.decode(frame: body)
            context.fireChannelRead(Self.wrapInboundOut(envelope))
            return .continue
        }
    }

    public func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        // Without EOF the handler is being removed and NIO hands unread bytes to the next handler: that is
        // not a truncation. With EOF, bytes of an unfinished frame are.
        if seenEOF { try parser.finish(remaining: buffer.readableBytes) }
        return .needMoreData
    }
}

@available(*, unavailable)
extension EnvelopeFrameDecoder: Sendable {}
