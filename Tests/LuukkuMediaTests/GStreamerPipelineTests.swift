import ArgumentParser
import Foundation
import LuukkuCore
import Testing

@testable import LuukkuMedia

/// The child's command line for each choice of sources and sinks, and the defaults the clients choose from
/// what the machine has.
@Suite struct GStreamerPipelineTests {
    static func pipeline(_ options: MediaOptions) -> [String] {
        var streams = GStreamerPipeline.Streams(videoSSRC: 1_111, audioSSRC: 2_222)
        streams.sendVideoPayloadType = 100
        streams.receiveAudioPayloadType = 110
        return GStreamerPipeline(options: options, streams: streams).arguments
    }

    static func text(_ options: MediaOptions) -> String { pipeline(options).joined(separator: " ") }

    @Test func aHeadlessTestPatternPipelineCarriesTheNegotiatedTypesAndNoKey() {
        var options = MediaOptions(
            video: .testPattern(color: 0x00C000), audio: .testTone(hertz: 750), videoOutput: .headless, speaker: false)
        options.width = 320
        options.height = 240
        let text = Self.text(options)
        #expect(text.hasPrefix("-m videotestsrc is-live=true pattern=solid-color foreground-color=0xFF00C000 !"))
        #expect(text.contains("video/x-raw,width=320,height=240,framerate=30/1"))
        #expect(text.contains("vp8enc deadline=1 cpu-used=8 threads=1"))
        #expect(text.contains("keyframe-max-dist=30"))
        #expect(text.contains("rtpvp8pay pt=100 ssrc=1111 mtu=1200"))
        #expect(text.contains("rtpopuspay pt=111 ssrc=2222"))
        #expect(text.contains("fdsink fd=5") && text.contains("fdsink fd=6"))
        #expect(text.contains("fdsrc fd=3 do-timestamp=true") && text.contains("fdsrc fd=4 do-timestamp=true"))
        #expect(text.contains("encoding-name=VP8,payload=96") && text.contains("encoding-name=OPUS,payload=110"))
        #expect(text.contains("rtpvp8depay wait-for-keyframe=true"))
        #expect(text.contains("videoanalyse name=remotevideo") && text.contains("spectrum name=remoteaudio bands=48"))
        #expect(text.contains("fakevideosink") && text.contains("fakeaudiosink"))
        #expect(!text.contains("compositor") && !text.contains("autoaudiosink") && !text.contains("webrtcdsp"))
        #expect(!text.contains("srtp") && !text.contains("key=") && !text.contains("crypto"))
    }

    @Test func aKioskShowsTheFarSideLargeItsOwnPictureSmallAndCancelsEcho() {
        var options = MediaOptions(
            video: .camera(device: "/dev/video0"), audio: .microphone, videoOutput: .window, speaker: true)
        options.keyFrameInterval = 15
        let text = Self.text(options)
        #expect(text.contains("v4l2src device=/dev/video0 ! videoconvert ! videoscale ! videorate"))
        #expect(text.contains("keyframe-max-dist=15"))
        // The compositor: the far side full size, this side a quarter in the lower right.
        #expect(
            text.contains("compositor name=mix background=black sink_0::zorder=0 sink_1::xpos=468 sink_1::ypos=258"))
        #expect(text.contains("video/x-raw,width=160,height=90 ! mix.sink_1"))
        #expect(text.contains("autovideosink sync=true"))
        // The microphone next to the speaker: webrtcdsp on capture, its probe on playout.
        #expect(text.contains("webrtcdsp probe=echoprobe echo-cancel=true"))
        #expect(text.contains("webrtcechoprobe name=echoprobe ! audioconvert ! alsasink sync=true async=false"))
        #expect(text.contains("alsasrc ! audioconvert"))
        options.pulseAudio = true
        #expect(Self.text(options).contains("pulsesrc ! audioconvert"))
        #expect(Self.text(options).contains("! pulsesink sync=true async=false"))
        #expect(options.echoCancellation)
        options.videoOutput = .kms
        #expect(Self.text(options).contains("kmssink sync=true"))
        // A microphone without a speaker (headless) needs no echo canceller.
        options.speaker = false
        #expect(!options.echoCancellation && !Self.text(options).contains("webrtcdsp"))
    }

    @Test func theLatencyProbeSendsTicksAndMeasuresBothEnds() {
        var options = MediaOptions(
            video: .testPattern(color: 0xFF), audio: .testTone(hertz: 1_750), videoOutput: .headless, speaker: false)
        options.latencyProbe = true
        let text = Self.text(options)
        #expect(text.contains("audiotestsrc is-live=true wave=ticks freq=1750 sine-periods-per-tick=17"))
        #expect(text.contains("level name=locallevel") && text.contains("level name=remotelevel"))
    }

    @Test func theClientsDefaultsFollowTheMachine() throws {
        let bare = MediaDevices(
            cameras: [], hasPulseAudio: false, hasALSAPlayback: false, hasALSACapture: false, hasDisplay: false,
            hasDRM: false)
        let arguments = try MediaArguments.parse([])
        let server = arguments.options(defaultColor: 0x00C000, defaultTone: 750, devices: bare)
        #expect(server.options.video == .testPattern(color: 0x00C000) && server.options.audio == .testTone(hertz: 750))
        #expect(server.options.videoOutput == .headless && !server.options.speaker)
        #expect(
            server.notes == [
                "no camera: sending the test pattern", "no display: pictures are decoded but not shown",
                "no sound device: sound is decoded but not played",
            ])
        let kiosk = MediaDevices(
            cameras: ["/dev/video0"], hasPulseAudio: true, hasALSAPlayback: true, hasALSACapture: true,
            hasDisplay: true, hasDRM: true)
        let chosen = arguments.options(defaultColor: 0x00C000, defaultTone: 750, devices: kiosk).options
        #expect(chosen.video == .camera(device: "/dev/video0") && chosen.audio == .microphone)
        #expect(chosen.videoOutput == .window && chosen.speaker && chosen.echoCancellation)
        // --test-pattern and --headless win over the devices; --pattern-color and --tone over the role's.
        let forced = try MediaArguments.parse([
            "--test-pattern", "--headless", "--pattern-color", "FF0000", "--tone", "900",
        ])
        let test = forced.options(defaultColor: 0x00C000, defaultTone: 750, devices: kiosk).options
        #expect(test.video == .testPattern(color: 0xFF0000) && test.audio == .testTone(hertz: 900))
        #expect(test.videoOutput == .headless && !test.speaker)
        // A framebuffer without a display server: kmssink.
        var console = kiosk
        console.hasDisplay = false
        #expect(arguments.options(defaultColor: 0, defaultTone: 750, devices: console).options.videoOutput == .kms)
    }

    @Test func badMediaArgumentsAreRefusedWithTheirFlag() {
        for (arguments, problem) in [
            (["--video-size", "640"], "--video-size must be WIDTHxHEIGHT"),
            (["--srtp-suites", "AES_GCM"], "--srtp-suites: unknown suite 'AES_GCM'"),
            (["--pattern-color", "green"], "--pattern-color must be six hex digits"),
            (["--camera", "/dev/video0", "--test-pattern"], "--camera and --test-pattern exclude each other"),
            (["--impair", "late=3"], "--impair: '3' is not a time in seconds"),
            (["--fps", "0"], "--fps must be 1 to 60"),
        ] {
            do {
                _ = try MediaArguments.parse(arguments)
                Issue.record("accepted \(arguments)")
            } catch {
                #expect(MediaArguments.message(for: error).contains(problem), "\(arguments): \(error)")
            }
        }
        #expect(
            (try? MediaArguments.parse(["--srtp-suites", "AES_CM_128_HMAC_SHA1_80,AEAD_AES_128_GCM"]))?.capabilities()
                .suites == [.aesCM128HMACSHA1_80, .aeadAES128GCM])
    }

    @Test func theMachinesDevicesAreReadFromTheFileSystem() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("devices-\(UUID().uuidString)")
        for directory in ["dev/snd", "dev/dri", "run/pulse"] {
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        for file in ["dev/video0", "dev/video2", "dev/videoX", "dev/snd/pcmC0D0p", "dev/dri/card0", "run/pulse/native"]
        {
            _ = FileManager.default.createFile(atPath: root.appendingPathComponent(file).path, contents: nil)
        }
        let devices = MediaDevices.read(environment: ["XDG_RUNTIME_DIR": "/run", "DISPLAY": ":0"], root: root.path)
        #expect(devices.cameras == ["/dev/video0", "/dev/video2"])
        #expect(devices.hasPulseAudio && devices.hasALSAPlayback && !devices.hasALSACapture)
        #expect(devices.hasDisplay && devices.hasDRM && devices.defaultVideoOutput == .window)
        let none = MediaDevices.read(environment: ["XDG_RUNTIME_DIR": "/nowhere"], root: root.path + "/none")
        #expect(none.cameras.isEmpty && !none.hasSpeaker && !none.hasMicrophone && none.defaultVideoOutput == .headless)
    }
}
