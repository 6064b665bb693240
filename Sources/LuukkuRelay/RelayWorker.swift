import CRelayIO
import Glibc
import Synchronization

/// One relay thread: an epoll loop over the sockets of the sessions it owns. Both legs of a session belong to
/// the same worker, so a packet is read, checked, re-protected and sent on one thread with no locks; the
/// only lock is the command queue, taken when a session opens or closes or a snapshot is asked for.
final class RelayWorker: @unchecked Sendable {
    /// A session handed to the worker. Its legs were made on the caller's thread and are used only by the
    /// worker from then on (hence `@unchecked Sendable`).
    struct Session: @unchecked Sendable {
        let id: UInt64
        let a: RelayLeg
        let b: RelayLeg
    }

    enum Command: @unchecked Sendable {
        case open(Session)
        case close(UInt64, SessionEnd, CheckedContinuation<SessionSnapshot?, Never>?)
        case snapshot(UInt64, CheckedContinuation<SessionSnapshot?, Never>)
        case stop
    }

    static let wakeTag = UInt64.max
    let configuration: RelayConfiguration
    let pool: PortPool
    let directory: SessionDirectory
    let onSessionEnd: @Sendable (UInt64, SessionEnd, SessionSnapshot) -> Void
    let onLatch: @Sendable (LatchEvent) -> Void
    let epoll: Int32
    let wake: Int32
    /// Pending commands, and whether the loop has ended (then nothing more is queued).
    private let commands = Mutex<(queue: [Command], ended: Bool)>(([], false))
    var thread = pthread_t()

    // Worker-thread state.
    private var legs: [RelayLeg?] = []
    private var freeSlots: [Int] = []
    private var sessions: [UInt64: (session: Session, slotA: Int, slotB: Int)] = [:]
    private let batch: OpaquePointer
    private let outbox: OpaquePointer
    private let bufferSize: Int
    private let receiveSize: Int
    private var lastSweep: UInt64 = 0
    /// Lengths of the packets in the outbox, for the byte counter once the kernel took them.
    private var outgoingLengths: [Int]

    init(
        configuration: RelayConfiguration, pool: PortPool, directory: SessionDirectory,
        onSessionEnd: @escaping @Sendable (UInt64, SessionEnd, SessionSnapshot) -> Void,
        onLatch: @escaping @Sendable (LatchEvent) -> Void
    ) throws(RelayError) {
        self.configuration = configuration
        self.pool = pool
        self.directory = directory
        self.onSessionEnd = onSessionEnd
        self.onLatch = onLatch
        // 1,500 octets of datagram (a receive larger than that is cut and dropped as malformed), then
        // room for the largest SRTP trailer the outbound suite may add when the inbound one added less.
        outgoingLengths = [Int](repeating: 0, count: configuration.batchSize)
        receiveSize = 1_500 + SRTPContext.trailerSpace
        bufferSize = receiveSize + SRTPContext.trailerSpace
        let epoll = luukku_epoll_create()
        let wake = luukku_eventfd_create()
        let added = epoll >= 0 && wake >= 0 ? luukku_epoll_add(epoll, wake, Self.wakeTag) : -EBADF
        let batch = luukku_batch_new(UInt32(configuration.batchSize), UInt32(bufferSize))
        let outbox = luukku_outbox_new(UInt32(configuration.batchSize))
        guard epoll >= 0, wake >= 0, added == 0, let batch, let outbox else {
            let error = epoll < 0 ? -epoll : wake < 0 ? -wake : added < 0 ? -added : ENOMEM
            if epoll >= 0 { _ = luukku_close(epoll) }
            if wake >= 0 { _ = luukku_close(wake) }
            luukku_batch_free(batch)
            luukku_outbox_free(outbox)
            throw RelayError(.system("epoll, eventfd or batch buffers", error))
        }
        self.epoll = epoll
        self.wake = wake
        self.batch = batch
        self.outbox = outbox
    }

    deinit {
        luukku_batch_free(batch)
        luukku_outbox_free(outbox)
        _ = luukku_close(epoll)
        _ = luukku_close(wake)
    }

    /// Queues a command for the worker's thread. After the worker has stopped, the command is answered at once
    /// instead: a session is closed on the spot, a reply gets nil.
    /// - Returns: false when the worker had stopped and the command was answered at once.
    @discardableResult
    func send(_ command: Command) -> Bool {
        let queued = commands.withLock { state -> Bool in
            guard !state.ended else { return false }
            state.queue.append(command)
            return true
        }
        if queued {
            luukku_eventfd_signal(wake)
        } else {
            refuse(command)
        }
        return queued
    }

    /// Answers a command the loop will never run.
    private func refuse(_ command: Command) {
        switch command {
        case .open(let session):
            for leg in [session.a, session.b] {
                _ = luukku_close(leg.fd)
                pool.give(leg.port)
            }
            directory.forget(session.id)
        case .close(_, _, let reply): reply?.resume(returning: nil)
        case .snapshot(_, let reply): reply.resume(returning: nil)
        case .stop: break
        }
    }

    // MARK: - The loop

    func run() {
        var tags = [UInt64](repeating: 0, count: 64)
        var running = true
        while running {
            let ready = tags.withUnsafeMutableBufferPointer { luukku_epoll_wait(epoll, $0.baseAddress, 64, 250) }
            let now = luukku_monotonic_ns()
            for index in 0..<max(0, Int(ready)) {
                let tag = tags[index]
                if tag == Self.wakeTag {
                    luukku_eventfd_drain(wake)
                    running = runCommands(now: now)
                } else if Int(tag) < legs.count, let leg = legs[Int(tag)] {
                    drain(leg, now: now)
                }
            }
            if now &- lastSweep >= 250_000_000 {
                lastSweep = now
                sweepSilentSessions(now: now)
            }
        }
        // Commands that came in with or after the stop: sessions opened before it still run their course
        // (they end below, reported); nothing is queued any more after this.
        let late = commands.withLock { state -> [Command] in
            state.ended = true
            defer { state.queue.removeAll() }
            return state.queue
        }
        for command in late {
            if case .open(let session) = command {
                sessions[session.id] = (session, place(session.a), place(session.b))
            } else {
                refuse(command)
            }
        }
        for id in Array(sessions.keys) { finish(id, reason: .relayStopped, reply: nil) }
    }

    /// Reads the leg's socket in batches (at most 8 per wake-up, so one busy leg cannot starve the others;
    /// epoll is level-triggered and comes back to it).
    private func drain(_ leg: RelayLeg, now: UInt64) {
        let ntpNow = luukku_ntp_middle_now()
        for _ in 0..<8 {
            let received = Int(
                luukku_batch_receive(leg.fd, batch, UInt32(configuration.batchSize), UInt32(receiveSize)))
            if received <= 0 { return }
            var outgoing: UInt32 = 0
            for index in 0..<received {
                let length = relay(packet: UInt32(index), from: leg, now: now, ntpNow: ntpNow)
                if length > 0, let partner = leg.partner {
                    luukku_outbox_set(
                        outbox, outgoing, luukku_batch_buffer(batch, UInt32(index)), UInt32(length),
                        partner.latchedAddress, partner.latchedPort)
                    outgoingLengths[Int(outgoing)] = length
                    outgoing += 1
                }
            }
            if outgoing > 0, let partner = leg.partner {
                // sendmmsg sends in order: the first `sent` went out, the rest were refused.
                let sent = Int(max(0, luukku_outbox_send(partner.fd, outbox, outgoing)))
                partner.counters.packetsOut += UInt64(sent)
                for index in 0..<sent { partner.counters.bytesOut += UInt64(outgoingLengths[index]) }
                partner.counters.sendFailures += UInt64(Int(outgoing) - sent)
            }
            if received < configuration.batchSize { return }
        }
    }

    /// Checks one received packet and re-protects it for the partner in place. Returns the length to send, or
    /// 0 when the packet was dropped (and counted).
    @inline(__always)
    private func relay(packet index: UInt32, from leg: RelayLeg, now: UInt64, ntpNow: UInt32) -> Int {
        let length = Int(luukku_batch_length(batch, index))
        let buffer = UnsafeMutableRawBufferPointer(start: luukku_batch_buffer(batch, index), count: bufferSize)
        guard luukku_batch_truncated(batch, index) == 0,
            let kind = RTPHeader.kind(of: UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
        else {
            leg.counters.drop(.malformed)
            return 0
        }
        let isRTCP = kind == .rtcp
        let plainLength: Int
        do {
            plainLength = try leg.inbound.unprotect(buffer, length: length, kind: isRTCP ? .rtcp : .rtp)
        } catch {
            leg.counters.drop(DropReason(error))
            return 0
        }
        // Authenticated: the source may latch or move the latch (only now, so a forged, replayed or off-path
        // packet can never redirect media).
        let address = luukku_batch_address(batch, index)
        let port = luukku_batch_port(batch, index)
        if !leg.isLatched || leg.latchedAddress != address || leg.latchedPort != port {
            let moved = leg.isLatched
            leg.isLatched = true
            leg.latchedAddress = address
            leg.latchedPort = port
            if moved { leg.counters.relatches += 1 }
            onLatch(
                LatchEvent(
                    session: leg.session, side: leg.side, endpoint: RelayEndpoint(address: address, port: port),
                    moved: moved))
        }
        leg.lastAuthenticated = now
        leg.counters.packetsIn += 1
        leg.counters.bytesIn += UInt64(length)
        let plain = UnsafeRawBufferPointer(rebasing: buffer[0..<plainLength])
        if isRTCP {
            leg.recordRTCP(plain, ntpNow: ntpNow)
        } else if let header = RTPHeader(plain) {
            leg.recordRTP(header, now: now)
        }
        guard leg.bucket.take(1, now: now) else {
            leg.counters.drop(.overRate)
            return 0
        }
        guard let partner = leg.partner, partner.isLatched else {
            leg.counters.drop(.notLatched)
            return 0
        }
        if isRTCP { partner.noteForwardedSenderReports(plain, ntpNow: ntpNow) }
        do {
            return try partner.outbound.protect(buffer, length: plainLength, kind: isRTCP ? .rtcp : .rtp)
        } catch {
            partner.counters.sendFailures += 1
            return 0
        }
    }

    // MARK: - Sessions

    private func runCommands(now: UInt64) -> Bool {
        let pending = commands.withLock { state -> [Command] in
            defer { state.queue.removeAll(keepingCapacity: true) }
            return state.queue
        }
        var keepRunning = true
        for command in pending {
            switch command {
            case .open(let session):
                // Silence counts from now on this worker's clock (the caller's reading may be later than `now`).
                session.a.lastAuthenticated = now
                session.b.lastAuthenticated = now
                session.a.session = session.id
                session.b.session = session.id
                session.b.side = .b
                let slotA = place(session.a)
                let slotB = place(session.b)
                session.a.partner = session.b
                session.b.partner = session.a
                sessions[session.id] = (session, slotA, slotB)
                _ = luukku_epoll_add(epoll, session.a.fd, UInt64(slotA))
                _ = luukku_epoll_add(epoll, session.b.fd, UInt64(slotB))
            case .close(let id, let reason, let reply):
                finish(id, reason: reason, reply: reply)
            case .snapshot(let id, let reply):
                reply.resume(returning: sessions[id].map { Self.snapshot($0.session) })
            case .stop:
                keepRunning = false
            }
        }
        return keepRunning
    }

    private func place(_ leg: RelayLeg) -> Int {
        if let slot = freeSlots.popLast() {
            legs[slot] = leg
            return slot
        }
        legs.append(leg)
        return legs.count - 1
    }

    private static func snapshot(_ session: Session) -> SessionSnapshot {
        SessionSnapshot(session: session.id, a: session.a.snapshot(), b: session.b.snapshot())
    }

    /// Ends a session: its sockets close, its ports go back to the pool, and the relay's owner hears why.
    private func finish(_ id: UInt64, reason: SessionEnd, reply: CheckedContinuation<SessionSnapshot?, Never>?) {
        guard let entry = sessions.removeValue(forKey: id) else {
            reply?.resume(returning: nil)
            return
        }
        // Datagrams still queued on the legs' sockets are for a session that is over: counted, not relayed.
        for leg in [entry.session.a, entry.session.b] {
            for _ in 0..<64 {  // bounded: a flood at close must not hold the worker
                let late = Int(luukku_batch_receive(leg.fd, batch, UInt32(configuration.batchSize), 0))
                if late <= 0 { break }
                for _ in 0..<late { leg.counters.drop(.unknownPort) }
            }
        }
        let snapshot = Self.snapshot(entry.session)
        for (leg, slot) in [(entry.session.a, entry.slotA), (entry.session.b, entry.slotB)] {
            _ = luukku_epoll_remove(epoll, leg.fd)
            _ = luukku_close(leg.fd)
            pool.give(leg.port)
            leg.partner = nil
            legs[slot] = nil
            freeSlots.append(slot)
        }
        directory.forget(id)
        reply?.resume(returning: snapshot)
        onSessionEnd(id, reason, snapshot)
    }

    private func sweepSilentSessions(now: UInt64) {
        let timeout = configuration.mediaSilenceTimeoutNanoseconds
        let silent = sessions.values.filter { entry in
            let last = max(entry.session.a.lastAuthenticated, entry.session.b.lastAuthenticated)
            return now > last && now - last >= timeout
        }
        for entry in silent { finish(entry.session.id, reason: .mediaSilence, reply: nil) }
    }
}
