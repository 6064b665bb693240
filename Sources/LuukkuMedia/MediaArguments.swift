import ArgumentParser
import Foundation
import LuukkuCore

/// How a client carries a session's media (`--media`).
public enum MediaMode: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Pictures and sound through the GStreamer child (the default).
    case real
    /// The synthetic 50 packets/s stream of `TestMedia`, for scripts and signaling tests.
    case testStream = "test-stream"
}

/// The media options `luukku-terminal request` and `luukku-console` share (docs/media.md).
public struct MediaArguments: ParsableArguments, Sendable {
    @Option(help: "real (camera or test pattern, through GStreamer) or test-stream (synthetic packets, for scripts).")
    public var media: MediaMode = .real

    @Option(
        help: ArgumentHelp("Capture from this V4L2 camera (default: /dev/video0 when it exists).", valueName: "device"))
    public var camera: String?

    @Flag(help: "Capture sound from the microphone (PulseAudio, else ALSA; default with a camera, when one exists).")
    public var microphone = false

    @Flag(help: "Send a test pattern and tone instead of camera and microphone (the default where no camera exists).")
    public var testPattern = false

    @Option(help: ArgumentHelp("The test pattern's colour as RRGGBB.", valueName: "rrggbb"))
    public var patternColor: String?

    @Option(help: ArgumentHelp("The test tone's frequency in Hz.", valueName: "hz"))
    public var tone: Int?

    @Flag(help: "No window and no speaker: decode and measure only (tests, servers; the default with no display).")
    public var headless = false

    @Option(help: ArgumentHelp("Picture size to send.", valueName: "WxH"))
    public var videoSize = "640x360"

    @Option(help: "Frames per second to send.")
    public var fps = 30

    @Option(help: ArgumentHelp("Receive jitter buffer in milliseconds.", valueName: "ms"))
    public var jitterBuffer = 40

    @Option(
        help: ArgumentHelp(
            "SRTP suites to offer, in order of preference (default: all, AEAD_AES_128_GCM first).",
            valueName: "suite,..."))
    public var srtpSuites: String?

    @Option(help: ArgumentHelp("Write the session's media figures as JSON to this file at its end.", valueName: "file"))
    public var mediaReport: String?

    @Option(help: .hidden)
    public var impair: String?

    @Flag(help: .hidden)
    public var latencyProbe = false

    public init() {}

    public func validate() throws {
        guard videoDimensions != nil else { throw ValidationError("--video-size must be WIDTHxHEIGHT, e.g. 640x360") }
        guard (1...60).contains(fps) else { throw ValidationError("--fps must be 1 to 60") }
        guard (0...1_000).contains(jitterBuffer) else { throw ValidationError("--jitter-buffer must be 0 to 1000 ms") }
        if let tone, !(100...10_000).contains(tone) { throw ValidationError("--tone must be 100 to 10000 Hz") }
        if let patternColor, Self.color(patternColor) == nil {
            throw ValidationError("--pattern-color must be six hex digits RRGGBB, e.g. 00C000")
        }
        if camera != nil, testPattern { throw ValidationError("--camera and --test-pattern exclude each other") }
        if let camera, !FileManager.default.fileExists(atPath: camera) {
            throw ValidationError("--camera \(camera): no such device")
        }
        _ = try suites()
        if let impair { _ = try MediaImpairment(parsing: impair) }
    }

    /// The suites `--srtp-suites` names, in its order.
    public func suites() throws(ValidationError) -> [SRTPSuite] {
        guard let srtpSuites else { return MediaOptions.allSuites }
        var chosen: [SRTPSuite] = []
        for name in srtpSuites.split(separator: ",") {
            guard let suite = SRTPSuite(rawValue: String(name)) else {
                throw ValidationError(
                    "--srtp-suites: unknown suite '\(name)' (known: "
                        + SRTPSuite.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            chosen.append(suite)
        }
        guard !chosen.isEmpty else { throw ValidationError("--srtp-suites names no suite") }
        return chosen
    }

    var videoDimensions: (width: Int, height: Int)? {
        let parts = videoSize.lowercased().split(separator: "x").compactMap { Int($0) }
        guard parts.count == 2, (16...3_840).contains(parts[0]), (16...2_160).contains(parts[1]), parts[0] % 2 == 0,
            parts[1] % 2 == 0
        else { return nil }
        return (parts[0], parts[1])
    }

    static func color(_ text: String) -> UInt32? {
        let digits = text.hasPrefix("#") ? String(text.dropFirst()) : text
        guard digits.count == 6 else { return nil }
        return UInt32(digits, radix: 16)
    }

    /// The options for a session, with this role's test colour and tone where none was given, and what was
    /// chosen for the user (`notes`, e.g. "no camera: sending the test pattern").
    public func options(defaultColor: UInt32, defaultTone: Int, devices: MediaDevices = .current) -> (
        options: MediaOptions, notes: [String]
    ) {
        var notes: [String] = []
        let video: MediaOptions.VideoSource
        if let camera {
            video = .camera(device: camera)
        } else if testPattern {
            video = .testPattern(color: patternColor.flatMap(Self.color) ?? defaultColor)
        } else if let first = devices.cameras.first {
            video = .camera(device: first)
            notes.append("camera \(first)")
        } else {
            video = .testPattern(color: patternColor.flatMap(Self.color) ?? defaultColor)
            notes.append("no camera: sending the test pattern")
        }
        // The microphone when asked for, or by default beside a camera when there is something to capture from.
        var usesCamera = false
        if case .camera = video { usesCamera = true }
        let audio: MediaOptions.AudioSource =
            microphone || (usesCamera && devices.hasMicrophone) ? .microphone : .testTone(hertz: tone ?? defaultTone)
        var output = headless ? .headless : devices.defaultVideoOutput
        var speaker = !headless && devices.hasSpeaker
        if !headless {
            if output == .headless { notes.append("no display: pictures are decoded but not shown") }
            if !speaker { notes.append("no sound device: sound is decoded but not played") }
        }
        if latencyProbe {
            output = .headless
            speaker = false
        }
        var options = MediaOptions(video: video, audio: audio, videoOutput: output, speaker: speaker)
        options.pulseAudio = devices.hasPulseAudio
        if let size = videoDimensions {
            options.width = size.width
            options.height = size.height
        }
        options.framesPerSecond = fps
        options.jitterBufferMilliseconds = jitterBuffer
        options.latencyProbe = latencyProbe
        options.suites = (try? suites()) ?? MediaOptions.allSuites
        if let impair, let impairment = try? MediaImpairment(parsing: impair) { options.impairment = impairment }
        return (options, notes)
    }

    /// What to tell the server in Hello: the engine's codecs and the offered suites (the test stream carries
    /// no codec but rides on the same negotiation). `forSDP`: only the suites ffmpeg's SDP reader takes (AES-CM).
    public func capabilities(forSDP: Bool = false) -> MediaCapabilities {
        var offered = (try? suites()) ?? MediaOptions.allSuites
        if forSDP { offered = offered.filter(\.isSDPSuite) }
        if offered.isEmpty { offered = [.aesCM128HMACSHA1_80] }
        return MediaCapabilities(send: MediaOptions.codecs, receive: MediaOptions.codecs, suites: offered)
    }
}
