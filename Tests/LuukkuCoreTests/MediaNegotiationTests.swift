import Foundation
import LuukkuCore
import Testing

/// The broker's media policy, without a network: who is admitted, each leg's suite, each direction's codec and
/// payload type (docs/protocol.md, "Media negotiation").
@Suite struct MediaNegotiationTests {
    static let profile = Configuration.Media()
    static let everything = MediaCapabilities(
        send: [.vp8(), .opus()], receive: [.vp8(), .opus()],
        suites: [.aeadAES128GCM, .aesCM128HMACSHA1_80, .aeadAES256GCM, .aesCM128HMACSHA1_32])

    static func parties(_ terminalSuites: [SRTPSuite], _ expertSuites: [SRTPSuite]) -> (
        MediaCapabilities, MediaCapabilities
    ) {
        var terminal = everything
        terminal.suites = terminalSuites
        var expert = everything
        expert.suites = expertSuites
        return (terminal, expert)
    }

    @Test func theDefaultsPreferGCMAndCarryVP8AndOpusBothWays() throws {
        #expect(Self.profile.srtpSuites == [.aeadAES128GCM, .aesCM128HMACSHA1_80])
        #expect(Self.profile.required.map(\.description) == ["96 VP8/90000", "111 opus/48000/2"])
        let plan = try MediaNegotiation.plan(terminal: Self.everything, expert: Self.everything, profile: Self.profile)
        #expect(plan.terminal.suite == .aeadAES128GCM && plan.expert.suite == .aeadAES128GCM)
        #expect(plan.terminal.send.map(\.description) == ["96 VP8/90000", "111 opus/48000/2"])
        // What one side sends is what the other receives: the relay does not transcode.
        #expect(plan.terminal.send == plan.expert.receive && plan.expert.send == plan.terminal.receive)
    }

    @Test func eachLegGetsTheServicesFirstSuiteItsPartySpeaks() throws {
        // The terminal on GCM, the expert on AES-CM: the legs differ, the relay re-protects.
        let (terminal, expert) = Self.parties([.aeadAES128GCM], [.aesCM128HMACSHA1_80])
        let plan = try MediaNegotiation.plan(terminal: terminal, expert: expert, profile: Self.profile)
        #expect(plan.terminal.suite == .aeadAES128GCM && plan.expert.suite == .aesCM128HMACSHA1_80)
        // A party that prefers AES-CM still gets GCM when the service prefers it: the relay pays per packet.
        let (cm, _) = Self.parties([.aesCM128HMACSHA1_80, .aeadAES128GCM], [])
        #expect(
            try MediaNegotiation.plan(terminal: cm, expert: Self.everything, profile: Self.profile).terminal.suite
                == .aeadAES128GCM)
        // The operator's order decides.
        var operatorOrder = Self.profile
        operatorOrder.srtpSuites = [.aesCM128HMACSHA1_80, .aeadAES128GCM]
        let plan2 = try MediaNegotiation.plan(
            terminal: Self.everything, expert: Self.everything, profile: operatorOrder)
        #expect(plan2.terminal.suite == .aesCM128HMACSHA1_80 && plan2.expert.suite == .aesCM128HMACSHA1_80)
    }

    @Test func eachDirectionUsesThePayloadTypeItsReceiverAskedFor() throws {
        var terminal = Self.everything
        terminal.receive = [.vp8(payloadType: 100), .opus(payloadType: 101)]
        var expert = Self.everything
        expert.receive = [.opus(payloadType: nil), .vp8(payloadType: 120)]
        expert.send = [.vp8(payloadType: 98), .opus(payloadType: 109)]
        let plan = try MediaNegotiation.plan(terminal: terminal, expert: expert, profile: Self.profile)
        // To the terminal: its own types. To the expert: VP8 at its 120; Opus, for which it named none, at the
        // terminal's send type (111).
        #expect(plan.terminal.receive.map(\.payloadType) == [100, 101])
        #expect(plan.expert.send.map(\.payloadType) == [100, 101])
        #expect(plan.expert.receive.map(\.payloadType) == [120, 111])
    }

    @Test func twoStreamsOfADirectionNeverShareAPayloadType() throws {
        // The expert names no type for VP8 and 96 for Opus; the terminal would send VP8 at 96.
        var expert = Self.everything
        expert.receive = [.vp8(payloadType: nil), .opus(payloadType: 96)]
        let plan = try MediaNegotiation.plan(terminal: Self.everything, expert: expert, profile: Self.profile)
        #expect(plan.expert.receive.map(\.payloadType) == [97, 96])
        #expect(plan.terminal.send == plan.expert.receive)
    }

    @Test func anOlderClientIsTakenToSpeakAESCMAndTheServicesCodecs() throws {
        let plan = try MediaNegotiation.plan(terminal: nil, expert: Self.everything, profile: Self.profile)
        #expect(plan.terminal.suite == .aesCM128HMACSHA1_80 && plan.expert.suite == .aeadAES128GCM)
        #expect(plan.terminal.send.map(\.description) == ["96 VP8/90000", "111 opus/48000/2"])
        // A service that no longer allows AES-CM cannot serve it.
        // Only the required codecs: a further one it never said it had is not chosen for it.
        var withH264 = Self.profile
        let h264 = MediaCodec(kind: .video, name: "H264", clockRate: 90_000, payloadType: 102)
        withH264.codecs = [.vp8(), h264, .opus()]
        var expert = Self.everything
        expert.receive = [h264, .vp8(), .opus()]
        let older = try MediaNegotiation.plan(terminal: nil, expert: expert, profile: withH264)
        #expect(older.terminal.send.map(\.name) == ["VP8", "opus"])
        var gcmOnly = Self.profile
        gcmOnly.srtpSuites = [.aeadAES128GCM]
        let refusal = try #require(MediaNegotiation.refusal(for: nil, profile: gcmOnly))
        #expect(refusal.kind == "suite")
        #expect(refusal.description == "no SRTP suite in common (the service allows AEAD_AES_128_GCM)")
    }

    @Test func aPartyWithoutTheRequiredCodecsOrASuiteIsRefusedSayingWhy() throws {
        let h264 = MediaCodec(kind: .video, name: "H264", clockRate: 90_000, payloadType: 102)
        let noVP8 = MediaCapabilities(send: [h264, .opus()], receive: [.vp8(), .opus()], suites: [.aeadAES128GCM])
        let refusal = try #require(MediaNegotiation.refusal(for: noVP8, profile: Self.profile))
        #expect(refusal.kind == "codec")
        #expect(refusal.description == "cannot send VP8/90000 (video), which the service requires")
        let deaf = MediaCapabilities(send: [.vp8(), .opus()], receive: [.vp8()], suites: [.aeadAES256GCM])
        #expect(
            MediaNegotiation.refusal(for: deaf, profile: Self.profile)?.description
                == "no SRTP suite in common (the service allows AEAD_AES_128_GCM, AES_CM_128_HMAC_SHA1_80); "
                + "cannot receive opus/48000/2 (audio), which the service requires")
        // Names are compared without case, mono equals 0 channels for video, clock rates must match.
        let spelled = MediaCapabilities(
            send: [MediaCodec(kind: .video, name: "vp8", clockRate: 90_000), .opus()],
            receive: [.vp8(), MediaCodec(kind: .audio, name: "OPUS", clockRate: 48_000, channels: 2)],
            suites: [.aeadAES128GCM])
        #expect(MediaNegotiation.refusal(for: spelled, profile: Self.profile) == nil)
        let wrongRate = MediaCapabilities(
            send: [.vp8(), .opus()], receive: [MediaCodec(kind: .video, name: "VP8", clockRate: 48_000), .opus()],
            suites: [.aeadAES128GCM])
        #expect(MediaNegotiation.refusal(for: wrongRate, profile: Self.profile) != nil)
        // Two received codecs on one payload type could not be told apart.
        let clash = MediaCapabilities(
            send: [.vp8(), .opus()], receive: [.vp8(payloadType: 100), .opus(payloadType: 100)],
            suites: [.aeadAES128GCM])
        #expect(
            MediaNegotiation.refusal(for: clash, profile: Self.profile)?.description.contains("payload type 100")
                == true)
        #expect(throws: MediaRefusal.self) {
            try MediaNegotiation.plan(terminal: noVP8, expert: Self.everything, profile: Self.profile)
        }
    }

    @Test func aFurtherCodecIsUsedWhereBothSidesOfADirectionHaveIt() throws {
        let h264 = MediaCodec(kind: .video, name: "H264", clockRate: 90_000, payloadType: 102)
        var profile = Self.profile
        profile.codecs = [.vp8(), h264, .opus()]
        var terminal = Self.everything
        terminal.send = [.vp8(), h264, .opus()]
        var expert = Self.everything
        expert.receive = [h264, .vp8(), .opus()]  // it decodes H.264 best
        let plan = try MediaNegotiation.plan(terminal: terminal, expert: expert, profile: profile)
        #expect(plan.terminal.send.map(\.description) == ["102 H264/90000", "111 opus/48000/2"])
        // The expert cannot send H.264: the other way stays on the required VP8.
        #expect(plan.expert.send.map(\.description) == ["96 VP8/90000", "111 opus/48000/2"])
    }
}

/// The `media` section of the configuration file.
@Suite struct MediaConfigurationTests {
    static func load(media: Any?) throws -> Result<Configuration, ConfigurationError> {
        let data = try Data(contentsOf: URL(fileURLWithPath: ConfigurationTests.exampleFile))
        var tree = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        tree["media"] = media
        let edited = try JSONSerialization.data(withJSONObject: tree)
        do {
            return .success(try Configuration(json: edited, file: "m.json"))
        } catch {
            return .failure(error)
        }
    }

    @Test func absentGivesVP8OpusAndGCMFirst() throws {
        #expect(try Self.load(media: nil).get().media == Configuration.Media())
    }

    @Test func valuesAreRead() throws {
        let media = try Self.load(media: [
            "codecs": [
                ["kind": "video", "name": "VP8", "clockRate": 90_000, "payloadType": 100],
                ["kind": "audio", "name": "opus", "clockRate": 48_000, "channels": 2, "payloadType": 101],
            ],
            "srtpSuites": ["AES_CM_128_HMAC_SHA1_80"],
        ]).get().media
        #expect(media.codecs == [.vp8(payloadType: 100), .opus(payloadType: 101)])
        #expect(media.srtpSuites == [.aesCM128HMACSHA1_80])
        // Opus without channels is opus/48000/2 (RFC 7587), which every client offers.
        let opus = try Self.load(media: [
            "codecs": [
                ["kind": "video", "name": "VP8", "clockRate": 90_000, "payloadType": 96],
                ["kind": "audio", "name": "opus", "clockRate": 48_000, "payloadType": 111],
            ]
        ]).get().media
        #expect(opus.codecs[1] == .opus())
    }

    @Test func badValuesAreNamedByTheirKeys() throws {
        guard case .failure(let unknown) = try Self.load(media: ["srtpSuites": ["AES_CM_256"]]) else {
            Issue.record("accepted an unknown suite")
            return
        }
        #expect(unknown.issues.first?.keyPath == "media.srtpSuites[0]")
        #expect(
            unknown.issues.first?.problem.contains("unknown SRTP suite 'AES_CM_256' (known: AES_CM_128_HMAC_SHA1_80")
                == true)
        guard
            case .failure(let bad) = try Self.load(media: [
                "codecs": [
                    ["kind": "video", "name": "VP8", "clockRate": 90_000, "payloadType": 96],
                    ["kind": "video", "name": "vp8", "clockRate": 90_000, "payloadType": 34],
                    ["kind": "audio", "name": "opus", "clockRate": 48_000, "channels": 2, "payloadType": 96],
                ],
                "srtpSuites": [],
            ])
        else {
            Issue.record("accepted bad codecs")
            return
        }
        let problems = Dictionary(bad.issues.map { ($0.keyPath, $0.problem) }) { first, _ in first }
        #expect(problems["media.codecs[1]"] == "the same codec as media.codecs[0]", "\(problems)")
        #expect(problems["media.codecs[1].payloadType"]?.contains("96 to 127, got 34") == true, "\(problems)")
        #expect(problems["media.codecs[2].payloadType"] == "payload type 96 is taken by media.codecs[0]", "\(problems)")
        #expect(problems["media.srtpSuites"] == "must list at least one suite", "\(problems)")
        guard
            case .failure(let untyped) = try Self.load(media: [
                "codecs": [["kind": "video", "name": "VP8", "clockRate": 90_000]]
            ])
        else {
            Issue.record("accepted a codec without a payload type")
            return
        }
        #expect(untyped.issues.map(\.keyPath) == ["media.codecs[0].payloadType"], "\(untyped.issues)")
        guard case .failure(let kind) = try Self.load(media: ["codecs": [["kind": "text", "name": "t140"]]]) else {
            Issue.record("accepted a kind that is neither audio nor video")
            return
        }
        #expect(kind.issues.first?.problem.contains("must be \"audio\" or \"video\"") == true, "\(kind.issues)")
    }
}
