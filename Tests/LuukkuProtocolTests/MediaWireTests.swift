import LuukkuCore
import LuukkuProtocol
import Testing

/// Hello.media and SessionStarted's codecs on the wire: both ways, and what a peer sends cleaned on the way in.
@Suite struct MediaWireTests {
    @Test func capabilitiesGoOutAndComeBackTheSame() {
        let capabilities = MediaCapabilities(
            send: [.vp8(), .opus()], receive: [.vp8(payloadType: 100), .opus(payloadType: nil)],
            suites: SRTPSuite.allCases)
        #expect(MediaCapabilities(wire: capabilities.wire) == capabilities)
        for suite in SRTPSuite.allCases { #expect(SRTPSuite(wire: suite.wire) == suite) }
        // No media field: an older client.
        #expect(Luukku_V1_Hello().mediaCapabilities == nil)
        #expect(Luukku_V1_Hello.with { $0.media = capabilities.wire }.mediaCapabilities == capabilities)
    }

    @Test func whatThisBuildCannotUseIsLeftOut() {
        let wire = Luukku_V1_MediaCapabilities.with {
            $0.sendCodecs = [
                .with {
                    $0.kind = .video; $0.name = "VP8"; $0.clockRate = 90_000; $0.payloadType = 34  // static: none
                },
                .with {
                    $0.kind = .UNRECOGNIZED(7); $0.name = "T140"; $0.clockRate = 1_000
                },  // a newer kind
                .with {
                    $0.kind = .audio; $0.name = ""; $0.clockRate = 48_000
                },  // no name
                .with {
                    $0.kind = .audio; $0.name = "opus"; $0.clockRate = 0
                },  // no clock rate
            ]
            $0.srtpSuites = [.unspecified, .UNRECOGNIZED(9), .aeadAes128Gcm]
        }
        let capabilities = MediaCapabilities(wire: wire)
        #expect(capabilities.send == [MediaCodec(kind: .video, name: "VP8", clockRate: 90_000, payloadType: nil)])
        #expect(capabilities.suites == [.aeadAES128GCM])
        #expect(ProtocolError(.noCommonMedia).wireMessage.code == .noCommonMedia)
        #expect(!ProtocolError(.noCommonMedia).isFatal)
    }
}
