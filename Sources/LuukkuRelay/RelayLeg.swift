import CRelayIO
import LuukkuCore

/// The keys of one leg: what its peer protects with (the relay's inbound key) and what the relay protects
/// with toward it (outbound). The suites may differ between legs: the relay then transcrypts.
public struct LegKeys: Hashable, Sendable {
    public let inbound: SRTPKeyingMaterial
    public let outbound: SRTPKeyingMaterial

    public init(inbound: SRTPKeyingMaterial, outbound: SRTPKeyingMaterial) {
        self.inbound = inbound
        self.outbound = outbound
    }

    /// Fresh random keys for both directions.
    public static func random(suite: SRTPSuite) -> LegKeys {
        LegKeys(inbound: .random(for: suite), outbound: .random(for: suite))
    }
}

/// RTP clock rates by payload type, for jitter in time units: the static audio types of RFC 3551 at 8 kHz,
/// dynamic types at 90 kHz (video) unless set, e.g. `[111: 48_000]` for Opus.
public struct ClockRates: Hashable, Sendable {
    var rates: [UInt32]

    public init(_ overrides: [UInt8: UInt32] = [:]) {
        rates = (0..<128).map { $0 < 35 ? 8_000 : 90_000 }
        for (payloadType, rate) in overrides where payloadType < 128 && rate > 0 { rates[Int(payloadType)] = rate }
    }

    @inline(__always) func rate(_ payloadType: UInt8) -> UInt32 { rates[Int(payloadType & 0x7F)] }
}

/// One leg on its worker thread: its socket, SRTP contexts, latch, rate limit, counters and statistics.
/// Confined to the worker that owns it.
final class RelayLeg {
    static let maxSources = 4
    static let maxSentReports = 4

    let fd: Int32
    let port: UInt16
    var session: UInt64 = 0
    var side: LegSide = .a
    let inbound: SRTPContext
    let outbound: SRTPContext
    var partner: RelayLeg?
    var isLatched = false
    var latchedAddress: UInt32 = 0
    var latchedPort: UInt16 = 0
    var bucket: TokenBucket
    var counters = LegCounters()
    var lastAuthenticated: UInt64
    let clockRates: ClockRates
    /// RFC 3550 statistics of the first `maxSources` SSRCs the leg receives.
    var sourceIDs: [UInt32] = []
    var sourcePayloadTypes: [UInt8] = []
    var sources: [RTPReceiveStatistics] = []
    /// Sender reports the relay forwarded out of this leg: their NTP middle 32 bits, and the relay's NTP time
    /// when it sent them, for the round trip in the peer's receiver reports.
    var sentReportNTP = [UInt32](repeating: 0, count: maxSentReports)
    var sentReportAt = [UInt32](repeating: 0, count: maxSentReports)
    var sentReportNext = 0
    /// The latest report block per SSRC from this leg's peer.
    var peerReports: [PeerReportSnapshot] = []

    init(
        fd: Int32, port: UInt16, keys: LegKeys, configuration: RelayConfiguration, clockRates: ClockRates,
        now: UInt64
    ) throws(SRTPError) {
        self.fd = fd
        self.port = port
        inbound = try SRTPContext(
            keyingMaterial: keys.inbound, direction: .inbound, replayWindow: configuration.replayWindow)
        outbound = try SRTPContext(keyingMaterial: keys.outbound, direction: .outbound)
        bucket = TokenBucket(ratePerSecond: configuration.packetsPerSecond, burst: configuration.burstPackets, now: now)
        lastAuthenticated = now
        self.clockRates = clockRates
        sourceIDs.reserveCapacity(Self.maxSources)
        sourcePayloadTypes.reserveCapacity(Self.maxSources)
        sources.reserveCapacity(Self.maxSources)
        peerReports.reserveCapacity(Self.maxSources)
    }

    /// RTP statistics for one authenticated packet.
    @inline(__always)
    func recordRTP(_ header: RTPHeader, now: UInt64) {
        let rate = UInt64(clockRates.rate(header.payloadType))
        let arrival = UInt32(truncatingIfNeeded: (now / 1_000) &* rate / 1_000_000)
        for index in sourceIDs.indices where sourceIDs[index] == header.ssrc {
            _ = sources[index].record(sequence: header.sequenceNumber, timestamp: header.timestamp, arrival: arrival)
            return
        }
        guard sourceIDs.count < Self.maxSources else { return }
        sourceIDs.append(header.ssrc)
        sourcePayloadTypes.append(header.payloadType)
        var statistics = RTPReceiveStatistics()
        _ = statistics.record(sequence: header.sequenceNumber, timestamp: header.timestamp, arrival: arrival)
        sources.append(statistics)
    }

    /// Reads an authenticated RTCP compound from this leg's peer: its report blocks, and the sender reports it
    /// carries, which the partner leg will forward.
    func recordRTCP(_ packet: UnsafeRawBufferPointer, ntpNow: UInt32) {
        _ = RTCPCompound.walk(packet, senderReport: { _ in }) { block in
            var roundTrip: UInt64?
            if block.lastSenderReport != 0,
                let slot = sentReportNTP.firstIndex(of: block.lastSenderReport),
                sentReportAt[slot] != 0
            {
                // All three in 1/65536 s; a negative result (clock step, bogus report) gives no figure.
                let elapsed =
                    Int64(Int32(bitPattern: ntpNow &- sentReportAt[slot])) - Int64(block.delaySinceLastSenderReport)
                if elapsed >= 0 { roundTrip = UInt64(elapsed) * 1_000_000 / 65_536 }
            }
            let report = PeerReportSnapshot(
                ssrc: block.ssrc, fractionLost: block.fractionLost, cumulativeLost: block.cumulativeLost,
                jitter: block.jitter,
                roundTripMicroseconds: roundTrip ?? peerReports.first { $0.ssrc == block.ssrc }?.roundTripMicroseconds)
            if let index = peerReports.firstIndex(where: { $0.ssrc == block.ssrc }) {
                peerReports[index] = report
            } else if peerReports.count < Self.maxSources {
                peerReports.append(report)
            }
        }
    }

    /// Notes the sender reports in an RTCP compound the relay is about to send out of this leg.
    func noteForwardedSenderReports(_ packet: UnsafeRawBufferPointer, ntpNow: UInt32) {
        _ = RTCPCompound.walk(
            packet,
            senderReport: { ntpMiddle in
                sentReportNTP[sentReportNext] = ntpMiddle
                sentReportAt[sentReportNext] = ntpNow
                sentReportNext = (sentReportNext + 1) % Self.maxSentReports
            }
        ) { _ in }
    }

    func snapshot() -> LegSnapshot {
        LegSnapshot(
            port: port,
            latched: isLatched ? RelayEndpoint(address: latchedAddress, port: latchedPort) : nil,
            counters: counters,
            sources: sourceIDs.indices.map { index in
                let statistics = sources[index]
                let rate = UInt64(clockRates.rate(sourcePayloadTypes[index]))
                return RTPSourceSnapshot(
                    ssrc: sourceIDs[index], payloadType: sourcePayloadTypes[index], received: statistics.received,
                    expected: statistics.expected, lost: statistics.lost, jitter: statistics.jitter,
                    jitterMicroseconds: UInt64(statistics.jitter) * 1_000_000 / rate)
            },
            peerReports: peerReports
        )
    }
}
