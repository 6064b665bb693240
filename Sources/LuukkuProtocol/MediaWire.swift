import LuukkuCore

// The media negotiation's values on the wire (proto/luukku/v1/session.proto): SRTP suites, codecs and a
// client's capabilities, both ways. What a peer sends is cleaned on the way in: unknown suites and kinds are
// left out and a payload type outside 96-127 counts as none, so the policy (MediaNegotiation) sees only values
// it can act on.

extension SRTPSuite {
    /// The suite of a wire value; nil for UNSPECIFIED or a number this build does not know.
    public init?(wire: Luukku_V1_SrtpSuite) {
        switch wire {
        case .aesCm128HmacSha180: self = .aesCM128HMACSHA1_80
        case .aesCm128HmacSha132: self = .aesCM128HMACSHA1_32
        case .aeadAes128Gcm: self = .aeadAES128GCM
        case .aeadAes256Gcm: self = .aeadAES256GCM
        case .unspecified, .UNRECOGNIZED: return nil
        }
    }

    public var wire: Luukku_V1_SrtpSuite {
        switch self {
        case .aesCM128HMACSHA1_80: .aesCm128HmacSha180
        case .aesCM128HMACSHA1_32: .aesCm128HmacSha132
        case .aeadAES128GCM: .aeadAes128Gcm
        case .aeadAES256GCM: .aeadAes256Gcm
        }
    }
}

extension MediaCodec {
    /// The codec of a wire value; nil when its kind is unknown, its name empty or its clock rate 0.
    public init?(wire: Luukku_V1_MediaCodec) {
        let kind: MediaKind
        switch wire.kind {
        case .audio: kind = .audio
        case .video: kind = .video
        case .unspecified, .UNRECOGNIZED: return nil
        }
        guard !wire.name.isEmpty, wire.name.utf8.count <= 64, wire.clockRate > 0 else { return nil }
        self.init(
            kind: kind, name: wire.name, clockRate: wire.clockRate, channels: min(wire.channels, 255),
            payloadType: (96...127).contains(wire.payloadType) ? UInt8(wire.payloadType) : nil)
    }

    public var wire: Luukku_V1_MediaCodec {
        .with {
            $0.kind = kind == .audio ? .audio : .video
            $0.name = name
            $0.clockRate = clockRate
            $0.channels = channels
            $0.payloadType = UInt32(payloadType ?? 0)
        }
    }
}

extension MediaCapabilities {
    /// A client's `Hello.media`, cleaned (at most 32 codecs a direction are read).
    public init(wire: Luukku_V1_MediaCapabilities) {
        self.init(
            send: wire.sendCodecs.prefix(32).compactMap(MediaCodec.init(wire:)),
            receive: wire.receiveCodecs.prefix(32).compactMap(MediaCodec.init(wire:)),
            suites: wire.srtpSuites.prefix(16).compactMap(SRTPSuite.init(wire:)))
    }

    public var wire: Luukku_V1_MediaCapabilities {
        .with {
            $0.sendCodecs = send.map(\.wire)
            $0.receiveCodecs = receive.map(\.wire)
            $0.srtpSuites = suites.map(\.wire)
        }
    }
}

extension Luukku_V1_Hello {
    /// The client's media capabilities, or nil for a client that sent none (an older one).
    public var mediaCapabilities: MediaCapabilities? { hasMedia ? MediaCapabilities(wire: media) : nil }
}

extension Luukku_V1_SessionStarted {
    /// The codecs this party sends and receives, as the server chose them (empty lists from an older server).
    public var sendCodecList: [MediaCodec] { sendCodecs.compactMap(MediaCodec.init(wire:)) }
    public var receiveCodecList: [MediaCodec] { receiveCodecs.compactMap(MediaCodec.init(wire:)) }
}
