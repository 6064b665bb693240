import CRelayIO
import Foundation
import LuukkuCore
import LuukkuRelay

#if canImport(Glibc)
    import Glibc
#endif

/// The engine's thread: one poll loop over the UDP socket, the child's four media pipes and its stdout and
/// stderr. Everything here belongs to that thread.
///
/// Sending: RTP from the child's pipes is protected and sent to the relay. Until something has come back from
/// the relay (so both legs are latched and the relay will forward, docs/relay.md), video is held from the
/// latest key frame on and audio is dropped: what goes out first is always decodable. RTCP probes go out every
/// 50 ms meanwhile, then reports every second.
///
/// Receiving: a datagram from the relay is unprotected in place, told apart by payload type, counted, and
/// written to the child's video or audio pipe behind its RFC 4571 length (a pipe write of at most PIPE_BUF is
/// atomic: a frame is never split; a full pipe drops the packet and counts it).
final class MediaLoop {
    static let probeInterval: UInt64 = 50_000_000
    static let reportInterval: UInt64 = 1_000_000_000
    static let maximumPacket = 1_500
    static let maximumHeld = 2_000
    /// How long incoming media waits for the child's PLAYING message at most.
    static let playingPatience: UInt64 = 3_000_000_000

    let engine: MediaEngine
    var figures: MediaFigures
    let start = luukku_monotonic_ns()
    let cname = "luukku-\(UInt32.random(in: 1...UInt32.max))"

    var child: ChildProcess?
    var videoIn: Int32 = -1
    var audioIn: Int32 = -1
    var videoOut: Int32 = -1
    var audioOut: Int32 = -1
    var messages: Int32 = -1
    var errors: Int32 = -1
    let videoFrames = RTPStreamDeframer(maximumPacket: maximumPacket)
    let audioFrames = RTPStreamDeframer(maximumPacket: maximumPacket)
    var messageLines = LineSplitter()
    var errorLines = LineSplitter()
    var lastError: String?

    /// Received datagrams land 2 octets in, so the RFC 4571 length can be put in front in place.
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: 2 + maximumPacket + SRTPContext.trailerSpace, alignment: 16)
    let sendBuffer = UnsafeMutableRawBufferPointer.allocate(
        byteCount: maximumPacket + SRTPContext.trailerSpace, alignment: 16)

    var pathOpen = false
    var stopping = false
    var held: [[UInt8]] = []
    /// The child's pipeline is PLAYING. Until then what arrives is held (video from its latest key frame) or
    /// dropped (audio): data written to the child before it plays made its video branch decode nothing, now and
    /// then (1 run in 25 here), when its first buffers were timestamped before the clock ran.
    var childPlaying = false
    var heldIncoming: [[UInt8]] = []
    var nextRTCP: UInt64
    var nextSecond: UInt64

    // Sending.
    var framesSinceKeyFrame = 0
    var videoOctets: UInt32 = 0
    var audioOctets: UInt32 = 0
    var lastVideo: (timestamp: UInt32, at: UInt64)?
    var lastAudio: (timestamp: UInt32, at: UInt64)?
    /// Our recent sender reports (NTP middle 32 bits, when sent), for the round trip.
    var sentReports: [(ntpMiddle: UInt32, at: UInt64)] = []

    // Receiving.
    var videoStatistics = RTPReceiveStatistics()
    var audioStatistics = RTPReceiveStatistics()
    var videoSource: UInt32?
    var audioSource: UInt32?
    /// Per received source: the middle of its last SR's NTP time and when it arrived (for LSR and DLSR).
    var farReports: [UInt32: (ntpMiddle: UInt32, at: UInt64)] = [:]
    /// Expected and received at the previous report, per received source (for the fraction lost).
    var priorCounts: [UInt32: (expected: Int64, received: UInt64)] = [:]

    // Disturbances and recovery.
    var random: SplitMix
    var disturbed = false
    var recovery: (timestamp: UInt32, at: UInt64, awaitingKeyFrame: Bool, awaitingPicture: Bool)?

    // Ticks (latency probe).
    var localLoud = false
    var remoteLoud = false

    // The previous second's counters.
    var previous = MediaFigures()
    var previousAt: UInt64

    init(engine: MediaEngine) {
        self.engine = engine
        figures = engine.initial
        nextRTCP = start
        nextSecond = start + Self.reportInterval
        previousAt = start
        random = SplitMix(seed: engine.options.impairment.seed)
    }

    deinit {
        receiveBuffer.deallocate()
        sendBuffer.deallocate()
    }

    func run() -> MediaFigures {
        // A write to the pipe of a child that died raises SIGPIPE in the writing thread: blocked here, the write
        // fails with EPIPE instead of killing the client. (The child's own mask is reset at spawn.)
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        do {
            try spawnChild()
        } catch {
            figures.error = error.description
            return finish()
        }
        loop()
        endChild()
        return finish()
    }

    // MARK: The child

    private func spawnChild() throws(MediaError) {
        guard let program = MediaEngine.gstLaunch() else {
            throw MediaError("gst-launch-1.0 is not installed (Debian: gstreamer1.0-tools; make run installs it)")
        }
        let pipeline = GStreamerPipeline(options: engine.options, streams: engine.streams)
        var opened: [Int32] = []
        func pipe() throws(MediaError) -> (read: Int32, write: Int32) {
            let ends = try makePipe()
            opened += [ends.read, ends.write]
            return ends
        }
        do {
            let video = try pipe()
            let audio = try pipe()
            let sentVideo = try pipe()
            let sentAudio = try pipe()
            let stdout = try pipe()
            let stderr = try pipe()
            // A second of video or more fits in the pipes to the decoder (1 MiB where the kernel allows it).
            for fd in [video.write, audio.write] { _ = luukku_pipe_set_size(fd, 1 << 20) }
            child = try ChildProcess(
                executable: program, arguments: pipeline.arguments,
                descriptors: [
                    1: stdout.write, 2: stderr.write, GStreamerPipeline.receivedVideoFD: video.read,
                    GStreamerPipeline.receivedAudioFD: audio.read, GStreamerPipeline.sentVideoFD: sentVideo.write,
                    GStreamerPipeline.sentAudioFD: sentAudio.write,
                ])
            // The child's ends are the child's now.
            for fd in [video.read, audio.read, sentVideo.write, sentAudio.write, stdout.write, stderr.write] {
                _ = luukku_close(fd)
            }
            videoIn = video.write
            audioIn = audio.write
            videoOut = sentVideo.read
            audioOut = sentAudio.read
            messages = stdout.read
            errors = stderr.read
            for fd in [videoIn, audioIn, videoOut, audioOut, messages, errors] { setNonBlocking(fd) }
        } catch {
            for fd in opened { _ = luukku_close(fd) }
            throw error
        }
    }

    /// Ends the child: its inputs close (end of stream), SIGINT, up to two seconds for it to exit (its output
    /// is drained meanwhile, so it never blocks on a full pipe), then SIGKILL; reaped either way.
    private func endChild() {
        guard let child else { return }
        for fd in [videoIn, audioIn] where fd >= 0 { _ = luukku_close(fd) }
        videoIn = -1
        audioIn = -1
        child.signal(SIGINT)
        let deadline = luukku_monotonic_ns() + 2_000_000_000
        while messages >= 0 || errors >= 0, luukku_monotonic_ns() < deadline {
            var fds = [messages, errors, videoOut, audioOut].filter { $0 >= 0 }.map {
                pollfd(fd: $0, events: Int16(POLLIN), revents: 0)
            }
            _ = poll(&fds, nfds_t(fds.count), 100)
            drainDiscarding(&videoOut)
            drainDiscarding(&audioOut)
            readMessages(from: &messages, into: &messageLines)
            readMessages(from: &errors, into: &errorLines)
        }
        child.reap(within: 0)
        for fd in [videoOut, audioOut, messages, errors] where fd >= 0 { _ = luukku_close(fd) }
        videoOut = -1
        audioOut = -1
        messages = -1
        errors = -1
    }

    private func drainDiscarding(_ fd: inout Int32) {
        guard fd >= 0 else { return }
        while true {
            let count = read(fd, sendBuffer.baseAddress, sendBuffer.count)
            if count > 0 { continue }
            if count == 0 {
                _ = luukku_close(fd)
                fd = -1
            }
            return
        }
    }

    // MARK: The loop

    private func loop() {
        while true {
            let now = luukku_monotonic_ns()
            if let stopAt = engine.stopAt {
                if !stopping {
                    stopping = true
                    sendReports(now: now, bye: true)
                }
                if now >= stopAt { return }
            }
            // After BYE nothing more goes out (RFC 3550 section 6.6).
            if now >= nextRTCP, !stopping { sendReports(now: now, bye: false) }
            if !childPlaying, now >= start + Self.playingPatience {
                // No PLAYING message in time: feed anyway rather than hold media for the whole session.
                childStartedPlaying()
            }
            if now >= nextSecond { refresh(now: now) }
            var deadline = min(nextRTCP, nextSecond)
            if !childPlaying { deadline = min(deadline, start + Self.playingPatience) }
            if let stopAt = engine.stopAt { deadline = min(deadline, stopAt) }
            let timeout = deadline > now ? Int32(min(1_000, (deadline - now) / 1_000_000 + 1)) : 0
            let watched: [Int32] = [engine.socket, videoOut, audioOut, messages, errors, engine.wake.read]
            var fds = watched.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0, errno != EINTR {
                figures.error = "poll failed: \(String(cString: strerror(errno)))"
                return
            }
            let after = luukku_monotonic_ns()
            if fds[5].revents != 0 { drainWake() }
            if fds[0].revents != 0 { receiveDatagrams(now: after) }
            if fds[1].revents != 0 { readSent(video: true, now: after) }
            if fds[2].revents != 0 { readSent(video: false, now: after) }
            if fds[3].revents != 0 { readMessages(from: &messages, into: &messageLines) }
            if fds[4].revents != 0 { readMessages(from: &errors, into: &errorLines) }
            if messages < 0, errors < 0 {
                // The child closed its output: it has ended (or is ending; a hung driver must not hang us).
                child?.reap(within: 2)
                if !stopping {
                    figures.error =
                        lastError ?? "the media pipeline ended (\(child?.exitDescription ?? "not started"))"
                }
                return
            }
        }
    }

    private func drainWake() {
        var byte: UInt8 = 0
        while read(engine.wake.read, &byte, 1) > 0 {}
    }

    // MARK: Figures

    /// The once-a-second figures: rates over the last interval, RFC 3550 loss and jitter.
    private func refresh(now: UInt64) {
        nextSecond = now + Self.reportInterval
        let seconds = Double(now - previousAt) / 1e9
        if seconds > 0 {
            figures.videoFramesSentPerSecond = Double(figures.videoFramesSent - previous.videoFramesSent) / seconds
            figures.videoFramesDecodedPerSecond =
                Double(figures.videoFramesDecoded - previous.videoFramesDecoded) / seconds
            figures.audioPacketsSentPerSecond = Double(figures.audioPacketsSent - previous.audioPacketsSent) / seconds
            figures.audioPacketsReceivedPerSecond =
                Double(figures.audioPacketsReceived - previous.audioPacketsReceived) / seconds
        }
        updateQuality()
        previous = figures
        previousAt = now
        engine.publish(figures)
    }

    func updateQuality() {
        // The frames since the last key frame count too: with one key frame only, that run is the longest gap.
        figures.longestKeyFrameGap = max(figures.longestKeyFrameGap, framesSinceKeyFrame)
        func loss(_ statistics: RTPReceiveStatistics) -> Double {
            statistics.expected > 0 ? Double(max(0, statistics.lost)) * 100 / Double(statistics.expected) : 0
        }
        figures.videoLossPercent = loss(videoStatistics)
        figures.audioLossPercent = loss(audioStatistics)
        figures.videoJitterMilliseconds = Double(videoStatistics.jitter) / 90
        figures.audioJitterMilliseconds = Double(audioStatistics.jitter) / 48
    }

    private func finish() -> MediaFigures {
        updateQuality()
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        figures.cpuSecondsClient =
            Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
        figures.cpuSecondsChild = child?.cpuSeconds ?? 0
        figures.wallSeconds = Double(luukku_monotonic_ns() - start) / 1e9
        for fd in [videoIn, audioIn, videoOut, audioOut, messages, errors] where fd >= 0 { _ = luukku_close(fd) }
        return figures
    }

    /// Milliseconds since the session's media started.
    func milliseconds(since instant: UInt64, now: UInt64) -> Double { Double(now &- instant) / 1e6 }
}

/// Lines out of a byte stream (the child's stdout and stderr).
struct LineSplitter {
    private var pending: [UInt8] = []

    /// Adds bytes and returns the complete lines among them.
    mutating func add(_ bytes: UnsafeRawBufferPointer) -> [Substring] {
        var lines: [Substring] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                lines.append(Substring(String(decoding: pending, as: UTF8.self)))
                pending.removeAll(keepingCapacity: true)
            } else if pending.count < 65_536 {
                pending.append(byte)
            }
        }
        return lines
    }
}
