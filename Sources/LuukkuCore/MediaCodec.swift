/// What a stream carries.
public enum MediaKind: String, CaseIterable, Hashable, Sendable, Codable {
    case video, audio
}

/// One RTP codec as an SDP `a=rtpmap` line names it (RFC 4566 section 6, RFC 3551): encoding name, clock
/// rate, channels, and a payload type. The same value describes what a party can do (with the payload type it
/// wants, ``MediaCapabilities``), what the service carries (``Configuration/Media``, with a default type) and
/// what a session uses (``StreamPlan``, with the type on the wire).
public struct MediaCodec: Hashable, Sendable, CustomStringConvertible {
    public var kind: MediaKind
    /// Encoding name: "VP8" (RFC 7741), "opus" (RFC 7587). Compared without regard to case.
    public var name: String
    /// RTP clock rate in Hz.
    public var clockRate: UInt32
    /// Audio channels as `a=rtpmap` counts them (Opus: always 2, RFC 7587 section 7); 0 for video.
    public var channels: UInt32
    /// A dynamic RTP payload type (96-127), or nil where none is named.
    public var payloadType: UInt8?

    public init(kind: MediaKind, name: String, clockRate: UInt32, channels: UInt32 = 0, payloadType: UInt8? = nil) {
        self.kind = kind
        self.name = name
        self.clockRate = clockRate
        self.channels = channels
        self.payloadType = payloadType
    }

    /// VP8 video at 90 kHz (RFC 7741), payload type 96 unless set: the video every party must speak by default.
    public static func vp8(payloadType: UInt8? = 96) -> MediaCodec {
        MediaCodec(kind: .video, name: "VP8", clockRate: 90_000, payloadType: payloadType)
    }

    /// Opus audio at 48 kHz (RFC 7587: `opus/48000/2` whatever the encoder's channels), payload type 111 unless
    /// set: the audio every party must speak by default.
    public static func opus(payloadType: UInt8? = 111) -> MediaCodec {
        MediaCodec(kind: .audio, name: "opus", clockRate: 48_000, channels: 2, payloadType: payloadType)
    }

    /// The same codec whatever the payload type: kind, name (case-insensitive), clock rate, and channels
    /// (0 and 1 both mean mono).
    public func isSameCodec(as other: MediaCodec) -> Bool {
        kind == other.kind && name.lowercased() == other.name.lowercased() && clockRate == other.clockRate
            && max(channels, 1) == max(other.channels, 1)
    }

    /// The codec with another payload type.
    public func with(payloadType: UInt8?) -> MediaCodec {
        var copy = self
        copy.payloadType = payloadType
        return copy
    }

    /// `VP8/90000` or `opus/48000/2`, as in `a=rtpmap`, with the payload type in front when there is one.
    public var description: String {
        let map = channels > 0 ? "\(name)/\(clockRate)/\(channels)" : "\(name)/\(clockRate)"
        return payloadType.map { "\($0) \(map)" } ?? map
    }
}

/// What one client can do (`Hello.media`): the codecs it can send, the codecs it can receive (each with the
/// payload type it wants them to arrive with), and the SRTP suites it speaks, each list in its order of
/// preference.
public struct MediaCapabilities: Hashable, Sendable {
    public var send: [MediaCodec]
    public var receive: [MediaCodec]
    public var suites: [SRTPSuite]

    public init(send: [MediaCodec], receive: [MediaCodec], suites: [SRTPSuite]) {
        self.send = send
        self.receive = receive
        self.suites = suites
    }

    /// What a client that sends no `Hello.media` (an older one) is taken to speak: AES_CM_128_HMAC_SHA1_80,
    /// the only suite the service used before negotiation existed, and the service's required codecs with their
    /// default payload types (nothing more: a codec it never said it had is never chosen for it).
    public static func assumed(for profile: Configuration.Media) -> MediaCapabilities {
        MediaCapabilities(send: profile.required, receive: profile.required, suites: [.aesCM128HMACSHA1_80])
    }
}
