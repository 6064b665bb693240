import CRelayIO
import Foundation
import LuukkuCore
import LuukkuRelay
import Testing

/// A real media peer process (ffmpeg or gst-launch-1.0) with its output in files, so no pipe can fill up.
final class MediaPeer: @unchecked Sendable {
    let name: String
    let process = Process()
    let output: URL
    private let exited = AsyncStream<Int32>.makeStream()

    init(_ name: String, _ tool: String, _ arguments: [String]) throws {
        self.name = name
        let path = try #require(
            ["/usr/bin/\(tool)", "/usr/local/bin/\(tool)"].first { FileManager.default.isExecutableFile(atPath: $0) },
            "\(tool) is not installed: make test installs it (Makefile SYSTEM_PACKAGES)")
        output = FileManager.default.temporaryDirectory.appendingPathComponent(
            "luukku-\(name)-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let log = try FileHandle(forWritingTo: output)
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        let continuation = exited.continuation
        process.terminationHandler = { continuation.yield($0.terminationStatus) }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(at: output)
    }

    /// Waits for the process to exit by itself. A peer that has not exited within `limit` seconds has failed
    /// (it is killed and the test fails with its log); the limit bounds a hang, it is not how tests synchronise.
    func exitStatus(limit seconds: Int = 90) async -> Int32 {
        let pid = process.processIdentifier
        let process = self.process
        let watchdog = Task {
            try await Task.sleep(for: .seconds(seconds))
            if process.isRunning { kill(pid, SIGKILL) }
        }
        defer { watchdog.cancel() }
        var iterator = exited.stream.makeAsyncIterator()
        return await iterator.next() ?? -1
    }

    var log: String { (try? String(contentsOf: output, encoding: .utf8)) ?? "" }

    /// Decoded video frames that reached the fakesink (gst-launch -v prints one `chain` line per buffer).
    var framesDecoded: Int { log.components(separatedBy: "sink: last-message = chain").count - 1 }
}

/// Command lines for the two real peers, from ../shared/FACTS.md.
enum Peers {
    /// The key and salt in hex, as GStreamer takes them (from the SDES inline value, base64).
    static func hex(_ key: SRTPKeyingMaterial) -> String {
        (Data(base64Encoded: key.inlineKey) ?? Data()).map { String(format: "%02x", $0) }.joined()
    }

    /// GStreamer's names for a suite's cipher and auth.
    static func gstreamer(_ suite: SRTPSuite) -> (cipher: String, auth: String) {
        switch suite {
        case .aesCM128HMACSHA1_80: ("aes-128-icm", "hmac-sha1-80")
        case .aesCM128HMACSHA1_32: ("aes-128-icm", "hmac-sha1-32")
        case .aeadAES128GCM: ("aes-128-gcm", "null")
        case .aeadAES256GCM: ("aes-256-gcm", "null")
        }
    }

    /// gst-launch sending `frames` VP8 frames (60 per second, SSRC `ssrc`) protected with `key` to `relayPort`;
    /// it exits 0 when all are sent.
    static func gstreamerSender(key: SRTPKeyingMaterial, relayPort: UInt16, frames: Int, ssrc: UInt32) -> [String] {
        let names = gstreamer(key.suite)
        return [
            "-e",
            "videotestsrc", "is-live=true", "num-buffers=\(frames)", "!",
            "video/x-raw,width=320,height=240,framerate=60/1", "!",
            "vp8enc", "deadline=1", "keyframe-max-dist=10", "!",
            "rtpvp8pay", "pt=96", "ssrc=\(ssrc)", "!",
            "srtpenc", "key=\(hex(key))", "rtp-cipher=\(names.cipher)", "rtp-auth=\(names.auth)",
            "rtcp-cipher=\(names.cipher)", "rtcp-auth=\(names.auth)", "!",
            "udpsink", "host=127.0.0.1", "port=\(relayPort)",
        ]
    }

    /// gst-launch receiving SRTP on local `port` (stream SSRC `ssrc`, key `key`), decoding VP8, and exiting 0
    /// after `frames` decoded frames (srtpdec, rtpjitterbuffer, rtpvp8depay, vp8dec, then a fakesink that
    /// prints one `chain` line per frame).
    static func gstreamerReceiver(key: SRTPKeyingMaterial, port: UInt16, ssrc: UInt32, frames: Int) -> [String] {
        let names = gstreamer(key.suite)
        let caps =
            "application/x-srtp,media=(string)video,clock-rate=(int)90000,encoding-name=(string)VP8,"
            + "payload=(int)96,ssrc=(uint)\(ssrc),srtp-key=(buffer)\(hex(key)),"
            + "srtp-cipher=(string)\(names.cipher),srtp-auth=(string)\(names.auth),"
            + "srtcp-cipher=(string)\(names.cipher),srtcp-auth=(string)\(names.auth)"
        return [
            "-e", "-v",
            "udpsrc", "address=127.0.0.1", "port=\(port)", "caps=\(caps)", "!",
            "srtpdec", "!", "rtpjitterbuffer", "latency=100", "!", "rtpvp8depay", "!", "vp8dec", "!",
            // identity lets `eos-after - 1` buffers through, then ends the stream.
            "identity", "eos-after=\(frames + 1)", "!",
            "fakesink", "name=sink", "silent=false", "sync=false",
        ]
    }

    /// ffmpeg sending a VP8 test pattern as SRTP AES_CM_128_HMAC_SHA1_80 from local port `port` to the relay leg.
    static func ffmpegSender(key: SRTPKeyingMaterial, relayPort: UInt16, port: UInt16, frames: Int, ssrc: UInt32)
        -> [String]
    {
        [
            "-nostdin", "-hide_banner", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc=size=320x240:rate=60", "-frames:v", "\(frames)",
            "-c:v", "libvpx", "-deadline", "realtime", "-g", "10", "-b:v", "500k",
            "-payload_type", "96", "-ssrc", "\(ssrc)", "-f", "rtp",
            "-srtp_out_suite", key.suite.rawValue, "-srtp_out_params", key.inlineKey,
            "srtp://127.0.0.1:\(relayPort)?localport=\(port)&pkt_size=1200",
        ]
    }

}
