import CRelayIO
import Foundation
import LuukkuCore
import LuukkuRelay
import LuukkuTestSupport
import Testing

/// The relay between real media peers from Debian: ffmpeg and GStreamer (issue 4, item 7). The relay runs in
/// this process on loopback; the peers are separate processes with their own SRTP (ffmpeg's, and GStreamer's
/// srtpenc/srtpdec on Debian's libsrtp2 with NSS), so the relay's OpenSSL types meet two other implementations.
///
/// A receiving peer must have sent an authenticated packet from its port before the relay sends it anything.
/// gst-launch cannot send and receive on one socket (a udpsink and a udpsrc on one port with SO_REUSEPORT
/// share the traffic by hash), so the test sends that first packet for the receiver, from the port the
/// receiver then binds, with the receiver's key: exactly what a terminal's first packet does.
@Suite(.serialized) struct MediaInteropTests {
    /// A relay on loopback and the stream of its latch events (the tests wait on these, not on time).
    static func relay() throws -> (Relay, AsyncStream<LatchEvent>.AsyncIterator) {
        let (events, continuation) = AsyncStream<LatchEvent>.makeStream()
        let relay = try Relay(
            configuration: RelayConfiguration(bindAddress: "127.0.0.1", ports: 42_000...42_099, workers: 1),
            onLatch: { continuation.yield($0) })
        return (relay, events.makeAsyncIterator())
    }

    /// Latches a leg at a fresh local port, as the receiving peer's first packet would, and frees the port for
    /// the receiver. Returns the port.
    static func latch(
        _ side: LegSide, of session: UInt64, keys: LegKeys, relayPort: UInt16,
        events: inout AsyncStream<LatchEvent>.AsyncIterator
    ) async throws -> UInt16 {
        var port: UInt16 = 0
        let fd = luukku_udp_open(0x7F00_0001, 0, 0, &port)
        try #require(fd >= 0)
        defer { _ = luukku_close(fd) }
        let context = try SRTPContext(keyingMaterial: keys.inbound, direction: .outbound)
        var packet: [UInt8] = [0x80, 13, 0, 1, 0, 0, 0, 0, 0xFE, 0xED, 0xFA, 0xCE, 0]  // comfort noise, 1 octet
        let plain = packet.count
        packet += [UInt8](repeating: 0, count: SRTPContext.trailerSpace)
        let length = try packet.withUnsafeMutableBytes { try context.protect($0, length: plain) }
        let sent = luukku_udp_send(fd, packet, UInt32(length), 0x7F00_0001, relayPort)
        try #require(sent == length)
        let event = await events.next()
        #expect(event?.session == session && event?.side == side && event?.endpoint.port == port)
        return port
    }

    /// ffmpeg sends VP8 as AES_CM_128_HMAC_SHA1_80 into leg A; GStreamer receives from leg B with B's own key
    /// (same suite, so the relay decrypts with A's key and encrypts with B's) and decodes at least 100 frames.
    @Test func ffmpegToGStreamerWithAESCM() async throws {
        var (relay, events) = try Self.relay()
        defer { relay.stop() }
        let keysA = LegKeys.random(suite: .aesCM128HMACSHA1_80)
        let keysB = LegKeys.random(suite: .aesCM128HMACSHA1_80)
        let ports = try relay.open(session: 1, a: keysA, b: keysB)
        let portB = try await Self.latch(.b, of: 1, keys: keysB, relayPort: ports.b, events: &events)
        let receiver = try MediaPeer(
            "gst-b", "gst-launch-1.0",
            Peers.gstreamerReceiver(key: keysB.outbound, port: portB, ssrc: 0xA1A, frames: 100))
        let portA = try FreePort.udp()
        let ffmpeg = try MediaPeer(
            "ffmpeg-a", "ffmpeg",
            Peers.ffmpegSender(key: keysA.inbound, relayPort: ports.a, port: portA, frames: 300, ssrc: 0xA1A))

        let receiverStatus = await receiver.exitStatus()
        #expect(receiverStatus == 0, "GStreamer log:\n\(receiver.log.suffix(3_000))")
        #expect(receiver.framesDecoded >= 100, "decoded \(receiver.framesDecoded) frames")
        let ffmpegStatus = await ffmpeg.exitStatus()
        #expect(ffmpegStatus == 0, "ffmpeg log:\n\(ffmpeg.log.suffix(3_000))")

        let snapshot = try #require(await relay.close(session: 1))
        #expect(snapshot.a.latched == RelayEndpoint(address: 0x7F00_0001, port: portA), "latched on ffmpeg's port")
        #expect(snapshot.a.counters.packetsIn > 100 && snapshot.b.counters.packetsOut > 100)
        #expect(snapshot.a.counters.drops(.authenticationFailed) == 0)
        #expect(snapshot.a.sources.first?.ssrc == 0xA1A)
    }

    /// GStreamer to GStreamer with AEAD_AES_128_GCM on both legs, in both directions of one leg pair: A to B,
    /// then B to A. Each receiver decodes at least 100 frames. Each direction moves the latches (a sender's
    /// port, then the next receiver's), which the relay counts.
    @Test func gstreamerToGStreamerWithGCMBothWays() async throws {
        var (relay, events) = try Self.relay()
        defer { relay.stop() }
        let keysA = LegKeys.random(suite: .aeadAES128GCM)
        let keysB = LegKeys.random(suite: .aeadAES128GCM)
        let ports = try relay.open(session: 2, a: keysA, b: keysB)

        for (from, to) in [(LegSide.a, LegSide.b), (.b, .a)] {
            let sendKeys = from == .a ? keysA : keysB
            let receiveKeys = to == .a ? keysA : keysB
            let receivePort = try await Self.latch(
                to, of: 2, keys: receiveKeys, relayPort: to == .a ? ports.a : ports.b, events: &events)
            let ssrc: UInt32 = from == .a ? 0xA1A : 0xB0B
            let receiver = try MediaPeer(
                "gst-\(to)", "gst-launch-1.0",
                Peers.gstreamerReceiver(key: receiveKeys.outbound, port: receivePort, ssrc: ssrc, frames: 100))
            let sender = try MediaPeer(
                "gst-\(from)", "gst-launch-1.0",
                Peers.gstreamerSender(
                    key: sendKeys.inbound, relayPort: from == .a ? ports.a : ports.b, frames: 300, ssrc: ssrc))
            let receiverStatus = await receiver.exitStatus()
            #expect(receiverStatus == 0, "\(from) to \(to), receiver:\n\(receiver.log.suffix(3_000))")
            #expect(receiver.framesDecoded >= 100, "\(from) to \(to): decoded \(receiver.framesDecoded) frames")
            let senderStatus = await sender.exitStatus()
            #expect(senderStatus == 0, "\(from) to \(to), sender:\n\(sender.log.suffix(3_000))")
            // The sender's first packet latched its leg (an event); drain it for the next round.
            #expect(await events.next()?.side == from)
        }
        let snapshot = try #require(await relay.close(session: 2))
        #expect(snapshot.a.counters.packetsOut > 100 && snapshot.b.counters.packetsOut > 100, "both directions")
        #expect(snapshot.a.counters.relatches == 1 && snapshot.b.counters.relatches == 1)
        #expect(snapshot.a.counters.drops(.authenticationFailed) == 0)
        #expect(snapshot.b.counters.drops(.authenticationFailed) == 0)
    }
}
