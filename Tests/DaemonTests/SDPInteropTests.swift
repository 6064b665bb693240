import Foundation
import LuukkuClient
import LuukkuProtocol
import LuukkuTestSupport
import Testing

/// luukku-terminal --sdp with real ffmpeg on both ends: the expert's side sends VP8 with ffmpeg's own SRTP into
/// its leg; the terminal's SDP lets a second ffmpeg receive and decode it through the relay.
@Suite(.serialized, .timeLimit(.minutes(2))) struct SDPInteropTests {
    static func which(_ tool: String) -> String? {
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
            .map { "\($0)/\(tool)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test func ffmpegDecodesTheExpertsVideoFromTheTerminalsSDP() async throws {
        let ffmpeg = try #require(Self.which("ffmpeg"), "ffmpeg is not installed (make test installs it)")
        let daemon = try await Daemon.start()
        let expert = try await daemon.connect("expert-kela-bjorn")
        try await expert.becomeAvailable()
        let sdp = daemon.directory.appendingPathComponent("session.sdp").path
        let terminal = try RunningProcess(
            Repository.products.appendingPathComponent("luukku-terminal").path,
            [
                "request", "--daemon", "127.0.0.1:\(daemon.port)", "--certs", Daemon.certificates.path,
                "--agency", "kela", "--language", "sv", "--sdp", sdp, "--media-seconds", "60",
            ], in: daemon.directory)
        let offer = try await expert.expectOffer()
        expert.send(.accept(.with { $0.ticketID = offer.ticketID }))
        let started = try await expert.expectSessionStarted()

        let key = Data(started.outboundKey.keyAndSalt).base64EncodedString()
        let sender = try RunningProcess(
            ffmpeg,
            [
                "-nostdin", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i",
                "testsrc=size=320x240:rate=30", "-frames:v", "1800", "-c:v", "libvpx", "-deadline", "realtime", "-g",
                "10", "-b:v", "300k", "-payload_type", "96", "-f", "rtp", "-srtp_out_suite", "AES_CM_128_HMAC_SHA1_80",
                "-srtp_out_params", key, "srtp://\(started.relayHost):\(started.relayPort)?pkt_size=1200",
            ], in: daemon.directory)

        let written = try #require(await terminal.line(startingWith: "sdp: wrote"), "\(terminal.stderr)")
        #expect(written.contains(sdp))
        let text = try String(contentsOfFile: sdp, encoding: .utf8)
        #expect(text.contains("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"))
        #expect(!text.contains(key))  // the terminal's receive key, not the expert's send key
        let receiver = try RunningProcess(
            ffmpeg,
            [
                "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", "file,udp,rtp,srtp,crypto",
                "-i", sdp, "-frames:v", "30", "-f", "null", "-",
            ], in: daemon.directory)
        #expect(await receiver.exitStatus() == 0, "\(receiver.stderr)")

        expert.send(.hangup(.with { $0.sessionID = started.sessionID }))
        #expect(await terminal.exitStatus() == 0)
        _ = await sender.stop()
        await expert.goodbye()
        #expect(await daemon.terminate() == 0)
        let sessions = try await daemon.ledger().sessions()
        #expect(sessions.first?.reason == "expert-ended")
        #expect((sessions.first?.relay?.packetsToTerminal ?? 0) > 30)
    }
}
