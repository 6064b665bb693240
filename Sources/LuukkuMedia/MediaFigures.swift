import Foundation

/// What a session's media did, from the engine (packets, frames, SRTP) and from RTCP (what the far side
/// reports, the round trip): refreshed once a second while the session runs, and final at its end. Codable, so
/// a client can write it as JSON (`--media-report FILE`) for tests and `make bench-media`.
public struct MediaFigures: Hashable, Sendable, Codable {
    /// This leg's SRTP suite and the codecs each way, as SessionStarted named them.
    public var suite = ""
    public var sending: [String] = []
    public var receiving: [String] = []

    // Sent: what went onto the wire (a frame the engine held back before the path opened, and dropped, is not
    // counted).
    public var videoPacketsSent = 0
    public var videoFramesSent = 0
    public var videoKeyFramesSent = 0
    /// The longest run of frames sent from a key frame to the next one (or to the end).
    public var longestKeyFrameGap = 0
    public var audioPacketsSent = 0

    // Received: authenticated packets, then what the decoder made of them.
    public var videoPacketsReceived = 0
    public var audioPacketsReceived = 0
    /// Frames `videoanalyse` saw after `vp8dec`.
    public var videoFramesDecoded = 0
    /// Decoded frames by average luma, in 20 bins of 0.05 (a solid test colour fills one bin).
    public var lumaHistogram = [Int](repeating: 0, count: 20)
    public var lastLuma: Double?
    /// 100 ms spectra of the decoded sound: how many, how many silent (no band above -50 dB), and the loudest
    /// band of the others (48 bands of 500 Hz).
    public var audioIntervals = 0
    public var silentAudioIntervals = 0
    public var toneHistogram = [Int](repeating: 0, count: 48)

    // Last second's rates.
    public var videoFramesSentPerSecond = 0.0
    public var videoFramesDecodedPerSecond = 0.0
    public var audioPacketsSentPerSecond = 0.0
    public var audioPacketsReceivedPerSecond = 0.0

    // Quality: this side's RFC 3550 figures for what it receives, the far side's for what it sent (its RTCP
    // receiver reports), and the round trip from those reports (RFC 3550 section 6.4.1).
    public var videoLossPercent = 0.0
    public var audioLossPercent = 0.0
    public var videoJitterMilliseconds = 0.0
    public var audioJitterMilliseconds = 0.0
    public var farLossPercent: Double?
    public var roundTripMilliseconds: Double?

    // Drops.
    public var authenticationFailures = 0
    public var unknownPayloadType = 0
    /// Packets the decoder's pipe had no room for.
    public var pipeOverflows = 0
    /// Packets discarded by `--impair`.
    public var impaired = 0

    /// Milliseconds from the session's start to the first and to the last decoded frame.
    public var firstPictureMilliseconds: Double?
    public var lastPictureMilliseconds: Double?

    /// Frames decoded per second between the first and the last decoded frame (startup and hang-up left out).
    public var decodedFramesPerSecond: Double? {
        guard let first = firstPictureMilliseconds, let last = lastPictureMilliseconds, last > first,
            videoFramesDecoded > 1
        else { return nil }
        return Double(videoFramesDecoded - 1) * 1_000 / (last - first)
    }
    /// For each disturbance (`--impair`): the media time, from the RTP timestamps, between the first video
    /// packet after it and the first key frame after it (the picture is back at that key frame), and the wall
    /// time from its end to the next decoded frame.
    public var recoveryMediaMilliseconds: [Double] = []
    public var recoveryWallMilliseconds: [Double] = []

    /// With the latency probe: CLOCK_MONOTONIC nanoseconds of each tick's onset at this side's source and at
    /// its playout of the far side's ticks.
    public var ticksSent: [UInt64] = []
    public var ticksPlayed: [UInt64] = []

    /// CPU seconds of the client process and of its GStreamer child, and the media's wall seconds.
    public var cpuSecondsClient = 0.0
    public var cpuSecondsChild = 0.0
    public var wallSeconds = 0.0

    /// Why the media stopped early, if it did (a busy camera, a pipeline that could not start).
    public var error: String?

    public init() {}

    /// The most frequent luma bin's middle, when frames were decoded.
    public var dominantLuma: Double? {
        guard let best = lumaHistogram.indices.max(by: { lumaHistogram[$0] < lumaHistogram[$1] }),
            lumaHistogram[best] > 0
        else { return nil }
        return (Double(best) + 0.5) * 0.05
    }

    /// The most frequent loudest band's middle frequency, when sound was heard.
    public var dominantToneHertz: Double? {
        guard let best = toneHistogram.indices.max(by: { toneHistogram[$0] < toneHistogram[$1] }),
            toneHistogram[best] > 0
        else { return nil }
        return GStreamerPipeline.bandCentre(best)
    }

    /// Decoded frames whose luma is within `tolerance` of `luma`.
    public func framesDecoded(nearLuma luma: Double, tolerance: Double = 0.05) -> Int {
        lumaHistogram.indices.filter { abs((Double($0) + 0.5) * 0.05 - luma) <= tolerance }.reduce(0) {
            $0 + lumaHistogram[$1]
        }
    }

    /// 100 ms intervals whose loudest band holds `hertz`.
    public func audioIntervals(atHertz hertz: Double) -> Int {
        let band = Int(hertz * Double(GStreamerPipeline.spectrumBands) / 24_000)
        return band < toneHistogram.count ? toneHistogram[band] : 0
    }

    /// The once-a-second line: `video in 30.0 fps (luma 0.16) out 30.0 fps · audio in 50/s (1750 Hz) out 50/s
    /// · loss 0.0 % · jitter 1.2 ms · rtt 0.4 ms`.
    public var line: String {
        var parts: [String] = []
        var video = "video in \(Self.format(videoFramesDecodedPerSecond)) fps"
        if let luma = lastLuma { video += " (luma \(String(format: "%.2f", luma)))" }
        video += " out \(Self.format(videoFramesSentPerSecond)) fps"
        parts.append(video)
        var audio = "audio in \(Int(audioPacketsReceivedPerSecond.rounded()))/s"
        if let tone = dominantToneHertz { audio += " (\(Int(tone)) Hz)" }
        audio += " out \(Int(audioPacketsSentPerSecond.rounded()))/s"
        parts.append(audio)
        parts.append("loss \(Self.format(max(videoLossPercent, audioLossPercent))) %")
        parts.append("jitter \(Self.format(max(videoJitterMilliseconds, audioJitterMilliseconds))) ms")
        parts.append("rtt " + (roundTripMilliseconds.map { "\(Self.format($0)) ms" } ?? "-"))
        if authenticationFailures > 0 { parts.append("\(authenticationFailures) SRTP failures") }
        return parts.joined(separator: " · ")
    }

    /// The end-of-session summary.
    public var summary: String {
        "media: video sent \(videoFramesSent) frames (\(videoKeyFramesSent) key frames) in \(videoPacketsSent) "
            + "packets, received \(videoPacketsReceived) packets, decoded \(videoFramesDecoded) frames"
            + (dominantLuma.map { " (luma \(String(format: "%.2f", $0)))" } ?? "")
            + "; audio sent \(audioPacketsSent) packets, received \(audioPacketsReceived)"
            + (dominantToneHertz.map { " (\(Int($0)) Hz)" } ?? "")
            + "; loss \(Self.format(max(videoLossPercent, audioLossPercent))) %, "
            + "SRTP failures \(authenticationFailures); suite \(suite)"
    }

    static func format(_ value: Double) -> String { String(format: "%.1f", value) }
}
