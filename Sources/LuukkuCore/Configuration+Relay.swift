// The `relay` section of the configuration file: where the SRTP media relay binds, its ports, threads, the
// per-leg rate limit, the media-silence timeout and the crypto libsrtp2 uses (docs/configuration.md).

extension Configuration {
    /// The media relay's settings. Every key is optional; the defaults suit one relay host.
    public struct Relay: Hashable, Sendable {
        /// libsrtp2's AES and HMAC-SHA1: OpenSSL (the default: 1.9-2.5x the AES-CM
        /// relay rate here, docs/benchmarks.md) or Debian's NSS build.
        public enum Crypto: String, Hashable, Sendable, Decodable, CaseIterable {
            case openssl, nss
        }

        /// IPv4 address the leg sockets bind to.
        public var bindAddress: String = "0.0.0.0"
        /// The address peers send media to (what goes into their SDP): needed when the relay binds 0.0.0.0 or
        /// sits behind NAT; without it the server uses `bindAddress`.
        public var publicAddress: String?
        /// First and last UDP port for legs; a session takes two.
        public var firstPort: UInt16 = 40_000
        public var lastPort: UInt16 = 49_999
        /// Worker threads; 0 means one per online processor.
        public var workers: Int = 0
        /// Per-leg token bucket on authenticated packets (2,500/s and a burst of 1,000 by default: about six
        /// times a 4 Mbit/s HD call with audio).
        public var packetsPerSecond: Int = 2_500
        public var burstPackets: Int = 1_000
        /// A session with no authenticated packet on either leg for this long is ended.
        public var mediaSilenceSeconds: Int = 30
        public var crypto: Crypto = .openssl

        public init() {}

        /// Adds the problems with the values to `v`, under `path` (e.g. `relay`).
        func validate(at path: String, into v: inout Validator) {
            func issue(_ key: String, _ problem: String) { v.issue("\(path).\(key)", problem) }
            if !Self.isIPv4(bindAddress) { issue("bindAddress", "'\(bindAddress)' is not an IPv4 address") }
            if let publicAddress, !Self.isIPv4(publicAddress) || publicAddress == "0.0.0.0" {
                issue("publicAddress", "'\(publicAddress)' is not an IPv4 address peers can send to")
            }
            if firstPort < 1_024 { issue("ports", "must not start below 1024 (got \(firstPort))") }
            if firstPort > lastPort {
                issue("ports", "first port \(firstPort) is after last port \(lastPort)")
            } else if Int(lastPort) - Int(firstPort) + 1 < 2 {
                issue("ports", "needs at least 2 ports (one session)")
            }
            if !(0...256).contains(workers) { issue("workers", "must be 0 (one per core) to 256, got \(workers)") }
            if !(1...10_000_000).contains(packetsPerSecond) {
                issue("packetsPerSecond", "must be 1 to 10000000, got \(packetsPerSecond)")
            }
            if !(1...10_000_000).contains(burstPackets) {
                issue("burstPackets", "must be 1 to 10000000, got \(burstPackets)")
            }
            if !(1...86_400).contains(mediaSilenceSeconds) {
                issue("mediaSilenceSeconds", "must be 1 to 86400, got \(mediaSilenceSeconds)")
            }
        }

        /// Dotted-quad IPv4 text: four decimal parts 0-255.
        static func isIPv4(_ text: String) -> Bool {
            let parts = text.split(separator: ".", omittingEmptySubsequences: false)
            return parts.count == 4
                && parts.allSatisfy { part in
                    !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber)
                        && (part.count == 1 || part.first != "0")  // inet_pton refuses leading zeros
                        && Int(part).map { $0 <= 255 } == true
                }
        }
    }
}

extension Configuration.Relay: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case bindAddress, publicAddress, ports, workers, packetsPerSecond, burstPackets, mediaSilenceSeconds, crypto
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init()
        bindAddress = try c.decodeIfPresent(String.self, forKey: .bindAddress) ?? bindAddress
        publicAddress = try c.decodeIfPresent(String.self, forKey: .publicAddress)
        if let ports = try c.decodeIfPresent([UInt16].self, forKey: .ports) {
            guard ports.count == 2 else {
                throw DecodingError.dataCorruptedError(
                    forKey: .ports, in: c, debugDescription: "expected [first, last], e.g. [40000, 49999]")
            }
            firstPort = ports[0]
            lastPort = ports[1]
        }
        workers = try c.decodeIfPresent(Int.self, forKey: .workers) ?? workers
        packetsPerSecond = try c.decodeIfPresent(Int.self, forKey: .packetsPerSecond) ?? packetsPerSecond
        burstPackets = try c.decodeIfPresent(Int.self, forKey: .burstPackets) ?? burstPackets
        mediaSilenceSeconds = try c.decodeIfPresent(Int.self, forKey: .mediaSilenceSeconds) ?? mediaSilenceSeconds
        crypto = try c.decodeIfPresent(Crypto.self, forKey: .crypto) ?? crypto
    }
}
