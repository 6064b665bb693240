// libFuzzer entry point over what the relay reads from a UDP datagram (`make fuzz TARGET=rtp`,
// docs/fuzzing.md): RTP/RTCP demultiplexing and the fixed RTP header (RTPHeader), the RTCP compound walk that
// reads sender and receiver reports (RTCPCompound), the reception statistics fed from RTP headers
// (RTPReceiveStatistics), and our libsrtp wrapper (SRTPContext) on the same bytes.
//
// This file must stay the only one in its target (see LuukkuFrameFuzzer): libFuzzer supplies `main`.
//
// Besides "no crash, no memory error", every input is checked against a reading of RFC 3550 written here
// apart from the relay's code, so a parser that reads the wrong octets fails as surely as one that traps:
// - RTPHeader accepts exactly the packets with version 2, 12 octets and the CSRC list inside, and its
//   fields are the octets where RFC 3550 section 5.1 puts them;
// - RTCPCompound.walk reports the same sender reports and report blocks, in the same order, and the same
//   verdict as the reference walk below;
// - RTPReceiveStatistics, fed the input as (sequence, timestamp, arrival) records, never counts more
//   packets than it was given and expects at least one once it counts any;
// - an input that nobody protected never authenticates, and one that libsrtp protects comes back from
//   unprotect as the same bytes, in every suite we offer.
import LuukkuCore
import LuukkuRelay

/// Fixed keys: this process protects and unprotects its own test packets, nothing else.
private let keying: [SRTPSuite: SRTPKeyingMaterial] = Dictionary(
    uniqueKeysWithValues: SRTPSuite.allCases.map { suite in
        let bytes = (0..<(suite.masterKeyLength + suite.masterSaltLength)).map {
            UInt8(truncatingIfNeeded: $0 &* 37 &+ 11)
        }
        return (suite, try! SRTPKeyingMaterial(suite: suite, bytes: bytes))
    })

@_cdecl("LLVMFuzzerTestOneInput")
public func rtpFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let packet = UnsafeRawBufferPointer(start: data, count: size)
    let bytes = [UInt8](packet)
    checkHeader(packet, bytes)
    checkCompound(packet, bytes)
    checkStatistics(bytes)
    checkSRTP(packet, suite: SRTPSuite.allCases[size % SRTPSuite.allCases.count])
    return 0
}

private func word(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
}

private func checkHeader(_ packet: UnsafeRawBufferPointer, _ bytes: [UInt8]) {
    let parsable = bytes.count >= 12 && bytes[0] >> 6 == 2 && bytes.count >= 12 + 4 * Int(bytes[0] & 0x0F)
    let header = RTPHeader(packet)
    precondition((header != nil) == parsable, "RTPHeader accepted or refused the wrong packet")
    if let header {
        precondition(header.marker == (bytes[1] & 0x80 != 0) && header.payloadType == bytes[1] & 0x7F)
        precondition(header.sequenceNumber == UInt16(bytes[2]) << 8 | UInt16(bytes[3]))
        precondition(header.timestamp == word(bytes, 4) && header.ssrc == word(bytes, 8))
    }
    // RFC 5761 section 4: RTCP by its packet type, RTP only with a whole fixed header; nothing below 8 octets.
    let kind = RTPHeader.kind(of: packet)
    if bytes.count < 8 || bytes[0] >> 6 != 2 {
        precondition(kind == nil, "a packet too short or not version 2 was classified")
    } else if (192...223).contains(bytes[1]) {
        precondition(kind == .rtcp)
    } else {
        precondition(kind == (bytes.count >= 12 ? .rtp : nil))
    }
}

/// What a compound walk saw: sender-report times, report blocks (7 fields each) and whether it was well formed.
private struct Walk: Equatable {
    var senderReports: [UInt32] = []
    var blocks: [[UInt32]] = []
    var wellFormed = true
}

/// RFC 3550 section 6.4 read independently of RTCPCompound: packets of (length + 1) words, each version 2
/// and inside the compound; an SR is at least 28 octets, an RR at least 8, and their report blocks (24
/// octets each, as many as the count says) lie inside the packet; other types are stepped over; the
/// compound ends exactly at the end of the buffer. Reads stop at the first fault.
private func referenceWalk(_ bytes: [UInt8]) -> Walk {
    var walk = Walk()
    var rest = bytes[...]
    while rest.count >= 4 {
        let start = rest.startIndex
        guard rest[start] >> 6 == 2 else {
            walk.wellFormed = false
            return walk
        }
        let octets = (Int(rest[start + 2]) * 256 + Int(rest[start + 3]) + 1) * 4
        guard octets <= rest.count else {
            walk.wellFormed = false
            return walk
        }
        let body = Array(rest.prefix(octets))
        rest = rest.dropFirst(octets)
        let firstBlock: Int
        switch body[1] {
        case 200:
            guard body.count >= 28 else {
                walk.wellFormed = false
                return walk
            }
            walk.senderReports.append(word(body, 10))
            firstBlock = 28
        case 201:
            guard body.count >= 8 else {
                walk.wellFormed = false
                return walk
            }
            firstBlock = 8
        default:
            continue
        }
        let count = Int(body[0] & 0x1F)
        guard firstBlock + 24 * count <= body.count else {
            walk.wellFormed = false
            return walk
        }
        for index in 0..<count {
            let at = firstBlock + 24 * index
            let lost = word(body, at + 4) & 0x00FF_FFFF
            let signed = lost & 0x0080_0000 != 0 ? Int32(lost) - 0x0100_0000 : Int32(lost)
            walk.blocks.append([
                word(body, at), UInt32(body[at + 4]), UInt32(bitPattern: signed), word(body, at + 8),
                word(body, at + 12), word(body, at + 16), word(body, at + 20),
            ])
        }
    }
    walk.wellFormed = rest.isEmpty
    return walk
}

private func checkCompound(_ packet: UnsafeRawBufferPointer, _ bytes: [UInt8]) {
    var seen = Walk()
    seen.wellFormed = RTCPCompound.walk(packet, senderReport: { seen.senderReports.append($0) }) { block in
        seen.blocks.append([
            block.ssrc, UInt32(block.fractionLost), UInt32(bitPattern: block.cumulativeLost),
            block.extendedHighestSequence, block.jitter, block.lastSenderReport, block.delaySinceLastSenderReport,
        ])
    }
    precondition(seen == referenceWalk(bytes), "RTCPCompound.walk disagrees with RFC 3550 section 6.4")
}

/// The input as 10-octet records of sequence number (2), RTP timestamp (4) and arrival time (4).
private func checkStatistics(_ bytes: [UInt8]) {
    var statistics = RTPReceiveStatistics()
    var counted = 0
    var records = 0
    var at = 0
    while at + 10 <= bytes.count {
        let sequence = UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1])
        if statistics.record(sequence: sequence, timestamp: word(bytes, at + 2), arrival: word(bytes, at + 6)) {
            counted += 1
        }
        records += 1
        at += 10
        precondition(statistics.received <= UInt64(counted) && counted <= records, "counted a packet twice")
        precondition(statistics.received == 0 || statistics.expected >= 1, "counts packets but expects none")
        precondition(statistics.lost == statistics.expected - Int64(statistics.received))
        _ = statistics.jitter  // a conversion that must not trap
        _ = statistics.extendedHighestSequence
    }
}

private func checkSRTP(_ packet: UnsafeRawBufferPointer, suite: SRTPSuite) {
    guard let kind = RTPHeader.kind(of: packet), let keys = keying[suite] else { return }
    let srtpKind: SRTPContext.PacketKind = kind == .rtcp ? .rtcp : .rtp
    do {
        let outbound = try SRTPContext(keyingMaterial: keys, direction: .outbound)
        let inbound = try SRTPContext(keyingMaterial: keys, direction: .inbound)
        // Exactly the packet's size, so that ASan sees a read past it.
        let exact = UnsafeMutableRawBufferPointer.allocate(byteCount: packet.count, alignment: 16)
        defer { exact.deallocate() }
        exact.copyMemory(from: packet)
        let forged = Result { () throws(SRTPError) in try inbound.unprotect(exact, length: packet.count, kind: srtpKind)
        }
        if case .success = forged { preconditionFailure("an input nobody protected authenticated") }

        let room = UnsafeMutableRawBufferPointer.allocate(
            byteCount: packet.count + SRTPContext.trailerSpace, alignment: 16)
        defer { room.deallocate() }
        room.copyMemory(from: packet)
        guard let protected = try? outbound.protect(room, length: packet.count, kind: srtpKind) else { return }
        precondition(
            protected > packet.count && protected <= packet.count + SRTPContext.trailerSpace,
            "protect wrote outside its trailer space")
        let plain = try inbound.unprotect(room, length: protected, kind: srtpKind)
        precondition(
            plain == packet.count && UnsafeRawBufferPointer(rebasing: room[0..<plain]).elementsEqual(packet),
            "a packet did not come back from protect and unprotect unchanged")
    } catch {
        preconditionFailure("a packet libsrtp protected did not unprotect: \(error)")
    }
}
