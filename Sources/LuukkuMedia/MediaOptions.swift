import Foundation
import LuukkuCore

/// What the user chose for a session's media: where pictures and sound come from, where they go, and the
/// encoder's settings. The engine turns it into one GStreamer pipeline (``GStreamerPipeline``).
public struct MediaOptions: Hashable, Sendable {
    public enum VideoSource: Hashable, Sendable {
        /// `videotestsrc` in one solid colour (0xRRGGBB): a receiver can tell whose picture it decodes.
        case testPattern(color: UInt32)
        /// A V4L2 camera, e.g. `/dev/video0`.
        case camera(device: String)
    }

    public enum AudioSource: Hashable, Sendable {
        /// `audiotestsrc`, a sine at this frequency: a receiver can tell whose sound it hears.
        case testTone(hertz: Int)
        /// The default capture device (PulseAudio when it runs, else ALSA).
        case microphone
    }

    public enum VideoOutput: Hashable, Sendable {
        /// A window (`autovideosink`: X11 or Wayland).
        case window
        /// The console's framebuffer (`kmssink`) where no display server runs.
        case kms
        /// No picture shown: decoded and measured only (tests, servers).
        case headless
    }

    public var video: VideoSource
    public var audio: AudioSource
    public var videoOutput: VideoOutput
    /// Sound to the speaker; false: decoded and measured only.
    public var speaker: Bool
    /// The microphone and the speaker through PulseAudio (`pulsesrc`, `pulsesink`), else ALSA.
    public var pulseAudio = false
    public var width = 640
    public var height = 360
    public var framesPerSecond = 30
    /// VP8 target bitrate, bits per second.
    public var videoBitrate = 800_000
    /// Opus bitrate, bits per second.
    public var audioBitrate = 32_000
    /// Frames between key frames (at most): a receiver that joins late or lost packets decodes again within
    /// this many frames. One second by default (docs/media.md, "Key frames").
    public var keyFrameInterval: Int?
    /// `rtpjitterbuffer` latency on each received stream.
    public var jitterBufferMilliseconds = 40
    /// Ticks instead of a steady tone, with `level` at both ends, for `make bench-media`'s latency.
    public var latencyProbe = false
    /// Disturbances to the received media, for tests and troubleshooting (`--impair`).
    public var impairment = MediaImpairment()
    /// The SRTP suites this client offers, in order of preference.
    public var suites: [SRTPSuite] = MediaOptions.allSuites

    /// Every suite the engine's libsrtp2 speaks, GCM first (the cheapest here).
    public static let allSuites: [SRTPSuite] = [
        .aeadAES128GCM, .aesCM128HMACSHA1_80, .aeadAES256GCM, .aesCM128HMACSHA1_32,
    ]

    public init(video: VideoSource, audio: AudioSource, videoOutput: VideoOutput, speaker: Bool) {
        self.video = video
        self.audio = audio
        self.videoOutput = videoOutput
        self.speaker = speaker
    }

    /// Frames between key frames: ``keyFrameInterval``, else one second's worth.
    public var keyFrameDistance: Int { max(1, keyFrameInterval ?? framesPerSecond) }

    /// Echo cancellation (`webrtcdsp` with `webrtcechoprobe`) is on when a live microphone sits next to a live
    /// speaker, as at a kiosk.
    public var echoCancellation: Bool { audio == .microphone && speaker }

    /// The codecs the engine sends and receives: VP8 and Opus with their usual payload types.
    public static let codecs: [MediaCodec] = [.vp8(), .opus()]
}

/// Disturbances applied to the media a client receives, between SRTP and the decoder, as a network would
/// cause them: for the tests of key-frame recovery and for showing what an operator would see. Seeded, so a
/// run can be repeated.
public struct MediaImpairment: Hashable, Sendable {
    /// Discard everything received for this long from the session's start (a receiver that joins late).
    public var lateStart: Duration?
    /// Drop this fraction (0...1) of received RTP packets from `lossStart` for `lossDuration`.
    public var lossFraction: Double = 0
    public var lossStart: Duration = .zero
    public var lossDuration: Duration = .zero
    public var seed: UInt64 = 0x5EED

    public init() {}

    public var isEmpty: Bool { lateStart == nil && (lossFraction <= 0 || lossDuration <= .zero) }

    /// Reads `late=3s` or `loss=5%,at=3s,for=2s` (parts joined with `,`; seconds may have decimals).
    public init(parsing text: String) throws(MediaError) {
        self.init()
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { String($0) }
            guard pair.count == 2 else { throw MediaError("--impair: '\(part)' is not KEY=VALUE") }
            switch pair[0] {
            case "late": lateStart = try Self.seconds(pair[1])
            case "loss":
                guard pair[1].hasSuffix("%"), let percent = Double(pair[1].dropLast()), (0...100).contains(percent)
                else { throw MediaError("--impair: loss must be a percentage, e.g. loss=5%") }
                lossFraction = percent / 100
            case "at": lossStart = try Self.seconds(pair[1])
            case "for": lossDuration = try Self.seconds(pair[1])
            case "seed":
                guard let seed = UInt64(pair[1]) else { throw MediaError("--impair: seed must be a number") }
                self.seed = seed
            default: throw MediaError("--impair: unknown key '\(pair[0])' (late, loss, at, for, seed)")
            }
        }
        if lossFraction > 0, lossDuration <= .zero { throw MediaError("--impair: loss needs for=SECONDS") }
    }

    private static func seconds(_ text: String) throws(MediaError) -> Duration {
        guard text.hasSuffix("s"), let value = Double(text.dropLast()), value >= 0, value <= 3_600 else {
            throw MediaError("--impair: '\(text)' is not a time in seconds, e.g. 3s or 0.5s")
        }
        return .milliseconds(Int64(value * 1_000))
    }
}

/// The media could not start or went wrong. The text is safe to print: no key ever goes into it.
public struct MediaError: Error, Hashable, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
