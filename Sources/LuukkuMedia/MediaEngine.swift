import CRelayIO
import Foundation
import LuukkuCore
import LuukkuProtocol
import LuukkuRelay
import NIOConcurrencyHelpers

/// A client's media for one session (docs/media.md): the one UDP socket to the relay and the SRTP contexts
/// stay in this process; one `gst-launch-1.0` child (``GStreamerPipeline``) captures and encodes, decodes and
/// plays out, and exchanges plain RTP with the engine over pipes. Keys never leave the process: not in an
/// argument, a file, the environment or a log.
///
/// ``run()`` blocks its thread (``start()`` gives it one) until ``stop(linger:)``, the child's end or an error;
/// ``figures`` can be read from any thread meanwhile.
public final class MediaEngine: @unchecked Sendable {
    // @unchecked Sendable is safe: the stored `let`s are set in init and never change (the SRTP contexts and
    // the socket are used only by the thread in `run`); other threads touch only `shared` (a lock) and write to
    // the wake pipe.
    let options: MediaOptions
    let relayAddress: UInt32
    let relayPort: UInt16
    let suite: SRTPSuite
    let sender: SRTPContext
    let receiver: SRTPContext
    let socket: Int32
    let streams: GStreamerPipeline.Streams
    let wake: (read: Int32, write: Int32)
    private let shared: NIOLockedValueBox<Shared>
    let initial: MediaFigures

    struct Shared {
        var figures: MediaFigures
        var stopAt: UInt64?
        var running = false
    }

    /// Opens the socket and the SRTP contexts for `started` (this party's leg).
    /// - Throws: ``MediaError`` for a relay host that is not IPv4, a suite or codec the engine does not speak,
    ///   keys of the wrong length, or no socket.
    public init(_ started: Luukku_V1_SessionStarted, options: MediaOptions) throws(MediaError) {
        let address = try started.relayAddress()
        // A server from before media negotiation names no suite and no codecs: AES-CM and the usual types.
        let (suite, sender, receiver) = try started.srtpContexts()
        var streams = GStreamerPipeline.Streams(
            videoSSRC: UInt32.random(in: 1...UInt32.max - 1), audioSSRC: UInt32.random(in: 1...UInt32.max - 1))
        for codec in started.sendCodecList {
            try Self.check(codec)
            if codec.kind == .video { streams.sendVideoPayloadType = codec.payloadType ?? 96 }
            if codec.kind == .audio { streams.sendAudioPayloadType = codec.payloadType ?? 111 }
        }
        for codec in started.receiveCodecList {
            try Self.check(codec)
            if codec.kind == .video { streams.receiveVideoPayloadType = codec.payloadType ?? 96 }
            if codec.kind == .audio { streams.receiveAudioPayloadType = codec.payloadType ?? 111 }
        }
        guard streams.receiveVideoPayloadType != streams.receiveAudioPayloadType else {
            throw MediaError("the server named one payload type for both received streams")
        }
        self.sender = sender
        self.receiver = receiver
        var bound: UInt16 = 0
        let fd = luukku_udp_open(0, 0, 1 << 20, &bound)
        guard fd >= 0 else { throw MediaError("cannot open a UDP socket: \(String(cString: strerror(-fd)))") }
        let wake: (read: Int32, write: Int32)
        do {
            wake = try makePipe()
        } catch {
            _ = luukku_close(fd)
            throw error
        }
        setNonBlocking(wake.read)
        setNonBlocking(wake.write)
        self.options = options
        relayAddress = address
        relayPort = UInt16(clamping: started.relayPort)
        self.suite = suite
        socket = fd
        self.streams = streams
        self.wake = wake
        var figures = MediaFigures()
        figures.suite = suite.rawValue
        figures.sending = [
            "VP8/90000 pt \(streams.sendVideoPayloadType)", "opus/48000/2 pt \(streams.sendAudioPayloadType)",
        ]
        figures.receiving = [
            "VP8/90000 pt \(streams.receiveVideoPayloadType)", "opus/48000/2 pt \(streams.receiveAudioPayloadType)",
        ]
        initial = figures
        shared = NIOLockedValueBox(Shared(figures: figures))
    }

    deinit {
        _ = luukku_close(socket)
        _ = luukku_close(wake.read)
        _ = luukku_close(wake.write)
    }

    private static func check(_ codec: MediaCodec) throws(MediaError) {
        guard MediaOptions.codecs.contains(where: { $0.isSameCodec(as: codec) }) else {
            throw MediaError("the server chose \(codec), which this client does not speak")
        }
    }

    /// The figures so far (refreshed once a second), then the final ones.
    public var figures: MediaFigures { shared.withLockedValue { $0.figures } }

    /// Stops sending now and ends after `linger` (what is on its way still arrives and is played out).
    public func stop(linger: Duration = .milliseconds(500)) {
        let nanoseconds =
            UInt64(max(0, linger.components.seconds)) * 1_000_000_000
            + UInt64(max(0, linger.components.attoseconds) / 1_000_000_000)
        shared.withLockedValue { state in
            let at = luukku_monotonic_ns() + nanoseconds
            state.stopAt = min(state.stopAt ?? at, at)
        }
        var byte: UInt8 = 1
        _ = write(wake.write, &byte, 1)
    }

    /// ``run()`` on a thread of its own (it blocks; Swift's cooperative pool must not be held).
    public func start() async -> MediaFigures {
        await withCheckedContinuation { done in
            Thread.detachNewThread { done.resume(returning: self.run()) }
        }
    }

    /// Runs the session's media until ``stop(linger:)``, or until the child ends or fails; returns the final
    /// figures (``MediaFigures/error`` says why it ended early). Blocks the calling thread, which spawns the
    /// child and ends it before returning (the child's death signal is tied to this thread).
    public func run() -> MediaFigures {
        let alreadyRunning = shared.withLockedValue { state -> Bool in
            defer { state.running = true }
            return state.running
        }
        guard !alreadyRunning else { return figures }
        let loop = MediaLoop(engine: self)
        let final = loop.run()
        publish(final)
        return final
    }

    func publish(_ figures: MediaFigures) { shared.withLockedValue { $0.figures = figures } }

    /// When ``stop(linger:)`` asked the loop to end, in monotonic nanoseconds.
    var stopAt: UInt64? { shared.withLockedValue { $0.stopAt } }

    /// `gst-launch-1.0` on PATH.
    static func gstLaunch() -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/gst-launch-1.0" }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }
}
