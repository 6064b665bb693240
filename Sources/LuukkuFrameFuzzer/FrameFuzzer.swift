// libFuzzer entry point over the frame parser and Envelope decoding (`make fuzz SECONDS=N`, docs/fuzzing.md).
//
// This file must stay the only one in its target: in a `--sanitize=fuzzer` build libFuzzer supplies `main`,
// and in an ordinary build Swift gives this file an empty one, so the target always compiles and CI keeps
// it in step with the protocol code.
//
// Besides "no crash, no memory error, no unbounded allocation", it checks two properties of every input:
// - the parser never returns a frame longer than the limit, and always makes progress;
// - every Envelope that decodes survives encode -> parse -> decode unchanged, and re-encodes to the same
//   bytes (so what the server logs and what it forwards are the same message).
import LuukkuProtocol
import NIOCore

/// Small enough that generated inputs reach the oversize path, large enough for every real message kind.
private let fuzzLimits = FrameLimits(maxFrameBytes: 2048)
/// Re-encoding may grow a message a little (unpacked repeated fields are written packed), so the round trip
/// is checked against a generous limit: it tests the codec, not the limit.
private let roundTripLimits = FrameLimits(maxFrameBytes: 1 << 20)

@_cdecl("LLVMFuzzerTestOneInput")
public func frameFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var buffer = ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size))
    var parser = FrameParser(limits: fuzzLimits)
    do {
        while true {
            let before = buffer.readableBytes
            guard case .frame(let body) = try parser.parseStep(&buffer) else { break }
            precondition(body.readableBytes <= fuzzLimits.maxFrameBytes, "parser returned an oversize frame")
            precondition(buffer.readableBytes < before, "parser made no progress")
            let envelope = try EnvelopeCoding.decode(frame: body)
            _ = EnvelopeCoding.missingMessageError(envelope)
            checkRoundTrip(envelope)
        }
        try parser.finish(remaining: buffer.readableBytes)
    } catch {
        // Every rejection must be a ProtocolError with a code that maps to the wire.
        precondition(error.code.wireCode != .unspecified, "error without a wire code")
    }
    return 0
}

private func checkRoundTrip(_ envelope: Luukku_V1_Envelope) {
    var first = ByteBuffer()
    var second = ByteBuffer()
    do {
        try EnvelopeCoding.encode(envelope, into: &first, limits: roundTripLimits)
        var parser = FrameParser(limits: roundTripLimits)
        var reader = first
        guard case .frame(let body) = try parser.parseStep(&reader), reader.readableBytes == 0 else {
            preconditionFailure("an encoded frame did not parse as exactly one frame")
        }
        let decoded = try EnvelopeCoding.decode(frame: body)
        precondition(decoded == envelope, "envelope changed in an encode/decode round trip")
        try EnvelopeCoding.encode(decoded, into: &second, limits: roundTripLimits)
    } catch {
        preconditionFailure("a decoded envelope failed to round-trip: \(error)")
    }
    precondition(first == second, "encoding is not deterministic")
}
