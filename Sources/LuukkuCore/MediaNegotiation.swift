/// One party's media in a session: the SRTP suite of its leg, and one codec per kind in each direction with the
/// payload type on the wire.
public struct PartyMediaPlan: Hashable, Sendable {
    public var suite: SRTPSuite
    /// What the party sends (the payload type to put in its packets).
    public var send: [MediaCodec]
    /// What the party receives (the payload type its packets carry).
    public var receive: [MediaCodec]

    public init(suite: SRTPSuite, send: [MediaCodec], receive: [MediaCodec]) {
        self.suite = suite
        self.send = send
        self.receive = receive
    }
}

/// Both sides of a session. The legs may differ in suite (the relay re-protects between them); the codecs of
/// a direction are the same on both ends (the relay does not transcode): what the terminal sends is what the
/// expert receives.
public struct MediaPlan: Hashable, Sendable {
    public var terminal: PartyMediaPlan
    public var expert: PartyMediaPlan

    public init(terminal: PartyMediaPlan, expert: PartyMediaPlan) {
        self.terminal = terminal
        self.expert = expert
    }
}

/// Why a party's media cannot be used by the service (`NO_COMMON_MEDIA`). The text names suites and codecs
/// only: safe to log and to send.
public struct MediaRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Reason: Hashable, Sendable {
        /// None of the party's suites is in `media.srtpSuites`.
        case noCommonSuite(allowed: [SRTPSuite])
        /// The party cannot send a required codec.
        case cannotSend(MediaCodec)
        /// The party cannot receive a required codec.
        case cannotReceive(MediaCodec)
        /// No codec of this kind that one side sends and the other receives (only with codecs beyond the required
        /// ones; admitted parties always share those).
        case noCommonCodec(MediaKind)
        /// The party asks to receive two codecs with one payload type: it could not tell their packets apart.
        case payloadTypeTwice(UInt8)
    }

    public let reasons: [Reason]

    public init(_ reasons: [Reason]) { self.reasons = reasons }

    /// `suite` when the suites are the problem, else `codec`: the label of the refusal counter.
    public var kind: String {
        reasons.contains { if case .noCommonSuite = $0 { return true } else { return false } } ? "suite" : "codec"
    }

    public var description: String {
        reasons.map { reason in
            switch reason {
            case .noCommonSuite(let allowed):
                "no SRTP suite in common (the service allows " + allowed.map(\.rawValue).joined(separator: ", ") + ")"
            case .cannotSend(let codec):
                "cannot send \(codec.with(payloadType: nil)) (\(codec.kind)), which the service requires"
            case .cannotReceive(let codec):
                "cannot receive \(codec.with(payloadType: nil)) (\(codec.kind)), which the service requires"
            case .noCommonCodec(let kind): "no \(kind) codec that one side sends and the other receives"
            case .payloadTypeTwice(let type): "payload type \(type) named for two codecs it receives"
            }
        }.joined(separator: "; ")
    }
}

/// The broker's media policy (docs/protocol.md, "Media negotiation"), pure: no I/O, no state.
///
/// - A party is *admitted* (may request a service, or be made available to take one) when it shares an SRTP
///   suite with `media.srtpSuites` and can send and receive the required codec of each kind (the first one
///   `media.codecs` lists). A party with no `Hello.media` is taken to speak ``MediaCapabilities/assumed(for:)``.
/// - Each leg's suite is the first of `media.srtpSuites` that its party speaks: the operator's order decides,
///   since the relay pays for it.
/// - Each direction's codec of a kind is, among the service's codecs that the sender sends and the receiver
///   receives, the one the receiver lists first (it knows what it decodes best); its payload type is the one
///   the receiver asked for, else the sender's, else the service's default, else (when that one is taken in
///   this direction) the lowest free dynamic type.
public enum MediaNegotiation {
    /// nil when the party is admitted; else why not.
    public static func refusal(for capabilities: MediaCapabilities?, profile: Configuration.Media) -> MediaRefusal? {
        let party = capabilities ?? .assumed(for: profile)
        var reasons: [MediaRefusal.Reason] = []
        if suite(of: party, profile: profile) == nil { reasons.append(.noCommonSuite(allowed: profile.srtpSuites)) }
        for codec in profile.required {
            if !party.send.contains(where: { $0.isSameCodec(as: codec) }) { reasons.append(.cannotSend(codec)) }
            if !party.receive.contains(where: { $0.isSameCodec(as: codec) }) { reasons.append(.cannotReceive(codec)) }
        }
        var named = Set<UInt8>()
        for type in party.receive.compactMap(\.payloadType) where !named.insert(type).inserted {
            reasons.append(.payloadTypeTwice(type))
        }
        return reasons.isEmpty ? nil : MediaRefusal(reasons)
    }

    /// The session's media between a terminal and an expert.
    /// - Throws: ``MediaRefusal`` when either is not admitted, or a kind has no codec in common.
    public static func plan(
        terminal: MediaCapabilities?, expert: MediaCapabilities?, profile: Configuration.Media
    ) throws(MediaRefusal) -> MediaPlan {
        if let refusal = refusal(for: terminal, profile: profile) ?? refusal(for: expert, profile: profile) {
            throw refusal
        }
        let terminal = terminal ?? .assumed(for: profile)
        let expert = expert ?? .assumed(for: profile)
        let toExpert = try streams(from: terminal, to: expert, profile: profile)
        let toTerminal = try streams(from: expert, to: terminal, profile: profile)
        // Both suites exist: refusal(for:) checked them.
        return MediaPlan(
            terminal: PartyMediaPlan(
                suite: suite(of: terminal, profile: profile)!, send: toExpert, receive: toTerminal),
            expert: PartyMediaPlan(suite: suite(of: expert, profile: profile)!, send: toTerminal, receive: toExpert))
    }

    static func suite(of party: MediaCapabilities, profile: Configuration.Media) -> SRTPSuite? {
        profile.srtpSuites.first { party.suites.contains($0) }
    }

    /// One codec per kind of the service, from `sender` to `receiver`, with the payload type on the wire.
    static func streams(
        from sender: MediaCapabilities, to receiver: MediaCapabilities, profile: Configuration.Media
    ) throws(MediaRefusal) -> [MediaCodec] {
        var chosen: [MediaCodec] = []
        for kind in MediaKind.allCases where profile.codecs.contains(where: { $0.kind == kind }) {
            let candidates = profile.codecs.filter { codec in
                codec.kind == kind && sender.send.contains { $0.isSameCodec(as: codec) }
                    && receiver.receive.contains { $0.isSameCodec(as: codec) }
            }
            let ranked = candidates.min { first, second in
                rank(first, in: receiver.receive) < rank(second, in: receiver.receive)
            }
            guard let codec = ranked else { throw MediaRefusal([.noCommonCodec(kind)]) }
            let named = receiver.receive.first { $0.isSameCodec(as: codec) }?.payloadType
            var payloadType = named ?? sender.send.first { $0.isSameCodec(as: codec) }?.payloadType ?? codec.payloadType
            // Two streams of a direction on one type could not be told apart: a type the receiver did not name
            // itself gives way to a free one (the receiver's own types are unique: admission checked them).
            let taken = Set(
                chosen.compactMap(\.payloadType) + (named == nil ? receiver.receive.compactMap(\.payloadType) : []))
            if named == nil, let type = payloadType, taken.contains(type) {
                payloadType = (96...127).map(UInt8.init).first { !taken.contains($0) }
            }
            chosen.append(codec.with(payloadType: payloadType))
        }
        return chosen
    }

    /// Where `codec` stands in `list` (its position, or after every listed codec).
    private static func rank(_ codec: MediaCodec, in list: [MediaCodec]) -> Int {
        list.firstIndex { $0.isSameCodec(as: codec) } ?? list.count
    }
}
