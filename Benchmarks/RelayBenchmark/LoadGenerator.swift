import CRelayIO
import Foundation
import Glibc
import Histogram
import LuukkuCore
import LuukkuRelay
import Synchronization

/// One relay session as the load generator sees it: where A's packets go, with which key (nil: plain RTP,
/// for the floor forwarder), and how B latches (a key: one SRTP packet from the receive socket; "plain": one
/// plain packet; none: the relay knows B's address from SDP, as rtpengine does).
struct BenchSession {
    let aPort: UInt16
    let bPort: UInt16
    let sendKey: SRTPKeyingMaterial?
    let latch: Latch

    enum Latch {
        case srtp(SRTPKeyingMaterial)
        case plain
        case none
    }

    /// `aPort bPort suite aKey bKey`, with `-` for no suite or key and `plain` for a plain latch packet.
    init?(line: Substring) {
        let fields = line.split(separator: " ").map(String.init)
        guard fields.count == 5, let aPort = UInt16(fields[0]), let bPort = UInt16(fields[1]) else { return nil }
        self.aPort = aPort
        self.bPort = bPort
        let suite = SRTPSuite(rawValue: fields[2])
        func key(_ text: String) -> SRTPKeyingMaterial? {
            guard let suite, let bytes = Data(base64Encoded: text) else { return nil }
            return try? SRTPKeyingMaterial(suite: suite, bytes: Array(bytes))
        }
        sendKey = key(fields[3])
        if fields[4] == "plain" {
            latch = .plain
        } else if let latchKey = key(fields[4]) {
            latch = .srtp(latchKey)
        } else {
            latch = .none
        }
    }
}

/// The generator's fixed ports: A's packets leave from 37,000, everything comes back to 38,000 (rtpengine gets
/// them in the SDP).
enum GeneratorPorts {
    static let send: UInt16 = 37_000
    static let receive: UInt16 = 38_000
    static let loopback: UInt32 = 0x7F00_0001
}

/// Paced SRTP load: many sessions, each a video stream of 1,200-octet RTP packets and an audio stream of
/// 200-octet packets (4 to 1), at a fixed total rate.
///
/// Each step's packets are made (and SRTP-protected) before the step starts, so that during the step the
/// generator's one core only sends and receives: protecting on the fly capped it near 150,000 packets/s,
/// below what the relays can do. Packet n is due at n / rate seconds after the step starts; its RTP timestamp
/// is that offset in microseconds (authenticated but not encrypted, and kept by every relay), so the receiver
/// reads each packet's time through the relay, from when it was due, without decrypting. One thread sends
/// what is due and reads what came back, in one loop (two threads on one core measured the scheduler, not the
/// relay). The SSRC carries the step number, so late packets of one step are not counted in the next.
final class LoadGenerator {
    let sessions: [BenchSession]
    let name: String
    let relayPID: Int32
    let sendFD: Int32
    let receiveFD: Int32
    let contexts: [SRTPContext?]
    var step: UInt8 = 0
    var sequences: [UInt16]

    init(sessionsFile: String, name: String, relayPID: Int32) {
        let text = (try? String(contentsOfFile: sessionsFile, encoding: .utf8)) ?? ""
        sessions = text.split(separator: "\n").compactMap(BenchSession.init(line:))
        guard !sessions.isEmpty else { fatalError("no sessions in \(sessionsFile)") }
        self.name = name
        self.relayPID = relayPID
        var bound: UInt16 = 0
        sendFD = luukku_udp_open(GeneratorPorts.loopback, GeneratorPorts.send, 8 << 20, &bound)
        receiveFD = luukku_udp_open(GeneratorPorts.loopback, GeneratorPorts.receive, 8 << 20, &bound)
        guard sendFD >= 0, receiveFD >= 0 else { fatalError("cannot bind the generator's ports 37000/38000") }
        contexts = sessions.map { session in
            session.sendKey.flatMap { try? SRTPContext(keyingMaterial: $0, direction: .outbound) }
        }
        sequences = [UInt16](repeating: 0, count: sessions.count * 2)
    }

    /// The sweep: steps at increasing rates until one loses more than 0.1 % or cannot be sent; prints each step
    /// and `result NAME max_kpps=...` (the highest rate that passed).
    func sweep(rates: [Int], seconds: Double) {
        _ = luukku_set_timer_slack_ns(1_000)  // wake on time for the next due packet
        latchB()
        print("# \(name): \(sessions.count) sessions, steps of \(seconds) s")
        var best = 0
        for rate in rates {
            let result = runStep(rate: rate, seconds: seconds)
            print(result.line(name))
            fflush(nil)
            guard result.passed else { break }
            best = rate
        }
        print("result \(name) max_kpps=\(String(format: "%.1f", Double(best) / 1_000))")
    }

    /// One step at `rate` on a relay that has not been overloaded: prints `latency NAME ...` with CPU per packet,
    /// p50 and p99, loss, and the length of the video packets as they come back.
    func latency(rate: Int, seconds: Double) {
        _ = luukku_set_timer_slack_ns(1_000)
        latchB()
        let measured = runStep(rate: rate, seconds: seconds)
        print(measured.line(name) + " (latency run)")
        print(
            "latency \(name) cpu_us=\(String(format: "%.2f", measured.cpuMicrosecondsPerPacket))"
                + " p50_us=\(measured.p50) p99_us=\(measured.p99)"
                + " latency_at_kpps=\(String(format: "%.1f", Double(rate) / 1_000))"
                + " latency_loss_pct=\(String(format: "%.3f", measured.lossPercent))"
                + " wire_video_octets=\(measured.videoWireLength)")
    }

    struct StepResult {
        let rate: Int
        let sent: Int
        let achieved: Double
        let received: Int
        let cpuMicrosecondsPerPacket: Double
        let p50: UInt64
        let p99: UInt64
        /// Length of the video packets as they arrive from the relay: shows the suite it protected with.
        let videoWireLength: Int
        var lossPercent: Double { sent == 0 ? 100 : Double(max(0, sent - received)) * 100 / Double(sent) }
        /// At most 0.1 % lost, and the generator really sent at the asked rate.
        var passed: Bool { lossPercent <= 0.1 && achieved >= Double(rate) * 0.98 }

        func line(_ name: String) -> String {
            "step \(name) rate=\(rate) achieved=\(Int(achieved)) sent=\(sent) received=\(received)"
                + " loss_pct=\(String(format: "%.3f", lossPercent))"
                + " cpu_us=\(String(format: "%.2f", cpuMicrosecondsPerPacket)) p50_us=\(p50) p99_us=\(p99)"
                + (passed ? "" : " FAIL")
        }
    }

    /// B latches on the receive socket: one packet per session, then a pause for the relay to read them.
    func latchB() {
        for session in sessions {
            var packet: [UInt8] = [0x80, 13, 0, 1, 0, 0, 0, 0, 0xFE, 0xED, 0, 0, 0] + [UInt8](repeating: 0, count: 160)
            var length = 13
            switch session.latch {
            case .none: continue
            case .plain: break
            case .srtp(let key):
                guard let context = try? SRTPContext(keyingMaterial: key, direction: .outbound),
                    let sealed = try? packet.withUnsafeMutableBytes({ try context.protect($0, length: 13) })
                else { fatalError("cannot protect the latch packet") }
                length = sealed
            }
            _ = luukku_udp_send(receiveFD, packet, UInt32(length), GeneratorPorts.loopback, session.bPort)
        }
        usleep(300_000)
    }

    /// CPU time of the relay process so far (user + system, all threads), microseconds.
    func relayCPUMicroseconds() -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(relayPID)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: utime and stime are fields 14 and 15 of proc(5), 12th and 13th here.
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) * 1_000_000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Makes (and protects) every packet of a step: returns the octets, each packet's offset, length and
    /// destination port.
    func makePackets(rate: Int, count: Int) -> (octets: [UInt8], offsets: [Int], lengths: [UInt32], ports: [UInt16]) {
        let slot = 1_200 + SRTPContext.trailerSpace
        var octets = [UInt8](repeating: 0xA5, count: count * slot)
        var offsets = [Int](repeating: 0, count: count)
        var lengths = [UInt32](repeating: 0, count: count)
        var ports = [UInt16](repeating: 0, count: count)
        var offset = 0
        octets.withUnsafeMutableBytes { raw in
            for number in 0..<count {
                let sessionIndex = number % sessions.count
                let audio = (number / sessions.count) % 5 == 4
                let length = audio ? 200 : 1_200
                let packet = UnsafeMutableRawBufferPointer(
                    rebasing: raw[offset..<offset + length + SRTPContext.trailerSpace])
                let stream = sessionIndex * 2 + (audio ? 1 : 0)
                let sequence = sequences[stream]
                sequences[stream] = sequence &+ 1
                let due = UInt32(truncatingIfNeeded: number * 1_000_000 / rate)
                packet[0] = 0x80
                packet[1] = audio ? 111 : 96
                packet[2] = UInt8(sequence >> 8)
                packet[3] = UInt8(sequence & 0xFF)
                packet.storeBytes(of: due.bigEndian, toByteOffset: 4, as: UInt32.self)
                packet[8] = step
                packet[9] = UInt8(truncatingIfNeeded: sessionIndex >> 8)
                packet[10] = UInt8(truncatingIfNeeded: sessionIndex)
                packet[11] = audio ? 1 : 0
                var wire = length
                if let context = contexts[sessionIndex] {
                    guard let sealed = try? context.protect(packet, length: length) else { fatalError("protect") }
                    wire = sealed
                }
                offsets[number] = offset
                lengths[number] = UInt32(wire)
                ports[number] = sessions[sessionIndex].aPort
                offset += wire
            }
        }
        return (octets, offsets, lengths, ports)
    }

    func runStep(rate: Int, seconds: Double) -> StepResult {
        step &+= 1
        let count = Int(Double(rate) * seconds)
        let (octets, offsets, lengths, ports) = makePackets(rate: rate, count: count)
        guard let outbox = luukku_outbox_new(32), let batch = luukku_batch_new(64, 2_048) else { fatalError("batch") }
        defer {
            luukku_outbox_free(outbox)
            luukku_batch_free(batch)
        }
        var latency = Histogram<UInt64>(highestTrackableValue: 10_000_000, numberOfSignificantValueDigits: .three)
        var received = 0
        var videoWireLength = 0
        let cpuBefore = relayCPUMicroseconds()
        let start = luukku_monotonic_ns()
        var sent = 0
        var lastSend = start
        octets.withUnsafeBufferPointer { bytes in
            while true {
                let now = luukku_monotonic_ns()
                if sent < count {
                    let due = min(count, Int(Double(now - start) * Double(rate) / 1e9))
                    if due > sent {
                        let batchCount = min(32, due - sent)
                        for index in 0..<batchCount {
                            let number = sent + index
                            luukku_outbox_set(
                                outbox, UInt32(index), bytes.baseAddress! + offsets[number], lengths[number],
                                GeneratorPorts.loopback, ports[number])
                        }
                        var done = 0
                        while done < batchCount {  // a full send buffer pushes back: retry the unsent tail
                            let result = Int(luukku_outbox_send_from(sendFD, outbox, UInt32(done), UInt32(batchCount)))
                            if result > 0 { done += result } else { sched_yield() }
                        }
                        sent += batchCount
                        lastSend = luukku_monotonic_ns()
                    }
                } else if now - lastSend > 300_000_000 {
                    break  // stragglers have had their time
                }
                // Read what came back; with nothing to read and nothing due, sleep until the next packet is due
                // (spinning here kept the kernel's deferred network work, ksoftirqd, off this CPU for whole
                // scheduler slices, and that showed as milliseconds of latency for every relay, the floor too).
                var readAny = false
                for _ in 0..<4 {
                    let got = Int(luukku_batch_receive(receiveFD, batch, 64, 2_048))
                    if got <= 0 {
                        if !readAny {
                            let nextDue = start + UInt64(Double(sent + 1) * 1e9 / Double(rate))
                            let current = luukku_monotonic_ns()
                            let wait = sent < count ? (nextDue > current ? nextDue - current : 0) : 10_000_000
                            if wait > 0 { _ = luukku_wait_readable_ns(receiveFD, wait) }
                        }
                        break
                    }
                    readAny = true
                    let elapsedMicros = Int64((luukku_monotonic_ns() - start) / 1_000)
                    for index in 0..<UInt32(got) {
                        let packet = luukku_batch_buffer(batch, index)!
                        let length = Int(luukku_batch_length(batch, index))
                        guard length >= 12, packet[8] == step else { continue }
                        received += 1
                        if packet[1] & 0x7F == 96 { videoWireLength = length }
                        let due = Int64(
                            UInt32(packet[4]) << 24 | UInt32(packet[5]) << 16 | UInt32(packet[6]) << 8
                                | UInt32(packet[7]))
                        latency.record(UInt64(max(0, elapsedMicros - due)))
                    }
                }
            }
        }
        let cpu = relayCPUMicroseconds() - cpuBefore
        let elapsed = Double(lastSend - start) / 1e9
        return StepResult(
            rate: rate, sent: sent, achieved: Double(sent) / max(elapsed, 1e-9), received: received,
            cpuMicrosecondsPerPacket: received == 0 ? 0 : cpu / Double(received),
            p50: latency.totalCount == 0 ? 0 : latency.valueAtPercentile(50),
            p99: latency.totalCount == 0 ? 0 : latency.valueAtPercentile(99), videoWireLength: videoWireLength)
    }
}
