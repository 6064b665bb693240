// swift-tools-version:6.2
// Luukku: remote video-service broker for Finland's joint service points.
// Module layout: ../shared/ARCHITECTURE.md and docs/README.md. Targets are added as they get content.
import PackageDescription

/// Our own targets build in Swift 6 mode with every warning an error; dependencies keep their own settings.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "Luukku",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "luukkud", targets: ["luukkud"]),
        .executable(name: "luukku-terminal", targets: ["luukku-terminal"]),
        .executable(name: "luukku-console", targets: ["luukku-console"]),
        .executable(name: "luukkuctl", targets: ["luukkuctl"]),
        .library(name: "LuukkuCore", targets: ["LuukkuCore"]),
        .library(name: "LuukkuProtocol", targets: ["LuukkuProtocol"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.2"),
        .package(url: "https://github.com/apple/swift-protobuf", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", exact: "1.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", exact: "1.21.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        // Benchmarks only.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", exact: "0.2.0"),
    ],
    targets: [
        // Domain types and the validated configuration model. No NIO, no I/O beyond reading the config file.
        .target(name: "LuukkuCore", swiftSettings: strictSettings),

        // Matching of tickets to experts (docs/matching.md). Depends on LuukkuCore only.
        .target(
            name: "LuukkuMatching",
            dependencies: ["LuukkuCore", .product(name: "DequeModule", package: "swift-collections")],
            swiftSettings: strictSettings
        ),

        // The wire protocol: generated protobuf messages, framing, error codes.
        .target(
            name: "LuukkuProtocol",
            dependencies: [
                "LuukkuCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Generated/README.md", "Generated/proto.sha256"],
            swiftSettings: strictSettings
        ),

        // libsrtp2 from Debian (libsrtp2-dev), found through pkg-config.
        .systemLibrary(
            name: "CSRTP",
            pkgConfig: "libsrtp2",
            providers: [.apt(["libsrtp2-dev"])]
        ),

        // OpenSSL (libcrypto EVP) AES-ICM, AES-GCM and HMAC-SHA1 types for libsrtp2, put in place of Debian's
        // NSS ones through srtp_replace_cipher_type / srtp_replace_auth_type (docs/relay.md).
        .target(
            name: "CSRTPOpenSSL",
            dependencies: ["CSRTP"],
            cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])],
            linkerSettings: [.linkedLibrary("crypto")]
        ),

        // Durable records (docs/ledger.md): tickets, offers, sessions, feedback; SQLite in WAL mode through GRDB.
        .target(
            name: "LuukkuLedger",
            dependencies: ["LuukkuCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),

        // Batched UDP (recvmmsg/sendmmsg), epoll and eventfd for the relay's worker threads.
        .target(name: "CRelayIO", cSettings: [.unsafeFlags(["-Wall", "-Wextra", "-Werror"])]),

        // The media relay (issue 4, docs/relay.md).
        .target(
            name: "LuukkuRelay",
            dependencies: ["LuukkuCore", "CSRTP", "CSRTPOpenSSL", "CRelayIO"],
            swiftSettings: strictSettings
        ),

        // The broker's policy as a state machine (docs/server.md, "The broker"): events in, ledger records and
        // actions out. No NIO of its own, no sockets, no clock or random source but the injected ones.
        .target(
            name: "LuukkuBroker",
            dependencies: ["LuukkuCore", "LuukkuProtocol", "LuukkuMatching", "LuukkuRelay", "LuukkuLedger"],
            swiftSettings: strictSettings
        ),

        // The daemon's NIO glue (docs/server.md): the TLS listener, the connections, the broker service that
        // carries out the broker state machine's actions, systemd notification and the lifecycle services.
        .target(
            name: "LuukkuServer",
            dependencies: [
                "LuukkuCore", "LuukkuProtocol", "LuukkuMatching", "LuukkuRelay", "LuukkuLedger", "LuukkuBroker",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        // The client library of luukku-terminal and luukku-console: the TLS connection and the protocol's
        // client side.
        .target(
            name: "LuukkuClient",
            dependencies: [
                "LuukkuCore", "LuukkuProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),

        // The clients' media (docs/media.md): the UDP socket and SRTP in process, one gst-launch-1.0 child for
        // capture, encoding, decoding and playout over RFC 4571 pipes; the synthetic test stream; SDP files.
        .target(
            name: "LuukkuMedia",
            dependencies: [
                "LuukkuCore", "LuukkuProtocol", "LuukkuRelay", "CRelayIO",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),

        // The daemon: configuration, flags, then the services of LuukkuServer until SIGTERM.
        .executableTarget(
            name: "luukkud",
            dependencies: [
                "LuukkuCore",
                "LuukkuProtocol",
                "LuukkuServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),

        // The expert's console: full screen on a terminal, line mode for scripts.
        .executableTarget(
            name: "luukku-console",
            dependencies: [
                "LuukkuClient", "LuukkuMedia", "LuukkuCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),

        // The operators' CLI over the status socket (docs/luukkuctl.md): plain POSIX sockets, no NIO.
        .executableTarget(
            name: "luukkuctl",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strictSettings
        ),

        // The reference service-point terminal (thin CLI over LuukkuClient).
        .executableTarget(
            name: "luukku-terminal",
            dependencies: [
                "LuukkuClient", "LuukkuMedia", "LuukkuCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),

        // luukku-load (docs/benchmarks.md, "Signaling"): many terminals and experts in one process.
        .executableTarget(
            name: "luukku-load",
            dependencies: [
                "LuukkuClient", "LuukkuMedia", "LuukkuCore", "LuukkuProtocol", "LuukkuLedger", "CRelayIO",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),

        // libFuzzer target over framing + Envelope decoding; `make fuzz` builds it with the fuzzer sanitizer.
        .executableTarget(name: "LuukkuFrameFuzzer", dependencies: ["LuukkuProtocol"], swiftSettings: strictSettings),
        // The other decoders' fuzz targets (make fuzz TARGET=rtp|status|configuration), built the same way.
        .executableTarget(
            name: "LuukkuRTPFuzzer", dependencies: ["LuukkuRelay", "LuukkuCore"], swiftSettings: strictSettings),
        .executableTarget(name: "LuukkuStatusFuzzer", dependencies: ["LuukkuCore"], swiftSettings: strictSettings),
        .executableTarget(
            name: "LuukkuConfigurationFuzzer", dependencies: ["LuukkuCore"], swiftSettings: strictSettings),

        // make bench-matcher (docs/benchmarks.md); built in release by the Makefile.
        .executableTarget(
            name: "luukku-bench-matcher",
            dependencies: [
                "LuukkuCore", "LuukkuMatching", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/MatcherBenchmark",
            swiftSettings: strictSettings
        ),

        // make bench-relay (Benchmarks/bench-relay): our relay as a process, the paced load generator, and the
        // rtpengine call set-up; built in release by the script.
        .executableTarget(
            name: "luukku-bench-relay",
            dependencies: [
                "LuukkuCore", "LuukkuRelay", "CRelayIO", .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Benchmarks/RelayBenchmark",
            swiftSettings: strictSettings
        ),

        .testTarget(
            name: "LuukkuCoreTests", dependencies: ["LuukkuCore", "LuukkuTestSupport"], swiftSettings: strictSettings),
        // The clients' shared session model (no connection), and the full-screen console's state and screen as the
        // values they are (the executable's module, imported @testable).
        .testTarget(
            name: "LuukkuClientTests", dependencies: ["LuukkuClient", "LuukkuCore", "LuukkuProtocol"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "ConsoleTests", dependencies: ["luukku-console", "LuukkuClient", "LuukkuProtocol", "LuukkuMedia"],
            swiftSettings: strictSettings),
        // The broker's policies on a manual clock and a seeded random source: no socket, no timer, no disk.
        .testTarget(
            name: "LuukkuBrokerTests",
            dependencies: [
                "LuukkuBroker", "LuukkuCore", "LuukkuProtocol", "LuukkuLedger", "LuukkuRelay", "LuukkuTestSupport",
            ],
            swiftSettings: strictSettings
        ),
        // The media engine's parts without a network, and its pipeline run by a real gst-launch-1.0.
        .testTarget(
            name: "LuukkuMediaTests",
            dependencies: ["LuukkuMedia", "LuukkuCore", "LuukkuProtocol", "LuukkuRelay"],
            swiftSettings: strictSettings
        ),
        // LuukkuServer's state machines without a network; the broker service's outbox over a real SQLite ledger
        // that fails on demand.
        .testTarget(
            name: "LuukkuServerTests",
            dependencies: [
                "LuukkuServer", "LuukkuCore", "LuukkuProtocol", "LuukkuLedger", "LuukkuRelay", "LuukkuTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "LuukkuProtocolTests",
            dependencies: [
                "LuukkuProtocol", "LuukkuTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LuukkuLedgerTests",
            dependencies: ["LuukkuLedger", "LuukkuCore", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LuukkuMatchingTests", dependencies: ["LuukkuCore", "LuukkuMatching"], swiftSettings: strictSettings),
        .testTarget(
            name: "CSRTPTests",
            dependencies: ["CSRTP", "CSRTPOpenSSL", "LuukkuCore", "LuukkuRelay"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "LuukkuRelayTests",
            dependencies: ["LuukkuRelay", "LuukkuCore", "CRelayIO"],
            swiftSettings: strictSettings
        ),
        // The relay between real ffmpeg and GStreamer processes (Debian packages the Makefile installs).
        .testTarget(
            name: "InteropTests", dependencies: ["LuukkuCore", "LuukkuRelay", "CRelayIO", "LuukkuTestSupport"],
            swiftSettings: strictSettings
        ),
        // luukkud end to end (docs/server.md): real daemon processes, real TLS, real relay and SQLite ledger,
        // luukku-terminal as a real process and experts through LuukkuClient.
        .testTarget(
            name: "DaemonTests",
            dependencies: [
                "LuukkuClient", "LuukkuMedia", "LuukkuLedger", "LuukkuProtocol", "LuukkuCore", "LuukkuTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // What the test suites share: the repository's paths, process runners, development PKIs, free ports.
        .target(
            name: "LuukkuTestSupport",
            dependencies: [.product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            path: "Tests/LuukkuTestSupport",
            swiftSettings: strictSettings
        ),
        // Runs certs/make-dev-certs and the luukkud executable as real processes.
        .testTarget(
            name: "ToolingTests", dependencies: ["LuukkuCore", "LuukkuTestSupport"], swiftSettings: strictSettings),
    ]
)
