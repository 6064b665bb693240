import Foundation
import LuukkuCore
import LuukkuMedia
import LuukkuProtocol
import LuukkuRelay
import Testing

/// Two media engines, each with its real gst-launch-1.0 child, through the real relay in this process: what
/// each decodes is the other's test colour and tone. No daemon: the SessionStarted frames are made here from
/// the relay's legs, as the broker makes them.
@Suite(.serialized, .timeLimit(.minutes(2))) struct MediaEngineTests {
    static let green: UInt32 = 0x00C000
    static let blue: UInt32 = 0x0000FF
    /// videoanalyse's average luma of those colours after VP8 (BT.601 studio range).
    static let greenLuma = 0.44
    static let blueLuma = 0.16

    /// The SessionStarted of one leg: the party protects with the leg's inbound key and reads with its outbound.
    static func started(port: UInt16, keys: LegKeys, suite: SRTPSuite) -> Luukku_V1_SessionStarted {
        .with {
            $0.sessionID = "s-1"
            $0.relayHost = "127.0.0.1"
            $0.relayPort = UInt32(port)
            $0.suite = suite.wire
            $0.outboundKey = .with { $0.keyAndSalt = Data(keys.inbound.keyAndSalt) }
            $0.inboundKey = .with { $0.keyAndSalt = Data(keys.outbound.keyAndSalt) }
            $0.sendCodecs = [MediaCodec.vp8().wire, MediaCodec.opus().wire]
            $0.receiveCodecs = [MediaCodec.vp8().wire, MediaCodec.opus().wire]
        }
    }

    static func options(color: UInt32, hertz: Int) -> MediaOptions {
        var options = MediaOptions(
            video: .testPattern(color: color), audio: .testTone(hertz: hertz), videoOutput: .headless, speaker: false)
        options.width = 320
        options.height = 240
        return options
    }

    @Test func eachSideDecodesTheOthersColourAndToneThroughTheRelay() async throws {
        let relay = try Relay(
            configuration: RelayConfiguration(bindAddress: "127.0.0.1", ports: 31_000...31_099, workers: 1))
        defer { relay.stop() }
        let keysA = LegKeys.random(suite: .aeadAES128GCM)
        let keysB = LegKeys.random(suite: .aesCM128HMACSHA1_80)
        let ports = try relay.open(session: 1, a: keysA, b: keysB)
        let terminal = try MediaEngine(
            Self.started(port: ports.a, keys: keysA, suite: .aeadAES128GCM),
            options: Self.options(color: Self.green, hertz: 750))
        let expert = try MediaEngine(
            Self.started(port: ports.b, keys: keysB, suite: .aesCM128HMACSHA1_80),
            options: Self.options(color: Self.blue, hertz: 1_750))
        async let terminalRun = terminal.start()
        async let expertRun = expert.start()
        // Runs before the engines are awaited at the end of the scope, however it is left.
        defer {
            terminal.stop()
            expert.stop()
        }
        // The session's length: until each side has decoded four seconds of pictures (120 frames), however long
        // the children take to start (a cold GStreamer registry on a fresh machine took 3.5 s), at most 60 s.
        // The figures are read every 100 ms.
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while terminal.figures.videoFramesDecoded < 120 || expert.figures.videoFramesDecoded < 120,
            terminal.figures.error == nil, expert.figures.error == nil
        {
            guard ContinuousClock.now < deadline else {
                Issue.record("60 s without 120 decoded frames on each side")
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        terminal.stop()
        expert.stop()
        let (t, e) = await (terminalRun, expertRun)
        print(
            "terminal: \(t.summary); \(t.line); first picture \(t.firstPictureMilliseconds ?? -1) ms, cpu child \(t.cpuSecondsChild) client \(t.cpuSecondsClient) wall \(t.wallSeconds)\nexpert: \(e.summary); \(e.line)"
        )
        #expect(t.error == nil)
        #expect(e.error == nil)
        #expect(t.authenticationFailures == 0 && e.authenticationFailures == 0)
        #expect(t.videoFramesDecoded > 0 && e.videoFramesDecoded > 0)
        #expect(Double(t.framesDecoded(nearLuma: Self.blueLuma)) >= 0.95 * Double(e.videoFramesSent))
        #expect(Double(e.framesDecoded(nearLuma: Self.greenLuma)) >= 0.95 * Double(t.videoFramesSent))
        #expect(t.dominantToneHertz == 1_750)
        #expect(e.dominantToneHertz == 750)
    }
}
