import Foundation
import LuukkuCore
import LuukkuProtocol

/// A session's media as a client runs it: the engine (``MediaEngine``, `--media real`) or the synthetic test
/// stream (``TestMedia``, `--media test-stream`). Both clients use it the same way: start at SessionStarted,
/// read ``progress`` once a second, ``stop(linger:)`` at the hang-up, and print the outcome.
public final class SessionMedia: Sendable {
    private enum Kind: Sendable {
        case engine(MediaEngine)
        case stream(TestMedia, count: Int?)
    }

    /// How the media ended.
    public enum Outcome: Sendable {
        case figures(MediaFigures)
        case testStream(Result<MediaReport, MediaError>)

        /// The end-of-session line.
        public var summary: String {
            switch self {
            case .figures(let figures): figures.summary
            case .testStream(.success(let report)): report.description
            case .testStream(.failure(let error)): "media: \(error)"
            }
        }

        /// Why the media failed, if it did.
        public var failure: String? {
            switch self {
            case .figures(let figures): figures.error
            case .testStream(.success): nil
            case .testStream(.failure(let error)): error.description
            }
        }

        /// The real media's figures as JSON, for `--media-report`.
        public func write(to file: String) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data: Data
            switch self {
            case .figures(let figures): data = try encoder.encode(figures)
            case .testStream(.success(let report)): data = try encoder.encode(report)
            case .testStream(.failure(let error)): data = try encoder.encode(["error": error.description])
            }
            try data.write(to: URL(fileURLWithPath: file))
        }
    }

    private let kind: Kind

    /// Opens the socket and SRTP for `started`. `testPackets`: with the test stream, send this many packets and
    /// stop (nil: until ``stop(linger:)``).
    public init(
        _ started: Luukku_V1_SessionStarted, mode: MediaMode, options: MediaOptions, testPackets: Int? = nil
    ) throws(MediaError) {
        switch mode {
        case .real: kind = .engine(try MediaEngine(started, options: options))
        case .testStream: kind = .stream(try TestMedia(started), count: testPackets)
        }
    }

    /// Runs to the end (on a thread of its own).
    public func run() async -> Outcome {
        switch kind {
        case .engine(let engine):
            return .figures(await engine.start())
        case .stream(let stream, let count):
            do throws(MediaError) {
                return .testStream(
                    .success(try await stream.stream(count: count, linger: count == nil ? .zero : .milliseconds(500))))
            } catch {
                return .testStream(.failure(error))
            }
        }
    }

    /// Stops sending; what is on its way is still received for `linger`.
    public func stop(linger: Duration = .milliseconds(500)) {
        switch kind {
        case .engine(let engine): engine.stop(linger: linger)
        case .stream(let stream, _): stream.stop()
        }
    }

    /// The figures so far: the engine's (refreshed each second), or nil for the test stream.
    public var figures: MediaFigures? {
        if case .engine(let engine) = kind { return engine.figures }
        return nil
    }

    /// The test stream's figures so far, or nil for the engine.
    public var testReport: MediaReport? {
        if case .stream(let stream, _) = kind { return stream.progress }
        return nil
    }

    /// The once-a-second line.
    public var progressLine: String {
        switch kind {
        case .engine(let engine):
            engine.figures.videoPacketsReceived + engine.figures.audioPacketsReceived == 0
                ? "media: waiting for the far side's media" : "media: " + engine.figures.line
        case .stream(let stream, _): stream.progress.description
        }
    }

    /// What the server chose for this leg: `suite AEAD_AES_128_GCM; sends VP8/90000 (pt 96), opus/48000/2
    /// (pt 111); receives ...`. No key.
    public static func describe(_ started: Luukku_V1_SessionStarted) -> String {
        func list(_ codecs: [MediaCodec]) -> String {
            codecs.isEmpty
                ? "(not named)"
                : codecs.map { codec in
                    "\(codec.with(payloadType: nil))" + (codec.payloadType.map { " (pt \($0))" } ?? "")
                }.joined(separator: ", ")
        }
        return "suite \(started.legSuite?.rawValue ?? "unknown"); sends \(list(started.sendCodecList)); "
            + "receives \(list(started.receiveCodecList))"
    }
}
