import CRelayIO
import LuukkuCore
import LuukkuRelay
import Testing

/// A media peer on a real loopback UDP socket, as a service-point terminal or expert console would be: it
/// protects with what the relay's leg expects inbound and unprotects with the leg's outbound key.
final class RelayPeer {
    static let loopback: UInt32 = 0x7F00_0001
    let fd: Int32
    let port: UInt16
    let sender: SRTPContext
    let receiver: SRTPContext
    let relayPort: UInt16
    var sequence: UInt16 = 1
    var ssrc: UInt32

    init(keys: LegKeys, relayPort: UInt16, ssrc: UInt32 = 0x1122_3344) throws {
        var bound: UInt16 = 0
        fd = luukku_udp_open(Self.loopback, 0, 1 << 20, &bound)
        try #require(fd >= 0)
        port = bound
        sender = try SRTPContext(keyingMaterial: keys.inbound, direction: .outbound)
        receiver = try SRTPContext(keyingMaterial: keys.outbound, direction: .inbound)
        self.relayPort = relayPort
        self.ssrc = ssrc
    }

    /// The same peer (keys, stream) behind a new source port, as after a NAT rebinding.
    init(sharing other: RelayPeer) throws {
        var bound: UInt16 = 0
        fd = luukku_udp_open(Self.loopback, 0, 1 << 20, &bound)
        try #require(fd >= 0)
        port = bound
        sender = other.sender
        receiver = other.receiver
        relayPort = other.relayPort
        ssrc = other.ssrc
    }

    deinit { _ = luukku_close(fd) }

    /// An RTP packet (PT 96, 90 kHz timestamps 3,000 apart) with a payload that names its sequence number.
    func nextRTP(payload: Int = 200) -> [UInt8] {
        defer { sequence &+= 1 }
        let timestamp = UInt32(sequence) &* 3_000
        var packet: [UInt8] = [0x80, 96, UInt8(sequence >> 8), UInt8(sequence & 0xFF)]
        packet += withUnsafeBytes(of: timestamp.bigEndian, Array.init)
        packet += withUnsafeBytes(of: ssrc.bigEndian, Array.init)
        return packet + (0..<payload).map { UInt8(truncatingIfNeeded: $0 &+ Int(sequence)) }
    }

    func seal(_ plain: [UInt8], kind: SRTPContext.PacketKind = .rtp) throws -> [UInt8] {
        var buffer = plain + [UInt8](repeating: 0, count: SRTPContext.trailerSpace)
        let length = try buffer.withUnsafeMutableBytes { try sender.protect($0, length: plain.count, kind: kind) }
        return Array(buffer.prefix(length))
    }

    /// Sends raw octets to the relay leg.
    func sendRaw(_ packet: [UInt8]) throws {
        let sent = packet.withUnsafeBufferPointer {
            luukku_udp_send(fd, $0.baseAddress, UInt32(packet.count), Self.loopback, relayPort)
        }
        try #require(sent == packet.count)
    }

    /// Protects and sends a plain packet; returns what went on the wire.
    @discardableResult
    func send(_ plain: [UInt8], kind: SRTPContext.PacketKind = .rtp) throws -> [UInt8] {
        let sealed = try seal(plain, kind: kind)
        try sendRaw(sealed)
        return sealed
    }

    /// The next datagram (waiting up to `timeoutMilliseconds` for it), unprotected; nil if none came.
    func receive(kind: SRTPContext.PacketKind = .rtp, timeoutMilliseconds: Int32 = 5_000) throws -> [UInt8]? {
        guard luukku_wait_readable(fd, timeoutMilliseconds) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 2_048)
        var from: UInt32 = 0
        var fromPort: UInt16 = 0
        let length = buffer.withUnsafeMutableBufferPointer {
            luukku_udp_receive(fd, $0.baseAddress, UInt32($0.count), &from, &fromPort)
        }
        try #require(length > 0)
        #expect(fromPort == relayPort, "media must come from the leg's own port")
        let plain = try buffer.withUnsafeMutableBytes { try receiver.unprotect($0, length: Int(length), kind: kind) }
        return Array(buffer.prefix(plain))
    }

    /// True when nothing is waiting on the socket (checked without waiting).
    var isQuiet: Bool { luukku_wait_readable(fd, 0) == 0 }
}

extension Relay {
    /// Asks the worker for snapshots until `condition` holds; each snapshot is a round trip through the worker's
    /// command queue, after the packets it has already read. Gives up after `attempts`.
    func waitFor(
        session: UInt64, attempts: Int = 20_000, _ condition: (SessionSnapshot) -> Bool
    ) async throws -> SessionSnapshot {
        for _ in 0..<attempts {
            let current = try #require(await snapshot(session: session))
            if condition(current) { return current }
            await Task.yield()
        }
        let last = try #require(await snapshot(session: session))
        Issue.record("condition never held; last snapshot: \(last)")
        return last
    }
}
