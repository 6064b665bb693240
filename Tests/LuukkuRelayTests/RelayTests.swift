import CRelayIO
import LuukkuCore
import LuukkuRelay
import Synchronization
import Testing

/// The relay over real loopback UDP sockets and real libsrtp: latching, forwarding both ways with
/// transcrypting, drops by reason, re-latching, rate limits, RTCP, silence teardown and the port pool.
@Suite struct RelayTests {
    static func configuration(
        ports: ClosedRange<UInt16>, silence: UInt64 = 60_000_000_000, rate: UInt64 = 2_500, burst: UInt64 = 1_000
    ) -> RelayConfiguration {
        RelayConfiguration(
            bindAddress: "127.0.0.1", ports: ports, workers: 2, packetsPerSecond: rate, burstPackets: burst,
            mediaSilenceTimeoutNanoseconds: silence)
    }

    /// A session with both peers latched: B sends first (dropped: A is not latched yet), then A.
    static func latchedSession(
        _ relay: Relay, id: UInt64, suiteA: SRTPSuite = .aesCM128HMACSHA1_80, suiteB: SRTPSuite = .aeadAES128GCM
    ) async throws -> (a: RelayPeer, b: RelayPeer) {
        let keysA = LegKeys.random(suite: suiteA)
        let keysB = LegKeys.random(suite: suiteB)
        let ports = try relay.open(session: id, a: keysA, b: keysB)
        let a = try RelayPeer(keys: keysA, relayPort: ports.a, ssrc: 0xA)
        let b = try RelayPeer(keys: keysB, relayPort: ports.b, ssrc: 0xB)
        try b.send(b.nextRTP())
        let first = try await relay.waitFor(session: id) { $0.b.latched != nil }
        #expect(first.b.counters.drops(.notLatched) == 1, "A had no address yet: B's first packet has nowhere to go")
        try a.send(a.nextRTP())
        _ = try await relay.waitFor(session: id) { $0.a.latched != nil }
        let arrived = try #require(try b.receive())
        #expect(arrived.count == 212 && arrived[8..<12] == [0, 0, 0, 0xA])
        return (a, b)
    }

    @Test func forwardsBothWaysTranscryptingBetweenSuites() async throws {
        let relay = try Relay(configuration: Self.configuration(ports: 41_000...41_019))
        defer { relay.stop() }
        let (a, b) = try await Self.latchedSession(relay, id: 1)
        var sentByA: [[UInt8]] = []
        var sentByB: [[UInt8]] = []
        for _ in 0..<50 {
            sentByA.append(a.nextRTP(payload: 1_100))
            try a.send(sentByA.last!)
            sentByB.append(b.nextRTP(payload: 160))
            try b.send(sentByB.last!)
        }
        var atB: [[UInt8]] = []
        var atA: [[UInt8]] = []
        for _ in 0..<50 {
            atB.append(try #require(try b.receive()))
            atA.append(try #require(try a.receive()))
        }
        #expect(atB == sentByA, "A's packets reach B byte for byte after AES-CM -> GCM")
        #expect(atA == sentByB, "B's packets reach A byte for byte after GCM -> AES-CM")

        let snapshot = try #require(await relay.snapshot(session: 1))
        #expect(snapshot.a.latched == RelayEndpoint(address: RelayPeer.loopback, port: a.port))
        #expect(snapshot.b.latched == RelayEndpoint(address: RelayPeer.loopback, port: b.port))
        #expect(snapshot.a.counters.packetsIn == 51 && snapshot.a.counters.packetsOut == 50)
        #expect(snapshot.b.counters.packetsIn == 51 && snapshot.b.counters.packetsOut == 51)
        #expect(snapshot.a.counters.totalDrops == 0 && snapshot.b.counters.totalDrops == 1)
        let source = try #require(snapshot.a.sources.first)
        // RFC 3550 A.1: the first packet of a new source is on probation and not counted.
        #expect(source.ssrc == 0xA && source.payloadType == 96)
        #expect(source.received == 50 && source.expected == 50 && source.lost == 0)
        #expect(snapshot.a.counters.relatches == 0)
    }

    @Test func forgedReplayedMalformedAndOffPathPacketsNeverReachTheOtherSide() async throws {
        let relay = try Relay(configuration: Self.configuration(ports: 41_020...41_039))
        defer { relay.stop() }
        let (a, b) = try await Self.latchedSession(relay, id: 2)
        // An attacker on another port knows the relay port, and has captured one of A's packets.
        let captured = try a.send(a.nextRTP())
        #expect(try b.receive() != nil)
        let attacker = try RelayPeer(keys: .random(suite: .aesCM128HMACSHA1_80), relayPort: a.relayPort)
        try attacker.send(attacker.nextRTP())  // wrong key
        var forged = try a.seal(a.nextRTP())  // one A has not sent yet, with a bit flipped in the payload
        forged[20] ^= 0x40
        try attacker.sendRaw(forged)
        try attacker.sendRaw(captured)  // replayed from elsewhere
        try attacker.sendRaw([0x00, 0x01, 0x02])  // not RTP
        try attacker.sendRaw([UInt8](repeating: 0x80, count: 2_000))  // longer than the relay reads: cut, so malformed
        let after = try await relay.waitFor(session: 2) { $0.a.counters.totalDrops >= 5 }
        #expect(after.a.counters.drops(.authenticationFailed) == 2)
        #expect(after.a.counters.drops(.replayed) == 1)
        #expect(after.a.counters.drops(.malformed) == 2)
        #expect(after.a.latched == RelayEndpoint(address: RelayPeer.loopback, port: a.port), "latch did not move")
        #expect(after.a.counters.relatches == 0)
        // Nothing of the attacker's reached B: the next packet B gets is A's next one.
        let next = a.nextRTP()
        try a.send(next)
        #expect(try b.receive() == next)
        #expect(attacker.isQuiet, "nothing is ever sent to an address that has not authenticated")
    }

    @Test func anAuthenticatedPacketFromANewAddressMovesTheLatch() async throws {
        let relay = try Relay(configuration: Self.configuration(ports: 41_040...41_059))
        defer { relay.stop() }
        let (a, b) = try await Self.latchedSession(relay, id: 3)
        // A's NAT rebinds: same keys and stream, new source port.
        let rebound = try RelayPeer(sharing: a)
        let packet = a.nextRTP()
        try rebound.sendRaw(try a.seal(packet))
        #expect(try b.receive() == packet)
        let snapshot = try await relay.waitFor(session: 3) { $0.a.counters.relatches == 1 }
        #expect(snapshot.a.latched == RelayEndpoint(address: RelayPeer.loopback, port: rebound.port))
        // B's media now goes to the new address, not the old one.
        let reply = b.nextRTP()
        try b.send(reply)
        let received = try #require(try rebound.receive())
        #expect(received == reply)
        #expect(a.isQuiet)
    }

    @Test func packetsOverTheLegsRateAreDroppedAndCounted() async throws {
        // One packet a second after a burst of 5: of 40 sent at once, 5 (maybe 6 on a slow machine) pass.
        let relay = try Relay(configuration: Self.configuration(ports: 41_060...41_079, rate: 1, burst: 5))
        defer { relay.stop() }
        let keysA = LegKeys.random(suite: .aeadAES128GCM)
        let keysB = LegKeys.random(suite: .aeadAES128GCM)
        let ports = try relay.open(session: 4, a: keysA, b: keysB)
        let a = try RelayPeer(keys: keysA, relayPort: ports.a)
        for _ in 0..<40 { try a.send(a.nextRTP()) }
        let snapshot = try await relay.waitFor(session: 4) { $0.a.counters.packetsIn == 40 }
        let overRate = snapshot.a.counters.drops(.overRate)
        let notLatched = snapshot.a.counters.drops(.notLatched)
        #expect(overRate + notLatched == 40)
        #expect((34...35).contains(overRate), "burst 5, rate 1/s: \(overRate) over rate")
    }

    @Test func rtcpIsRelayedAndThePeersReportsGiveLossJitterAndRoundTrip() async throws {
        let relay = try Relay(configuration: Self.configuration(ports: 41_080...41_099))
        defer { relay.stop() }
        let (a, b) = try await Self.latchedSession(relay, id: 5)
        // A sends a sender report; the relay forwards it to B and notes when.
        let ntpMiddle: UInt32 = 0x1234_5678
        var senderReport: [UInt8] = [0x80, 200, 0x00, 0x06, 0, 0, 0, 0xA]
        senderReport += [0, 0, 0x12, 0x34, 0x56, 0x78, 0, 0]  // NTP: middle 32 bits 0x12345678
        senderReport += [0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]  // RTP timestamp, packets, octets
        try a.send(senderReport, kind: .rtcp)
        #expect(try b.receive(kind: .rtcp) == senderReport)
        // B answers with a receiver report on A's stream: 25/256 lost, 7 in all, jitter 90, LSR = that SR.
        var receiverReport: [UInt8] = [0x81, 201, 0x00, 0x07, 0, 0, 0, 0xB]
        receiverReport += [0, 0, 0, 0xA, 25, 0, 0, 7, 0, 0, 0, 60, 0, 0, 0, 90]
        receiverReport += withUnsafeBytes(of: ntpMiddle.bigEndian, Array.init) + [0, 0, 0, 0]
        try b.send(receiverReport, kind: .rtcp)
        #expect(try a.receive(kind: .rtcp) == receiverReport)
        let snapshot = try await relay.waitFor(session: 5) { !$0.b.peerReports.isEmpty }
        let report = try #require(snapshot.b.peerReports.first)
        #expect(report.ssrc == 0xA && report.fractionLost == 25 && report.cumulativeLost == 7 && report.jitter == 90)
        #expect(report.roundTripMicroseconds != nil, "B's report names the SR the relay forwarded to B")
    }

    @Test func silentSessionsEndAndFreeTheirPorts() async throws {
        let ended = Mutex<[(UInt64, SessionEnd)]>([])
        let (stream, continuation) = AsyncStream<UInt64>.makeStream()
        let relay = try Relay(
            configuration: Self.configuration(ports: 41_100...41_103, silence: 300_000_000),
            onSessionEnd: { id, reason, _ in
                ended.withLock { $0.append((id, reason)) }
                continuation.yield(id)
            })
        defer { relay.stop() }
        _ = try relay.open(session: 6, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        #expect(relay.pool.available == 2)
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next() == 6)
        #expect(ended.withLock { $0.map(\.1) } == [.mediaSilence])
        #expect(relay.pool.available == 4)
        #expect(relay.openSessions == 0)
        #expect(await relay.snapshot(session: 6) == nil)
    }

    @Test func thePortPoolRunsOutSkipsBusyPortsAndRefills() async throws {
        // Something else holds 41_111, the third port of the range.
        var held: UInt16 = 0
        let squatter = luukku_udp_open(RelayPeer.loopback, 41_111, 0, &held)
        try #require(squatter >= 0)
        defer { _ = luukku_close(squatter) }
        let relay = try Relay(configuration: Self.configuration(ports: 41_108...41_112))
        defer { relay.stop() }
        let first = try relay.open(session: 7, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        let second = try relay.open(session: 8, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        #expect(Set([first.a, first.b, second.a, second.b]) == [41_108, 41_109, 41_110, 41_112])
        #expect(throws: RelayError(.noFreePorts)) {
            try relay.open(session: 9, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        }
        #expect(throws: RelayError(.duplicateSession(7))) {
            try relay.open(session: 7, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        }
        // Three packets to leg A, then the close: each is accounted for, relayed-or-dropped while the session
        // ran (they carry a foreign key: authentication) or drained as for an ended session (unknown port).
        let peer = try RelayPeer(keys: .random(suite: .aeadAES128GCM), relayPort: first.a)
        for _ in 0..<3 {
            try peer.sendRaw([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1] + [UInt8](repeating: 0, count: 40))
        }
        let closed = try #require(await relay.close(session: 7))
        #expect(closed.a.port == first.a && closed.b.port == first.b)
        #expect(closed.a.counters.packetsIn + closed.a.counters.totalDrops == 3, "\(closed.a.counters)")
        #expect(await relay.close(session: 7) == nil)
        let third = try relay.open(session: 9, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        #expect(Set([third.a, third.b]) == Set([first.a, first.b]))
    }

    @Test func stoppingEndsEverySession() async throws {
        let reasons = Mutex<[SessionEnd]>([])
        let relay = try Relay(
            configuration: Self.configuration(ports: 41_120...41_129),
            onSessionEnd: { _, reason, _ in reasons.withLock { $0.append(reason) } })
        for id in 10..<13 as Range<UInt64> {
            _ = try relay.open(session: id, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        }
        relay.stop()
        #expect(reasons.withLock { $0 } == [.relayStopped, .relayStopped, .relayStopped])
        #expect(relay.pool.available == 10)
        #expect(relay.openSessions == 0)
        #expect(await relay.snapshot(session: 10) == nil, "answered at once, not left waiting on a stopped worker")
        #expect(await relay.close(session: 11) == nil)
        #expect(throws: RelayError(.stopped)) {
            try relay.open(session: 20, a: .random(suite: .aeadAES128GCM), b: .random(suite: .aeadAES128GCM))
        }
    }

    @Test func aBadBindAddressIsAClearError() {
        var configuration = Self.configuration(ports: 41_130...41_131)
        configuration.bindAddress = "relay.example"
        #expect(throws: RelayError(.badBindAddress("relay.example"))) { try Relay(configuration: configuration) }
    }
}
