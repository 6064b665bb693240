import CRelayIO
import Foundation
import LuukkuCore
import LuukkuProtocol
import LuukkuRelay

/// Media with an outside program instead of the built-in test stream (`luukku-terminal --sdp FILE`).
///
/// The relay sends a leg's media to the address whose authenticated packet arrived last (latching,
/// docs/relay.md). So before a receiver such as ffplay can get the far side's media, something must send an
/// authenticated packet from the port the receiver will listen on: ``latch(_:port:)`` sends one SRTCP
/// receiver report from that port and frees it; ``receiver(_:port:title:)`` is the SDP (RFC 4566, with an
/// RFC 4568 `a=crypto` line) that tells the receiver the port, the codec and the key.
public enum SessionDescription {
    /// Sends one authenticated RTCP packet (an empty RR, RFC 3550 section 6.4.2) from local `port` (0: the
    /// kernel picks) to the session's leg, and returns the port, now free for the receiver to bind.
    public static func latch(_ started: Luukku_V1_SessionStarted, port: UInt16) throws -> UInt16 {
        let relay = try started.relayAddress()
        guard started.legSuite?.isSDPSuite == true else {
            throw MediaError("an SDP for ffmpeg needs AES_CM_128_HMAC_SHA1_80 or _32 on this leg")
        }
        let context = try started.srtpContexts().sender
        var bound: UInt16 = 0
        let fd = luukku_udp_open(0, port, 0, &bound)
        guard fd >= 0 else { throw MediaError("cannot bind UDP port \(port): \(String(cString: strerror(-fd)))") }
        defer { _ = luukku_close(fd) }
        let ssrc = UInt32.random(in: 1...UInt32.max - 1)
        var packet = [UInt8](repeating: 0, count: 8 + SRTPContext.trailerSpace)
        // V=2, no report blocks, PT=201 (RR), length 1 (two 32-bit words minus one), the sender's SSRC.
        packet[0] = 0x80
        packet[1] = 201
        packet[3] = 1
        for index in 0..<4 { packet[4 + index] = UInt8(truncatingIfNeeded: ssrc >> (24 - 8 * index)) }
        let length = try packet.withUnsafeMutableBytes { try context.protect($0, length: 8, kind: .rtcp) }
        let sent = packet.withUnsafeBytes { raw in
            luukku_udp_send(
                fd, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(length), relay,
                UInt16(clamping: started.relayPort))
        }
        guard sent == length else { throw MediaError("cannot send to the relay: \(String(cString: strerror(-sent)))") }
        return bound
    }

    /// An SDP for a receiver on `port` of this host: VP8 at 90 kHz with the payload type the session chose for
    /// this side (96 from an older server), RTP and RTCP on one port, and the key and suite the relay protects
    /// this side's media with (`inbound_key`).
    public static func receiver(_ started: Luukku_V1_SessionStarted, port: UInt16, title: String) -> String {
        let key = Data(started.inboundKey.keyAndSalt).base64EncodedString()
        let videoType = started.receiveCodecList.first { $0.kind == .video }?.payloadType ?? 96
        return """
            v=0
            o=luukku-terminal 0 0 IN IP4 127.0.0.1
            s=\(title)
            c=IN IP4 127.0.0.1
            t=0 0
            m=video \(port) RTP/SAVP \(videoType)
            a=rtpmap:\(videoType) VP8/90000
            a=rtcp-mux
            a=recvonly
            a=crypto:1 \(started.legSuite?.rawValue ?? "AES_CM_128_HMAC_SHA1_80") inline:\(key)

            """
    }

    /// Latches `port` (0: any free one) and writes the receiver's SDP to `file`, mode 0600 (it holds a session
    /// key); returns the port the receiver must listen on.
    public static func writeReceiver(_ started: Luukku_V1_SessionStarted, to file: String, port: UInt16, title: String)
        throws -> UInt16
    {
        let latched = try latch(started, port: port)
        let text = receiver(started, port: latched, title: title)
        guard
            FileManager.default.createFile(
                atPath: file, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        else { throw MediaError("cannot write \(file)") }
        return latched
    }
}

extension Luukku_V1_SessionStarted {
    /// This party's leg suite: AES_CM_128_HMAC_SHA1_80 from a server older than media negotiation (which names
    /// none), nil for a suite this build does not know.
    public var legSuite: SRTPSuite? { suite == .unspecified ? .aesCM128HMACSHA1_80 : SRTPSuite(wire: suite) }

    /// The relay leg's IPv4 address (`relay_host`), in host byte order.
    func relayAddress() throws(MediaError) -> UInt32 {
        var address: UInt32 = 0
        guard luukku_ipv4_parse(relayHost, &address) == 0 else {
            throw MediaError("the relay host \(relayHost) is not an IPv4 address")
        }
        return address
    }

    /// The SRTP contexts of this party's leg: the sender protects with `outbound_key`, the receiver unprotects
    /// what the relay protected with `inbound_key`.
    /// - Throws: ``MediaError`` for an unknown suite or keys of the wrong length (the text holds no key).
    func srtpContexts() throws(MediaError) -> (suite: SRTPSuite, sender: SRTPContext, receiver: SRTPContext) {
        guard let suite = legSuite else { throw MediaError("the server chose an SRTP suite this client does not know") }
        do {
            try LibSRTP.start(backend: .openssl)
            let sender = try SRTPContext(
                keyingMaterial: SRTPKeyingMaterial(suite: suite, bytes: [UInt8](outboundKey.keyAndSalt)),
                direction: .outbound)
            let receiver = try SRTPContext(
                keyingMaterial: SRTPKeyingMaterial(suite: suite, bytes: [UInt8](inboundKey.keyAndSalt)),
                direction: .inbound)
            return (suite, sender, receiver)
        } catch {
            throw MediaError("cannot set up SRTP (\(suite.rawValue)): \(error)")
        }
    }
}

extension SRTPSuite {
    /// The suites ffmpeg's and GStreamer's SDP readers take in an `a=crypto` line (RFC 4568); not GCM.
    public var isSDPSuite: Bool { self == .aesCM128HMACSHA1_80 || self == .aesCM128HMACSHA1_32 }
}
