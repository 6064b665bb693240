import CRelayIO
import Foundation
import LuukkuCore
import LuukkuProtocol
import LuukkuRelay
import NIOConcurrencyHelpers

/// What a built-in test stream saw, for the user and the tests.
public struct MediaReport: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Stream packets sent, and every authenticated stream packet that arrived (the probes that open the path
    /// are counted apart).
    public var sent: Int = 0
    public var arrived: Int = 0
    /// RFC 3550 A.1 received: the source's first packet is its probation and not counted.
    public var received: UInt64 = 0
    /// RFC 3550 expected and lost, from the received sequence numbers.
    public var expected: Int64 = 0
    public var lost: Int64 = 0
    /// Interarrival jitter of the received stream, in microseconds (90 kHz clock).
    public var jitterMicroseconds: UInt64 = 0
    public var probesSent: Int = 0
    /// Packets that failed SRTP authentication (should be none).
    public var rejected: Int = 0

    public init() {}

    public var lossPercent: Double { expected > 0 ? Double(max(0, lost)) * 100 / Double(expected) : 0 }

    public var description: String {
        "media: sent \(sent) packets, \(arrived) arrived; RFC 3550: received \(received) of \(expected) expected, "
            + "lost \(max(0, lost)) (\(String(format: "%.2f", lossPercent)) %), jitter \(jitterMicroseconds) us"
    }
}

/// The synthetic SRTP test stream (`--media test-stream`, and the tests' own parties): one UDP socket, the
/// session's keys and suite, RTP packets of a fixed size at a fixed rate to the relay, and RFC 3550 statistics
/// of what comes back. No codec and no child process: for scripts and for tests of the signaling and the
/// relay, where decoding pictures would only cost time.
///
/// It first sends probe packets (another SSRC and payload type) until one arrives from the far side, so that
/// both legs are latched before the counted stream starts: the relay drops a packet whose other leg has not
/// latched yet (docs/relay.md).
public final class TestMedia: @unchecked Sendable {
    // @unchecked Sendable is safe: `fd`, the SRTP contexts and the statistics are used only by the thread
    // that runs `run`; other threads touch only `stopRequested` (a locked box).
    static let streamPayloadType: UInt8 = 96
    static let probePayloadType: UInt8 = 97
    public static let packetsPerSecond = 50
    static let payloadOctets = 160

    private let fd: Int32
    private let relayAddress: UInt32
    private let relayPort: UInt16
    private let sender: SRTPContext
    private let receiver: SRTPContext
    private let ssrc: UInt32
    private let stopRequested = NIOLockedValueBox(false)
    private let live = NIOLockedValueBox(MediaReport())

    /// Opens the socket and the SRTP contexts for `started`.
    public init(_ started: Luukku_V1_SessionStarted) throws(MediaError) {
        relayAddress = try started.relayAddress()
        relayPort = UInt16(clamping: started.relayPort)
        (_, sender, receiver) = try started.srtpContexts()
        var bound: UInt16 = 0
        let fd = luukku_udp_open(0, 0, 0, &bound)
        guard fd >= 0 else { throw MediaError("cannot open a UDP socket: \(String(cString: strerror(-fd)))") }
        self.fd = fd
        ssrc = UInt32.random(in: 1...UInt32.max - 1)
    }

    deinit { _ = luukku_close(fd) }

    /// The figures so far, refreshed once a second while `run` streams (the console shows them live).
    public var progress: MediaReport { live.withLockedValue { $0 } }

    /// Asks `run` to stop after the packet due now.
    public func stop() { stopRequested.withLockedValue { $0 = true } }

    /// ``run(count:linger:probeLimit:)`` on a thread of its own (it blocks; Swift's cooperative pool has only
    /// one thread per core and must not be held).
    public func stream(count: Int?, linger: Duration = .milliseconds(500), probeLimit: Duration = .seconds(10))
        async throws(MediaError) -> MediaReport
    {
        let result: Result<MediaReport, MediaError> = await withCheckedContinuation { done in
            Thread.detachNewThread {
                do {
                    done.resume(returning: .success(try self.run(count: count, linger: linger, probeLimit: probeLimit)))
                } catch let error as MediaError {
                    done.resume(returning: .failure(error))
                } catch {
                    done.resume(returning: .failure(MediaError("\(error)")))
                }
            }
        }
        return try result.get()
    }

    /// Sends `count` stream packets (or until ``stop()`` when nil) at ``packetsPerSecond`` while receiving,
    /// then listens `linger` more for packets still on their way. Blocks the calling thread.
    /// - Throws: ``MediaError`` when nothing comes back from the relay within `probeLimit`.
    public func run(count: Int?, linger: Duration = .milliseconds(500), probeLimit: Duration = .seconds(10)) throws
        -> MediaReport
    {
        var report = MediaReport()
        var statistics = RTPReceiveStatistics()
        var heardPeer = false
        var buffer = [UInt8](repeating: 0, count: 1_500)
        let interval = UInt64(1_000_000_000 / Self.packetsPerSecond)
        let start = luukku_monotonic_ns()
        var nextSend = start
        var sequence: UInt16 = 0
        var probeSequence: UInt16 = 0
        var lingerUntil: UInt64?
        while true {
            let now = luukku_monotonic_ns()
            if let until = lingerUntil, now >= until { break }
            if lingerUntil == nil, now >= nextSend {
                let stopping = stopRequested.withLockedValue { $0 }
                if heardPeer {
                    if let count, report.sent >= count || stopping {
                        lingerUntil =
                            now + UInt64(linger.components.seconds) * 1_000_000_000
                            + UInt64(linger.components.attoseconds / 1_000_000_000)
                    } else if count == nil && stopping {
                        lingerUntil = now
                    } else {
                        try send(&buffer, payloadType: Self.streamPayloadType, ssrc: ssrc, sequence: sequence)
                        sequence &+= 1
                        report.sent += 1
                        if report.sent % Self.packetsPerSecond == 0 {
                            let figures = Self.figures(report, statistics)
                            live.withLockedValue { $0 = figures }
                        }
                    }
                } else {
                    if Duration.nanoseconds(Int64(now - start)) > probeLimit {
                        throw MediaError("no media came back from the relay within \(probeLimit)")
                    }
                    if stopping { break }
                    try send(&buffer, payloadType: Self.probePayloadType, ssrc: ssrc ^ 1, sequence: probeSequence)
                    probeSequence &+= 1
                    report.probesSent += 1
                }
                nextSend += interval
            }
            let wakeAt = lingerUntil ?? nextSend
            let wait = wakeAt > now ? wakeAt - now : 0
            if luukku_wait_readable_ns(fd, wait) > 0 {
                receiveAll(&buffer, &statistics, &report, &heardPeer)
            }
        }
        report = Self.figures(report, statistics)
        live.withLockedValue { $0 = report }
        return report
    }

    /// The report with the RFC 3550 figures of `statistics` filled in.
    private static func figures(_ report: MediaReport, _ statistics: RTPReceiveStatistics) -> MediaReport {
        var report = report
        report.received = statistics.received
        report.expected = statistics.expected
        report.lost = statistics.lost
        report.jitterMicroseconds = UInt64(statistics.jitter) * 1_000_000 / 90_000
        return report
    }

    private func send(_ buffer: inout [UInt8], payloadType: UInt8, ssrc: UInt32, sequence: UInt16) throws {
        let timestamp = UInt32(truncatingIfNeeded: UInt64(sequence) * 90_000 / UInt64(Self.packetsPerSecond))
        let header: [UInt8] = [
            0x80, payloadType, UInt8(sequence >> 8), UInt8(sequence & 0xFF),
            UInt8(timestamp >> 24), UInt8((timestamp >> 16) & 0xFF), UInt8((timestamp >> 8) & 0xFF),
            UInt8(timestamp & 0xFF),
            UInt8(ssrc >> 24), UInt8((ssrc >> 16) & 0xFF), UInt8((ssrc >> 8) & 0xFF), UInt8(ssrc & 0xFF),
        ]
        let length = header.count + Self.payloadOctets
        for index in 0..<header.count { buffer[index] = header[index] }
        for index in header.count..<length { buffer[index] = UInt8(truncatingIfNeeded: index &+ Int(sequence)) }
        let protected = try buffer.withUnsafeMutableBytes { try sender.protect($0, length: length) }
        _ = buffer.withUnsafeBytes { raw in
            luukku_udp_send(
                fd, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(protected), relayAddress, relayPort)
        }
    }

    private func receiveAll(
        _ buffer: inout [UInt8], _ statistics: inout RTPReceiveStatistics, _ report: inout MediaReport,
        _ heardPeer: inout Bool
    ) {
        while true {
            var address: UInt32 = 0
            var port: UInt16 = 0
            let length = buffer.withUnsafeMutableBytes { raw in
                luukku_udp_receive(
                    fd, raw.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(raw.count), &address, &port)
            }
            guard length > 0 else { return }
            guard address == relayAddress, port == relayPort else { continue }
            let arrival = UInt32(truncatingIfNeeded: luukku_monotonic_ns() / 11_111)  // 90 kHz units
            let plain: Int
            do {
                plain = try buffer.withUnsafeMutableBytes { try receiver.unprotect($0, length: Int(length)) }
            } catch {
                report.rejected += 1
                continue
            }
            let header = buffer.withUnsafeBytes { RTPHeader(UnsafeRawBufferPointer(rebasing: $0[0..<plain])) }
            guard let header else { continue }
            heardPeer = true
            if header.payloadType == Self.streamPayloadType {
                report.arrived += 1
                statistics.record(sequence: header.sequenceNumber, timestamp: header.timestamp, arrival: arrival)
            }
        }
    }
}
