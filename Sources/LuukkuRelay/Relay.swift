import CRelayIO
import Glibc
import LuukkuCore
import Synchronization

/// Why the relay could not do what was asked. Descriptions never carry keys.
public struct RelayError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// Every port of the configured range is in use.
        case noFreePorts
        /// `bindAddress` is not an IPv4 address.
        case badBindAddress(String)
        /// A session with this id is open already.
        case duplicateSession(UInt64)
        /// The relay was stopped.
        case stopped
        /// A system call failed: what was attempted and errno.
        case system(String, Int32)
        /// libsrtp refused the keys or could not start.
        case srtp(SRTPError)
    }

    public let code: Code
    public init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .noFreePorts: "relay: no free port left in the configured range"
        case .badBindAddress(let text): "relay: bind address \"\(text)\" is not an IPv4 address"
        case .duplicateSession(let id): "relay: session \(id) is open already"
        case .stopped: "relay: stopped"
        case .system(let what, let error): "relay: \(what) failed: \(String(cString: strerror(error)))"
        case .srtp(let error): "relay: \(error)"
        }
    }
}

/// Which worker holds each open session; shared by the relay and its workers (a worker forgets a session it
/// ends on its own, after media silence).
final class SessionDirectory: Sendable {
    private let state = Mutex<(stopped: Bool, workers: [UInt64: Int])>((false, [:]))

    func reserve(_ id: UInt64, worker: Int) throws(RelayError) {
        try state.withLock { state throws(RelayError) in
            guard !state.stopped else { throw RelayError(.stopped) }
            guard state.workers[id] == nil else { throw RelayError(.duplicateSession(id)) }
            state.workers[id] = worker
        }
    }

    func worker(of id: UInt64) -> Int? { state.withLock { $0.workers[id] } }
    func forget(_ id: UInt64) { _ = state.withLock { $0.workers.removeValue(forKey: id) } }
    var count: Int { state.withLock { $0.workers.count } }

    /// Marks the relay stopped; true the first time.
    func stop() -> Bool {
        state.withLock { state in
            defer { state.stopped = true }
            return !state.stopped
        }
    }
}

/// The SRTP media relay (docs/relay.md): sessions of two legs, each leg one UDP port with RTP and RTCP
/// multiplexed, served by worker threads with batched socket I/O.
///
/// A packet on a leg must pass SRTP unprotect with the leg's inbound key; the first authenticated packet
/// latches the leg's peer address and a later one from elsewhere moves the latch (counted). It is then
/// protected with the other leg's outbound key and sent from the other leg's port to that leg's latched
/// address. Nothing is sent to an address that has not authenticated.
public final class Relay: Sendable {
    public let configuration: RelayConfiguration
    public let pool: PortPool
    let bindAddress: UInt32
    let workers: [RelayWorker]
    private let nextWorker = Atomic<Int>(0)
    let directory = SessionDirectory()

    /// Starts libsrtp with the configured backend and the worker threads.
    /// - Parameters:
    ///   - onLatch: called on a worker thread when a leg's peer address is set or moves (media is flowing;
    ///     a move is a NAT rebinding or a roaming service car). It must not block.
    ///   - onSessionEnd: called on a worker thread when a session ends (closed, media silence, relay
    ///     stopped) with its final snapshot; it must not block.
    public init(
        configuration: RelayConfiguration,
        onLatch: @escaping @Sendable (LatchEvent) -> Void = { _ in },
        onSessionEnd: @escaping @Sendable (UInt64, SessionEnd, SessionSnapshot) -> Void = { _, _, _ in }
    ) throws(RelayError) {
        var address: UInt32 = 0
        guard luukku_ipv4_parse(configuration.bindAddress, &address) == 0 else {
            throw RelayError(.badBindAddress(configuration.bindAddress))
        }
        do { try LibSRTP.start(backend: configuration.cryptoBackend) } catch { throw RelayError(.srtp(error)) }
        self.configuration = configuration
        bindAddress = address
        pool = PortPool(range: configuration.ports)
        var made: [RelayWorker] = []
        for _ in 0..<max(1, configuration.workers) {
            made.append(
                try RelayWorker(
                    configuration: configuration, pool: pool, directory: directory, onSessionEnd: onSessionEnd,
                    onLatch: onLatch))
        }
        workers = made
        for worker in workers {
            let context = Unmanaged.passRetained(worker).toOpaque()
            let created = pthread_create(
                &worker.thread, nil,
                { context in
                    let worker = Unmanaged<RelayWorker>.fromOpaque(context!).takeRetainedValue()
                    worker.run()
                    return nil
                }, context)
            precondition(created == 0, "pthread_create failed: \(created)")
        }
    }

    /// Opens a session: two legs, each on a fresh port from the pool. Returns the ports (leg A, leg B) that go
    /// into each peer's SDP.
    public func open(session id: UInt64, a: LegKeys, b: LegKeys, clockRates: ClockRates = ClockRates())
        throws(RelayError) -> (a: UInt16, b: UInt16)
    {
        try open(session: id, a: a, b: b, clockRatesA: clockRates, clockRatesB: clockRates)
    }

    /// Opens a session whose legs carry streams of different payload types: each leg's RTP statistics use the
    /// clock rates of what its own peer sends.
    public func open(session id: UInt64, a: LegKeys, b: LegKeys, clockRatesA: ClockRates, clockRatesB: ClockRates)
        throws(RelayError) -> (a: UInt16, b: UInt16)
    {
        let workerIndex = nextWorker.wrappingAdd(1, ordering: .relaxed).oldValue % workers.count
        try directory.reserve(id, worker: workerIndex)
        var opened: [(fd: Int32, port: UInt16)] = []
        let session: RelayWorker.Session
        do {
            let now = luukku_monotonic_ns()
            opened.append(try openSocket())
            opened.append(try openSocket())
            let legA = try makeLeg(opened[0], keys: a, clockRates: clockRatesA, now: now)
            let legB = try makeLeg(opened[1], keys: b, clockRates: clockRatesB, now: now)
            session = RelayWorker.Session(id: id, a: legA, b: legB)
        } catch {
            for socket in opened {
                _ = luukku_close(socket.fd)
                pool.give(socket.port)
            }
            directory.forget(id)
            throw error
        }
        let worker = workers[workerIndex]
        // A worker that stopped meanwhile closes the sockets, frees the ports and forgets the id itself.
        guard worker.send(.open(session)) else { throw RelayError(.stopped) }
        return (opened[0].port, opened[1].port)
    }

    private func makeLeg(_ socket: (fd: Int32, port: UInt16), keys: LegKeys, clockRates: ClockRates, now: UInt64)
        throws(RelayError) -> RelayLeg
    {
        do {
            return try RelayLeg(
                fd: socket.fd, port: socket.port, keys: keys, configuration: configuration, clockRates: clockRates,
                now: now)
        } catch { throw RelayError(.srtp(error)) }
    }

    /// Binds the next free port of the pool. A port something else holds is skipped (and goes back to the
    /// pool's tail); every port of the range is tried at most once.
    private func openSocket() throws(RelayError) -> (fd: Int32, port: UInt16) {
        for _ in 0..<pool.range.count {
            guard let port = pool.take() else { break }
            var bound: UInt16 = 0
            let fd = luukku_udp_open(bindAddress, port, Int32(configuration.socketBufferOctets), &bound)
            if fd >= 0 { return (fd, port) }
            pool.give(port)
            if -fd != EADDRINUSE { throw RelayError(.system("binding UDP port \(port)", -fd)) }
        }
        throw RelayError(.noFreePorts)
    }

    /// Closes a session and returns its final snapshot (nil if it is not open).
    public func close(session id: UInt64) async -> SessionSnapshot? {
        guard let index = directory.worker(of: id) else { return nil }
        return await withCheckedContinuation { reply in workers[index].send(.close(id, .closed, reply)) }
    }

    /// The session's legs now: latched addresses, counters, RTP statistics, what the peers report.
    public func snapshot(session id: UInt64) async -> SessionSnapshot? {
        guard let index = directory.worker(of: id) else { return nil }
        return await withCheckedContinuation { reply in workers[index].send(.snapshot(id, reply)) }
    }

    /// Sessions open now.
    public var openSessions: Int { directory.count }

    /// Stops the workers: every open session ends with `.relayStopped`. Idempotent.
    public func stop() {
        guard directory.stop() else { return }
        for worker in workers { worker.send(.stop) }
        for worker in workers { pthread_join(worker.thread, nil) }
    }

    deinit { stop() }
}
