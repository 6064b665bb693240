import CRelayIO
import LuukkuCore

/// How the relay runs. The daemon fills it from its configuration file (issue 5); the defaults suit one
/// service-point country's load on one machine.
public struct RelayConfiguration: Hashable, Sendable {
    /// IPv4 address the leg sockets bind to (dotted text), e.g. "0.0.0.0" or a public interface.
    public var bindAddress: String
    /// Ports legs may use, one per leg. A session needs two.
    public var ports: ClosedRange<UInt16>
    /// Relay worker threads. Both legs of a session live on one worker, so a packet never crosses threads.
    public var workers: Int
    /// Per-leg token bucket on authenticated packets. The default (2,500 packets/s, burst 1,000) is about six
    /// times an HD call: 1080p VP8 or H.264 at 4 Mbit/s is about 420 packets/s of 1,200 octets, plus Opus at
    /// 50 packets/s; the burst absorbs a keyframe of ~300 kB at once.
    public var packetsPerSecond: UInt64
    public var burstPackets: UInt64
    /// A session whose two legs have had no authenticated packet for this long is torn down (its ports freed).
    /// Counted from the session's start, so a session whose peers never send also ends.
    public var mediaSilenceTimeoutNanoseconds: UInt64
    /// SRTP replay window per inbound context (RFC 3711 section 3.3.2).
    public var replayWindow: Int
    /// Datagrams read per recvmmsg call.
    public var batchSize: Int
    /// SO_RCVBUF / SO_SNDBUF per leg socket.
    public var socketBufferOctets: Int
    /// libsrtp2's crypto for the process (fixed at the relay's start).
    public var cryptoBackend: SRTPCryptoBackend

    public init(
        bindAddress: String = "0.0.0.0",
        ports: ClosedRange<UInt16> = 40_000...49_999,
        workers: Int = max(1, RelayConfiguration.processorCount),
        packetsPerSecond: UInt64 = 2_500,
        burstPackets: UInt64 = 1_000,
        mediaSilenceTimeoutNanoseconds: UInt64 = 30_000_000_000,
        replayWindow: Int = 1_024,
        batchSize: Int = 32,
        socketBufferOctets: Int = 1 << 20,
        cryptoBackend: SRTPCryptoBackend = .openssl
    ) {
        self.bindAddress = bindAddress
        self.ports = ports
        self.workers = workers
        self.packetsPerSecond = packetsPerSecond
        self.burstPackets = burstPackets
        self.mediaSilenceTimeoutNanoseconds = mediaSilenceTimeoutNanoseconds
        self.replayWindow = replayWindow
        self.batchSize = batchSize
        self.socketBufferOctets = socketBufferOctets
        self.cryptoBackend = cryptoBackend
    }

    /// Online processors (one worker per core by default).
    public static var processorCount: Int { Int(luukku_processor_count()) }
}

extension RelayConfiguration {
    /// The relay settings of a validated configuration file (the `relay` section), with this type's defaults
    /// for what the file does not set (batch size, socket buffers, replay window).
    public init(_ relay: Configuration.Relay) {
        self.init(
            bindAddress: relay.bindAddress,
            ports: relay.firstPort...relay.lastPort,
            workers: relay.workers == 0 ? max(1, RelayConfiguration.processorCount) : relay.workers,
            packetsPerSecond: UInt64(relay.packetsPerSecond),
            burstPackets: UInt64(relay.burstPackets),
            mediaSilenceTimeoutNanoseconds: UInt64(relay.mediaSilenceSeconds) * 1_000_000_000,
            cryptoBackend: relay.crypto == .nss ? .nss : .openssl
        )
    }
}
