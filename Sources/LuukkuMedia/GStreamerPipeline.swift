/// The one `gst-launch-1.0` child of a session: capture and encode, decode and play out, all in one process so
/// that the self-view and the far picture share a window and the echo canceller (`webrtcdsp`) finds its probe
/// (`webrtcechoprobe`) on the playout path. It never sees a key: it exchanges plain RTP with the engine over
/// four pipes, framed by RFC 4571 (`rtpstreampay` / `rtpstreamdepay`), and the engine does SRTP.
///
/// | fd | direction | carries |
/// |---|---|---|
/// | 3 | engine → child | received video (VP8 RTP) |
/// | 4 | engine → child | received audio (Opus RTP) |
/// | 5 | child → engine | video to send |
/// | 6 | child → engine | audio to send |
///
/// stdout carries `-m`'s messages: one `videoanalyse` message per decoded frame, `spectrum` every 100 ms of
/// decoded sound (and `level` with ``MediaOptions/latencyProbe``), which the engine turns into its figures.
public struct GStreamerPipeline: Hashable, Sendable {
    public static let receivedVideoFD: Int32 = 3
    public static let receivedAudioFD: Int32 = 4
    public static let sentVideoFD: Int32 = 5
    public static let sentAudioFD: Int32 = 6
    /// `spectrum`: 48 bands of 500 Hz over 0-24 kHz, one message per 100 ms.
    public static let spectrumBands = 48
    public static let spectrumIntervalMilliseconds = 100
    /// Element names the engine reads messages from.
    public static let remoteVideoAnalyser = "remotevideo"
    public static let remoteSpectrum = "remoteaudio"
    public static let remoteLevel = "remotelevel"
    public static let localLevel = "locallevel"

    /// The codecs and payload types of the session, as `SessionStarted` names them.
    public struct Streams: Hashable, Sendable {
        public var sendVideoPayloadType: UInt8 = 96
        public var sendAudioPayloadType: UInt8 = 111
        public var receiveVideoPayloadType: UInt8 = 96
        public var receiveAudioPayloadType: UInt8 = 111
        public var videoSSRC: UInt32
        public var audioSSRC: UInt32

        public init(videoSSRC: UInt32, audioSSRC: UInt32) {
            self.videoSSRC = videoSSRC
            self.audioSSRC = audioSSRC
        }
    }

    public let options: MediaOptions
    public let streams: Streams

    public init(options: MediaOptions, streams: Streams) {
        self.options = options
        self.streams = streams
    }

    /// The argument list of `gst-launch-1.0` (after the program name).
    public var arguments: [String] {
        ["-m"] + videoSend + audioSend + videoReceive + audioReceive
    }

    private var width: Int { options.width }
    private var height: Int { options.height }

    private var videoSend: [String] {
        var source: [String]
        switch options.video {
        case .testPattern(let color):
            source = [
                "videotestsrc", "is-live=true", "pattern=solid-color",
                "foreground-color=0xFF" + hex(color, digits: 6),
            ]
        case .camera(let device):
            source = ["v4l2src", "device=\(device)", "!", "videoconvert", "!", "videoscale", "!", "videorate"]
        }
        source += [
            "!", "video/x-raw,width=\(width),height=\(height),framerate=\(options.framesPerSecond)/1", "!", "tee",
            "name=self",
        ]
        // One encoder thread: libvpx's threads wait for each other by spinning, and two encoders on two busy cores
        // (a terminal and a console on one machine, or a kiosk with little CPU) took 2.6 s of CPU for 4 s of
        // 320x240 instead of 0.25 s with one thread (docs/media.md).
        let encode = [
            "self.", "!", "queue", "max-size-buffers=3", "leaky=downstream", "!", "videoconvert", "!", "vp8enc",
            "deadline=1", "cpu-used=8", "threads=1", "lag-in-frames=0", "end-usage=cbr",
            "target-bitrate=\(options.videoBitrate)", "keyframe-max-dist=\(options.keyFrameDistance)",
            "error-resilient=default", "!", "rtpvp8pay", "pt=\(streams.sendVideoPayloadType)",
            "ssrc=\(streams.videoSSRC)", "mtu=1200", "picture-id-mode=15-bit", "!", "rtpstreampay", "!", "fdsink",
            "fd=\(Self.sentVideoFD)", "sync=false", "async=false",
        ]
        return source + encode
    }

    private var audioSend: [String] {
        var source: [String]
        switch options.audio {
        case .testTone(let hertz) where options.latencyProbe:
            // A 10 ms burst of the tone every second: its onset is found at both ends (docs/benchmarks.md).
            source = [
                "audiotestsrc", "is-live=true", "wave=ticks", "freq=\(hertz)", "sine-periods-per-tick=\(hertz / 100)",
                "tick-interval=1000000000", "samplesperbuffer=240",
            ]
        case .testTone(let hertz):
            source = [
                "audiotestsrc", "is-live=true", "wave=sine", "freq=\(hertz)", "volume=0.4", "samplesperbuffer=480",
            ]
        case .microphone:
            source = [options.pulseAudio ? "pulsesrc" : "alsasrc"]
        }
        source += ["!", "audioconvert", "!", "audioresample", "!", "audio/x-raw,format=S16LE,rate=48000,channels=1"]
        if options.echoCancellation {
            source += ["!", "webrtcdsp", "probe=echoprobe", "echo-cancel=true", "noise-suppression=true"]
        }
        if options.latencyProbe {
            source += ["!", "level", "name=\(Self.localLevel)", "interval=5000000", "post-messages=true"]
        }
        return source + [
            "!", "audioconvert", "!", "opusenc", "frame-size=20", "bitrate=\(options.audioBitrate)", "!", "rtpopuspay",
            "pt=\(streams.sendAudioPayloadType)", "ssrc=\(streams.audioSSRC)", "!", "rtpstreampay", "!", "fdsink",
            "fd=\(Self.sentAudioFD)", "sync=false", "async=false",
        ]
    }

    /// A received stream from its pipe to its jitter buffer: arrival times for the buffer, the RFC 4571 framing
    /// undone.
    private func received(fd: Int32, media: String, clockRate: Int, encoding: String, payloadType: UInt8)
        -> [String]
    {
        [
            "fdsrc", "fd=\(fd)", "do-timestamp=true", "!",
            "application/x-rtp-stream,media=\(media),clock-rate=\(clockRate),encoding-name=\(encoding),"
                + "payload=\(payloadType)",
            "!", "rtpstreamdepay", "!", "rtpjitterbuffer", "latency=\(options.jitterBufferMilliseconds)", "!",
        ]
    }

    private var videoReceive: [String] {
        let decode =
            received(
                fd: Self.receivedVideoFD, media: "video", clockRate: 90_000, encoding: "VP8",
                payloadType: streams.receiveVideoPayloadType)
            + [
                "rtpvp8depay", "wait-for-keyframe=true", "!", "vp8dec", "!", "videoconvert", "!", "videoanalyse",
                "name=\(Self.remoteVideoAnalyser)", "qos=false",
            ]
        switch options.videoOutput {
        case .headless:
            // No self-view: the tee's one branch is the encoder's.
            return decode + ["!", "fakevideosink", "sync=true", "qos=false", "max-lateness=-1", "async=false"]
        case .window, .kms:
            // The far side large, this side's own picture a quarter the size in the lower right corner. The
            // compositor is fed by the live self-view from the start, so autovideosink (no async property) prerolls.
            let small = (width: width / 4 / 2 * 2, height: height / 4 / 2 * 2)
            let sink: [String] =
                options.videoOutput == .kms
                ? ["kmssink", "sync=true", "async=false"] : ["autovideosink", "sync=true"]
            return [
                "compositor", "name=mix", "background=black", "sink_0::zorder=0",
                "sink_1::xpos=\(width - small.width - 12)", "sink_1::ypos=\(height - small.height - 12)",
                "sink_1::zorder=1", "!", "video/x-raw,width=\(width),height=\(height)", "!", "videoconvert", "!",
            ] + sink + decode + [
                "!", "videoscale", "!", "videoconvert", "!", "video/x-raw,width=\(width),height=\(height)", "!",
                "mix.sink_0", "self.", "!", "queue", "leaky=downstream", "max-size-buffers=2", "!", "videoscale", "!",
                "videoconvert", "!", "video/x-raw,width=\(small.width),height=\(small.height)", "!", "mix.sink_1",
            ]
        }
    }

    private var audioReceive: [String] {
        var chain =
            received(
                fd: Self.receivedAudioFD, media: "audio", clockRate: 48_000, encoding: "OPUS",
                payloadType: streams.receiveAudioPayloadType)
            + [
                "rtpopusdepay", "!", "opusdec", "plc=true", "!", "audioconvert", "!", "audioresample", "!",
                "audio/x-raw,format=S16LE,rate=48000,channels=1", "!", "spectrum", "name=\(Self.remoteSpectrum)",
                "bands=\(Self.spectrumBands)", "interval=\(Self.spectrumIntervalMilliseconds * 1_000_000)",
                "post-messages=true", "message-magnitude=true", "message-phase=false",
            ]
        if options.latencyProbe {
            chain += ["!", "level", "name=\(Self.remoteLevel)", "interval=5000000", "post-messages=true"]
        }
        if options.speaker {
            if options.echoCancellation { chain += ["!", "webrtcechoprobe", "name=echoprobe"] }
            // A named sink, not autoaudiosink: every sink of a branch that waits for the engine's data must be
            // async=false, or the pipeline never reaches PLAYING (the engine feeds it only from then on).
            chain += [
                "!", "audioconvert", "!", options.pulseAudio ? "pulsesink" : "alsasink", "sync=true",
                "async=false",
            ]
        } else {
            chain += ["!", "fakeaudiosink", "sync=true", "qos=false", "max-lateness=-1", "async=false"]
        }
        return chain
    }

    private func hex(_ value: UInt32, digits: Int) -> String {
        let text = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, digits - text.count)) + text
    }

    /// The frequency at the middle of a `spectrum` band, in Hz.
    public static func bandCentre(_ band: Int) -> Double {
        (Double(band) + 0.5) * 24_000 / Double(spectrumBands)
    }
}
