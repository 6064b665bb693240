import Foundation

// The `server` section of the configuration file: where luukkud listens, its TLS files, where it keeps the
// ledger and its status socket, connection limits and timeouts (docs/configuration.md). Every key is optional;
// the defaults run the demo from the repository root.

extension Configuration {
    public struct Server: Hashable, Sendable {
        /// TLS listener for terminals and consoles. Port 0: a free port the kernel picks (tests); the daemon's
        /// ready line names it.
        public var listenHost: String = "0.0.0.0"
        public var listenPort: UInt16 = 7_400
        /// PEM files: the daemon's certificate chain and key, and the CA(s) that sign client certificates.
        public var certificateChain: String = "certs/dev/server.pem"
        public var privateKey: String = "certs/dev/server.key"
        public var trustRoots: String = "certs/dev/ca.pem"
        /// Certificate identities (`luukku:terminal:...`, `luukku:expert:...`) refused even with a valid chain.
        public var revokedIdentities: [String] = []
        /// The SQLite ledger file (docs/ledger.md) and the operators' status socket.
        public var ledgerPath: String = "state/ledger.sqlite"
        public var statusSocket: String = "state/luukkud.sock"
        /// Prometheus metrics over plain HTTP (`GET /metrics`), on a loopback address only: the endpoint has no
        /// authentication. Nil (`""` in the file): no metrics listener. Port 0: a free port (tests).
        public var metricsHost: String? = "127.0.0.1"
        public var metricsPort: UInt16 = 9_464
        /// Reports (`report transactions`, `report service-level`): the time zone whose calendar months and days
        /// they count in (the compensation is by Finnish month), and the service-level target: the share of
        /// customers answered within this many seconds.
        public var reportTimeZone: String = "Europe/Helsinki"
        public var serviceLevelTargetSeconds: Int = 60
        /// Authenticated connections (TLS done with an accepted identity); beyond it a client gets OVERLOADED.
        public var maxConnections: Int = 2_000
        /// Connections still in their TCP/TLS handshake, in all (at the cap the oldest is closed to make room)
        /// and from one source address (beyond it the next is closed at once): their own budget, so sockets
        /// that never finish TLS cannot refuse an authenticated client (docs/server.md, "The front door").
        public var maxPendingConnections: Int = 1_024
        public var maxPendingPerAddress: Int = 64
        /// The listen(2) backlog: connections the kernel completes before luukkud accepts them (the kernel caps
        /// it at net.core.somaxconn, 4096 on Debian 12).
        public var listenBacklog: Int = 4_096
        /// Open tickets one terminal may hold at once.
        public var maxRequestsPerTerminal: Int = 2
        public var maxFrameBytes: Int = 65_536
        public var timeouts = Timeouts()
        /// Offers an expert may miss (decline or let ring out) in a row before presence goes to away.
        public var maxMissedOffers: Int = 2

        /// Durations in seconds.
        public struct Timeouts: Hashable, Sendable {
            /// TLS handshake plus Hello.
            public var handshake: Int = 10
            /// Heartbeat interval; a connection silent for `idle` is closed.
            public var heartbeat: Int = 15
            public var idle: Int = 45
            /// How long an expert has to answer an offer.
            public var offerAnswer: Int = 20
            /// Wrap-up after a session before the expert is offered the next customer.
            public var wrapUp: Int = 60
            /// A dropped terminal or console may Resume within this; a waiting ticket keeps its place meanwhile.
            public var resumeGrace: Int = 30
            /// SIGTERM: how long running sessions may go on before the daemon exits.
            public var drain: Int = 300
            /// How long a ticket may wait for an offer before it closes as expired; 0 (the default) for no
            /// limit. An offered ticket past it closes when the offer is declined or lapses.
            public var maxWait: Int = 0

            public init() {}
        }

        public init() {}

        /// Adds the problems with the values to `v`, under `path` (`server`).
        func validate(at path: String, into v: inout Validator) {
            func issue(_ key: String, _ problem: String) { v.issue("\(path).\(key)", problem) }
            if !Relay.isIPv4(listenHost) { issue("listen", "'\(listenHost)' is not an IPv4 address") }
            for (key, value) in [
                ("certificateChain", certificateChain), ("privateKey", privateKey), ("trustRoots", trustRoots),
                ("ledgerPath", ledgerPath), ("statusSocket", statusSocket),
            ] where value.isEmpty || value.contains("\0") {
                issue(key, "must be a file path")
            }
            if let metricsHost, !metricsHost.hasPrefix("127.") || !Relay.isIPv4(metricsHost) {
                issue(
                    "metricsListen",
                    "'\(metricsHost)' is not a loopback IPv4 address (127.x.y.z): /metrics has no authentication")
            }
            if Foundation.TimeZone(identifier: reportTimeZone) == nil {
                issue("reportTimeZone", "'\(reportTimeZone)' is not a time zone name (e.g. Europe/Helsinki)")
            }
            if !(1...3_600).contains(serviceLevelTargetSeconds) {
                issue("serviceLevelTargetSeconds", "must be 1 to 3600 seconds")
            }
            if statusSocket.utf8.count > 107 {
                issue("statusSocket", "longer than a Unix socket path may be (107 octets)")
            }
            for (index, identity) in revokedIdentities.enumerated() where (try? PeerIdentity(uri: identity)) == nil {
                issue("revokedIdentities[\(index)]", "'\(identity)' is not a luukku: identity URI")
            }
            if !(1...100_000).contains(maxConnections) { issue("maxConnections", "must be 1 to 100000") }
            if !(1...100_000).contains(maxPendingConnections) {
                issue("maxPendingConnections", "must be 1 to 100000")
            }
            if !(1...100_000).contains(maxPendingPerAddress) { issue("maxPendingPerAddress", "must be 1 to 100000") }
            if maxPendingPerAddress > maxPendingConnections {
                issue("maxPendingPerAddress", "must not exceed maxPendingConnections (\(maxPendingConnections))")
            }
            if !(16...65_535).contains(listenBacklog) { issue("listenBacklog", "must be 16 to 65535") }
            if !(1...10).contains(maxRequestsPerTerminal) { issue("maxRequestsPerTerminal", "must be 1 to 10") }
            if !(1_024...16_777_216).contains(maxFrameBytes) { issue("maxFrameBytes", "must be 1024 to 16777216") }
            if !(1...10).contains(maxMissedOffers) { issue("maxMissedOffers", "must be 1 to 10") }
            for (key, value) in [
                ("handshake", timeouts.handshake), ("heartbeat", timeouts.heartbeat), ("idle", timeouts.idle),
                ("offerAnswer", timeouts.offerAnswer), ("wrapUp", timeouts.wrapUp),
                ("resumeGrace", timeouts.resumeGrace), ("drain", timeouts.drain),
            ] where !(1...86_400).contains(value) {
                issue("timeouts.\(key)", "must be 1 to 86400 seconds, got \(value)")
            }
            if !(0...86_400).contains(timeouts.maxWait) {
                issue("timeouts.maxWait", "must be 0 (no limit) to 86400 seconds, got \(timeouts.maxWait)")
            }
            if timeouts.idle <= timeouts.heartbeat {
                issue("timeouts.idle", "must be longer than the heartbeat (\(timeouts.heartbeat) s)")
            }
        }
    }
}

extension Configuration.Server: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case listen, certificateChain, privateKey, trustRoots, revokedIdentities, ledgerPath, statusSocket
        case maxConnections, maxRequestsPerTerminal, maxFrameBytes, timeouts, maxMissedOffers
        case maxPendingConnections, maxPendingPerAddress, listenBacklog
        case metricsListen, reportTimeZone, serviceLevelTargetSeconds
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init()
        if let listen = try c.decodeIfPresent(String.self, forKey: .listen) {
            guard let endpoint = Self.endpoint(listen) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .listen, in: c, debugDescription: "expected \"HOST:PORT\", e.g. \"0.0.0.0:7400\"")
            }
            (listenHost, listenPort) = endpoint
        }
        certificateChain = try c.decodeIfPresent(String.self, forKey: .certificateChain) ?? certificateChain
        privateKey = try c.decodeIfPresent(String.self, forKey: .privateKey) ?? privateKey
        trustRoots = try c.decodeIfPresent(String.self, forKey: .trustRoots) ?? trustRoots
        revokedIdentities = try c.decodeIfPresent([String].self, forKey: .revokedIdentities) ?? revokedIdentities
        ledgerPath = try c.decodeIfPresent(String.self, forKey: .ledgerPath) ?? ledgerPath
        statusSocket = try c.decodeIfPresent(String.self, forKey: .statusSocket) ?? statusSocket
        if let metrics = try c.decodeIfPresent(String.self, forKey: .metricsListen) {
            if metrics.isEmpty {
                metricsHost = nil
            } else if let endpoint = Self.endpoint(metrics) {
                (metricsHost, metricsPort) = endpoint
            } else {
                throw DecodingError.dataCorruptedError(
                    forKey: .metricsListen, in: c,
                    debugDescription: "expected \"HOST:PORT\" on loopback, e.g. \"127.0.0.1:9464\", or \"\" for none")
            }
        }
        reportTimeZone = try c.decodeIfPresent(String.self, forKey: .reportTimeZone) ?? reportTimeZone
        serviceLevelTargetSeconds =
            try c.decodeIfPresent(Int.self, forKey: .serviceLevelTargetSeconds) ?? serviceLevelTargetSeconds
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? maxConnections
        maxPendingConnections =
            try c.decodeIfPresent(Int.self, forKey: .maxPendingConnections) ?? maxPendingConnections
        maxPendingPerAddress = try c.decodeIfPresent(Int.self, forKey: .maxPendingPerAddress) ?? maxPendingPerAddress
        listenBacklog = try c.decodeIfPresent(Int.self, forKey: .listenBacklog) ?? listenBacklog
        maxRequestsPerTerminal =
            try c.decodeIfPresent(Int.self, forKey: .maxRequestsPerTerminal) ?? maxRequestsPerTerminal
        maxFrameBytes = try c.decodeIfPresent(Int.self, forKey: .maxFrameBytes) ?? maxFrameBytes
        timeouts = try c.decodeIfPresent(Timeouts.self, forKey: .timeouts) ?? timeouts
        maxMissedOffers = try c.decodeIfPresent(Int.self, forKey: .maxMissedOffers) ?? maxMissedOffers
    }

    /// "HOST:PORT" with a dotted IPv4 host; nil otherwise (the host is checked by validation).
    public static func endpoint(_ text: String) -> (String, UInt16)? {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        let digits = text[text.index(after: colon)...]
        guard (1...5).contains(digits.count), digits == "0" || digits.first != "0",
            digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let port = UInt16(digits)
        else { return nil }
        let host = String(text[..<colon])
        return host.isEmpty ? nil : (host, port)
    }
}

extension Configuration.Server.Timeouts: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable {
        case handshake, heartbeat, idle, offerAnswer, wrapUp, resumeGrace, drain, maxWait
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init()
        handshake = try c.decodeIfPresent(Int.self, forKey: .handshake) ?? handshake
        heartbeat = try c.decodeIfPresent(Int.self, forKey: .heartbeat) ?? heartbeat
        idle = try c.decodeIfPresent(Int.self, forKey: .idle) ?? idle
        offerAnswer = try c.decodeIfPresent(Int.self, forKey: .offerAnswer) ?? offerAnswer
        wrapUp = try c.decodeIfPresent(Int.self, forKey: .wrapUp) ?? wrapUp
        resumeGrace = try c.decodeIfPresent(Int.self, forKey: .resumeGrace) ?? resumeGrace
        drain = try c.decodeIfPresent(Int.self, forKey: .drain) ?? drain
        maxWait = try c.decodeIfPresent(Int.self, forKey: .maxWait) ?? maxWait
    }
}
