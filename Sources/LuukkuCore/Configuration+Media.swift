// The `media` section of the configuration file: the codecs the service carries and the SRTP suites it allows,
// each in order of preference (docs/configuration.md, docs/protocol.md "Media negotiation").

extension Configuration {
    /// What media the broker negotiates. Every key is optional; the defaults are VP8 and Opus (WebRTC's
    /// mandatory codecs, RFC 7742 and RFC 7874) and AEAD_AES_128_GCM before AES_CM_128_HMAC_SHA1_80 (GCM costs
    /// the relay less per packet: 8.4 against 9.0 us with OpenSSL's crypto, and HMAC-SHA1 on NSS alone costs more
    /// than all of GCM; docs/benchmarks.md, ../shared/FACTS.md).
    public struct Media: Hashable, Sendable {
        /// The codecs the service carries, in order of preference, each with the payload type used where a party
        /// names none. The first codec of each kind is required: every party must send and receive it, so any
        /// customer can be matched with any expert (the relay re-protects SRTP but does not transcode).
        public var codecs: [MediaCodec] = [.vp8(), .opus()]
        /// SRTP suites the relay may use, in order of preference: each leg gets the first one its party speaks.
        public var srtpSuites: [SRTPSuite] = [.aeadAES128GCM, .aesCM128HMACSHA1_80]

        public init() {}

        /// The required codec of each kind: the first one listed.
        public var required: [MediaCodec] {
            MediaKind.allCases.compactMap { kind in codecs.first { $0.kind == kind } }
        }

        func validate(at path: String, into v: inout Validator) {
            if codecs.isEmpty { v.issue("\(path).codecs", "must list at least one codec") }
            for (index, codec) in codecs.enumerated() {
                let at = "\(path).codecs[\(index)]"
                if codec.name.isEmpty || codec.name.count > 32
                    || !codec.name.unicodeScalars.allSatisfy({
                        $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
                    })
                {
                    v.issue("\(at).name", "must be an encoding name of 1-32 ASCII letters, digits, '-' or '_'")
                }
                if !(1_000...1_000_000).contains(codec.clockRate) {
                    v.issue("\(at).clockRate", "must be 1000 to 1000000 Hz, got \(codec.clockRate)")
                }
                if codec.kind == .audio, !(1...8).contains(codec.channels) {
                    v.issue("\(at).channels", "must be 1 to 8 for audio, got \(codec.channels)")
                }
                if codec.kind == .video, codec.channels != 0 {
                    v.issue("\(at).channels", "is for audio only")
                }
                if codec.payloadType == nil {
                    v.issue("\(at).payloadType", "required: the type used where a client names none (96 to 127)")
                }
                if let type = codec.payloadType, !(96...127).contains(type) {
                    v.issue("\(at).payloadType", "must be a dynamic payload type, 96 to 127, got \(type)")
                }
                if let earlier = codecs[..<index].firstIndex(where: { $0.isSameCodec(as: codec) }) {
                    v.issue(at, "the same codec as \(path).codecs[\(earlier)]")
                }
                if let type = codec.payloadType,
                    let earlier = codecs[..<index].firstIndex(where: { $0.payloadType == type })
                {
                    v.issue("\(at).payloadType", "payload type \(type) is taken by \(path).codecs[\(earlier)]")
                }
            }
            if srtpSuites.isEmpty { v.issue("\(path).srtpSuites", "must list at least one suite") }
            v.unique(srtpSuites.map(\.rawValue), at: "\(path).srtpSuites", what: "suite")
        }
    }
}

extension Configuration.Media: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case codecs, srtpSuites }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init()
        codecs = try c.decodeIfPresent([ConfiguredCodec].self, forKey: .codecs)?.map(\.codec) ?? codecs
        if c.contains(.srtpSuites) {
            var suites: [SRTPSuite] = []
            for (index, name) in try c.decode([String].self, forKey: .srtpSuites).enumerated() {
                guard let suite = SRTPSuite(rawValue: name) else {
                    throw DecodingError.dataCorrupted(
                        DecodingError.Context(
                            codingPath: c.codingPath + [CodingKeys.srtpSuites, AnyCodingKey(intValue: index)!],
                            debugDescription: "unknown SRTP suite '\(name)' (known: "
                                + SRTPSuite.allCases.map(\.rawValue).joined(separator: ", ") + ")"))
                }
                suites.append(suite)
            }
            srtpSuites = suites
        }
    }
}

/// One entry of `media.codecs`: `{"kind": "video", "name": "VP8", "clockRate": 90000, "payloadType": 96}`.
private struct ConfiguredCodec: Decodable {
    var codec: MediaCodec

    private enum CodingKeys: String, CodingKey, CaseIterable { case kind, name, clockRate, channels, payloadType }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        let kindName = try c.decode(String.self, forKey: .kind)
        guard let kind = MediaKind(rawValue: kindName) else {
            throw DecodingError.dataCorruptedError(
                forKey: .kind, in: c, debugDescription: "must be \"audio\" or \"video\", got \"\(kindName)\"")
        }
        let name = try c.decode(String.self, forKey: .name)
        // Audio is mono unless said, but Opus is always opus/48000/2 in SDP terms (RFC 7587 section 7).
        let channels = kind == .video ? 0 : name.lowercased() == "opus" ? 2 : 1
        codec = MediaCodec(
            kind: kind, name: name, clockRate: try c.decode(UInt32.self, forKey: .clockRate),
            channels: try c.decodeIfPresent(UInt32.self, forKey: .channels) ?? UInt32(channels),
            payloadType: try c.decodeIfPresent(UInt8.self, forKey: .payloadType))
    }
}
