import NIOCore

/// Limits on the frames of one connection.
public struct FrameLimits: Hashable, Sendable {
    /// 64 KiB: a Welcome with a large catalogue fits many times over, and a peer cannot make the server
    /// buffer more than this per connection.
    public static let defaultMaxFrameBytes = 64 * 1024

    /// The largest Envelope accepted, the 4-byte length prefix not counted.
    public var maxFrameBytes: Int

    public init(maxFrameBytes: Int = FrameLimits.defaultMaxFrameBytes) {
        precondition(maxFrameBytes > 0 && maxFrameBytes <= Int(UInt32.max), "frame limit out of range")
        self.maxFrameBytes = maxFrameBytes
    }
}

/// The result of one parsing step.
public enum FrameParseResult: Equatable {
    /// More bytes are needed; the buffer was left positioned to resume.
    case insufficientData
    /// One whole frame body (the serialized Envelope), sliced from the input without copying.
    case frame(ByteBuffer)
}

/// An incremental parser for the Luukku framing: a 4-byte big-endian length, then that many bytes of one
/// serialized `Luukku_V1_Envelope`.
///
/// It keeps the length it has read, so a frame arriving a byte at a time is not re-parsed from the start,
/// and it refuses an oversize length as soon as the prefix is complete, before any of the body is buffered:
/// a peer can never make the connection hold more than `maxFrameBytes + 4` bytes of one frame.
public struct FrameParser {
    /// Size of the big-endian length prefix.
    public static let lengthPrefixBytes = 4

    private enum State {
        case waitingForLength
        case waitingForBody(length: Int)
    }

    private var state: State = .waitingForLength
    public let limits: FrameLimits

    public init(limits: FrameLimits = FrameLimits()) {
        self.limits = limits
    }

    /// True when no part of a frame has been consumed: the stream may end here cleanly.
    public var isAtFrameBoundary: Bool {
        if case .waitingForLength = state { return true }
        return false
    }

    /// Consumes at most one frame from `buffer`.
    /// - Throws: ``ProtocolError`` with code `.frameTooLarge` when the length prefix exceeds the limit.
    public mutating func parseStep(_ buffer: inout ByteBuffer) throws(ProtocolError) -> FrameParseResult {
        switch state {
        case .waitingForLength:
            guard let length = buffer.readInteger(endianness: .big, as: UInt32.self) else {
                return .insufficientData
            }
            guard length <= limits.maxFrameBytes else {
                throw ProtocolError(.frameTooLarge, detail: "length \(length), limit \(limits.maxFrameBytes)")
            }
            state = .waitingForBody(length: Int(length))
            return try parseStep(&buffer)

        case .waitingForBody(let length):
            guard let body = buffer.readSlice(length: length) else { return .insufficientData }
            state = .waitingForLength
            return .frame(body)
        }
    }

    /// Called when the stream has ended: bytes of an unfinished frame are a truncation.
    /// - Parameter remaining: bytes received but not consumed by ``parseStep(_:)``.
    public func finish(remaining: Int) throws(ProtocolError) {
        switch state {
        case .waitingForLength where remaining == 0:
            return
        case .waitingForLength:
            throw ProtocolError(.frameTruncated, detail: "\(remaining) of 4 length bytes")
        case .waitingForBody(let length):
            throw ProtocolError(.frameTruncated, detail: "\(remaining) of \(length) body bytes")
        }
    }
}
