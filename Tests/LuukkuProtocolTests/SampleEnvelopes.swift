import Foundation
import LuukkuProtocol

/// One envelope of every message kind, with realistic values. Their encodings are the golden frames in
/// proto/luukku/v1/frames/ and the seeds of the fuzzer's corpus.
enum SampleEnvelopes {
    static func envelope(_ message: Luukku_V1_Envelope.OneOf_Message) -> Luukku_V1_Envelope {
        envelope(0, message)
    }

    static func envelope(_ correlation: UInt64, _ message: Luukku_V1_Envelope.OneOf_Message) -> Luukku_V1_Envelope {
        var envelope = Luukku_V1_Envelope()
        envelope.correlationID = correlation
        envelope.message = message
        return envelope
    }

    static func names(_ fi: String, _ sv: String) -> [Luukku_V1_LocalizedText] {
        [
            .with {
                $0.language = "fi"; $0.text = fi
            },
            .with {
                $0.language = "sv"; $0.text = sv
            },
        ]
    }

    static let vp8 = Luukku_V1_MediaCodec.with {
        $0.kind = .video
        $0.name = "VP8"
        $0.payloadType = 96
        $0.clockRate = 90_000
    }
    static let opus = Luukku_V1_MediaCodec.with {
        $0.kind = .audio
        $0.name = "opus"
        $0.payloadType = 111
        $0.clockRate = 48_000
        $0.channels = 2
    }

    static let all: [(name: String, envelope: Luukku_V1_Envelope)] = [
        (
            "hello",
            envelope(
                1,
                .hello(
                    .with {
                        $0.protocolVersions = [1]
                        $0.clientSoftware = "luukku-terminal/0.1.0"
                        $0.uiLanguage = "sv"
                    }))
        ),
        (
            "welcome-expert",
            envelope(
                1,
                .welcome(
                    .with {
                        $0.protocolVersion = 1
                        $0.role = .expert
                        $0.identity = "kela-aino"
                        $0.heartbeatIntervalMs = 10_000
                        $0.limits = .with {
                            $0.maxFrameBytes = 65_536; $0.maxOpenRequests = 4; $0.maxFeedbackCommentChars = 1_000
                        }
                        $0.catalogue = .with {
                            $0.agencies = [
                                .with {
                                    $0.id = "kela"
                                    $0.names = names("Kela", "FPA")
                                    $0.languages = ["fi", "sv"]
                                    $0.services = [
                                        .with {
                                            $0.code = "housing-allowance";
                                            $0.names = names("Asumistuki", "Bostadsbidrag")
                                        }
                                    ]
                                }
                            ]
                            $0.languages = [
                                .with {
                                    $0.code = "fi"; $0.names = names("suomi", "finska")
                                }
                            ]
                        }
                        $0.resumeToken = Data(repeating: 0xA5, count: 16)
                        $0.resumeGraceMs = 30_000
                        $0.serverSoftware = "luukkud/0.1.0"
                        $0.skills = [
                            .with {
                                $0.agency = "kela"; $0.language = "fi"
                            },
                            .with {
                                $0.agency = "kela"; $0.language = "sv"
                            },
                        ]
                        $0.displayName = "Aino K."
                    }))
        ),
        ("ping", envelope(.ping(.with { $0.nonce = 0x0102_0304_0506_0708 }))),
        ("pong", envelope(.pong(.with { $0.nonce = 0x0102_0304_0506_0708 }))),
        ("error", envelope(7, .error(ProtocolError(.unknownAgency).wireMessage))),
        ("resume", envelope(2, .resume(.with { $0.resumeToken = .init(repeating: 0x5A, count: 16) }))),
        ("goodbye", envelope(.goodbye(.with { $0.reason = .clientExit }))),
        (
            // A terminal's Welcome as this release sends it: idle_timeout_ms (field 12) and the point's name in
            // the Hello's ui_language.
            "welcome-terminal-with-idle-timeout",
            envelope(
                1,
                .welcome(
                    .with {
                        $0.protocolVersion = 1
                        $0.role = .terminal
                        $0.identity = "parainen"
                        $0.heartbeatIntervalMs = 15_000
                        $0.idleTimeoutMs = 45_000
                        $0.limits = .with {
                            $0.maxFrameBytes = 65_536; $0.maxOpenRequests = 2; $0.maxFeedbackCommentChars = 1_000
                        }
                        $0.resumeToken = Data(repeating: 0x5A, count: 16)
                        $0.resumeGraceMs = 30_000
                        $0.serverSoftware = "luukkud/0.5.0"
                        $0.displayName = "Servicepunkten i Pargas"
                    }))
        ),
        (
            "request-service",
            envelope(
                3,
                .requestService(
                    .with {
                        $0.agency = "vero"
                        $0.language = "sv"
                        $0.serviceCode = "tax-card"
                    }))
        ),
        ("cancel-request", envelope(4, .cancelRequest(.with { $0.ticketID = "t-1042" }))),
        (
            "queue-status",
            envelope(
                3,
                .queueStatus(
                    .with {
                        $0.ticketID = "t-1042"
                        $0.agency = "vero"
                        $0.language = "sv"
                        $0.position = 2
                        $0.estimatedWaitSeconds = 240
                        $0.expertsOnline = 3
                        $0.waitedSeconds = 65
                    }))
        ),
        (
            "ticket-closed",
            envelope(
                4,
                .ticketClosed(
                    .with {
                        $0.ticketID = "t-1042"; $0.reason = .cancelled
                    }))
        ),
        ("feedback-request", envelope(.feedbackRequest(.with { $0.sessionID = "s-77" }))),
        (
            "feedback",
            envelope(
                5,
                .feedback(
                    .with {
                        $0.sessionID = "s-77"; $0.rating = 5; $0.comment = "Kiitos, tack!"
                    }))
        ),
        (
            "set-presence",
            envelope(
                6,
                .setPresence(
                    .with {
                        $0.presence = .away; $0.awayReason = .meeting
                    }))
        ),
        (
            "presence-status",
            envelope(
                6,
                .presenceStatus(
                    .with {
                        $0.presence = .wrapUp; $0.wrapUpRemainingMs = 45_000
                    }))
        ),
        (
            "offer",
            envelope(
                .offer(
                    .with {
                        $0.ticketID = "t-1042"
                        $0.servicePointID = "parainen"
                        $0.servicePointName = "Servicepunkten i Pargas"
                        $0.agency = "vero"
                        $0.language = "sv"
                        $0.serviceCode = "tax-card"
                        $0.waitedSeconds = 130
                        $0.answerWithinMs = 20_000
                    }))
        ),
        ("accept", envelope(8, .accept(.with { $0.ticketID = "t-1042" }))),
        ("decline", envelope(9, .decline(.with { $0.ticketID = "t-1042" }))),
        (
            "offer-withdrawn",
            envelope(
                .offerWithdrawn(
                    .with {
                        $0.ticketID = "t-1042"; $0.reason = .customerLeft
                    }))
        ),
        ("wrap-up-done", envelope(10, .wrapUpDone(.with { $0.sessionID = "s-77" }))),
        (
            "queue-snapshot",
            envelope(
                .queueSnapshot(
                    .with {
                        $0.queues = [
                            .with {
                                $0.queue = .with {
                                    $0.agency = "kela"; $0.language = "fi"
                                }
                                $0.depth = 4
                                $0.oldestWaitSeconds = 310
                                $0.expertsAvailable = 1
                            },
                            .with {
                                $0.queue = .with {
                                    $0.agency = "kela"; $0.language = "sv"
                                }
                            },
                        ]
                    }))
        ),
        (
            "session-started",
            envelope(
                8,
                .sessionStarted(
                    .with {
                        $0.sessionID = "s-77"
                        $0.ticketID = "t-1042"
                        $0.relayHost = "192.0.2.10"
                        $0.relayPort = 40_002
                        $0.suite = .aeadAes128Gcm
                        $0.outboundKey = .with { $0.keyAndSalt = .init(repeating: 0x11, count: 28) }
                        $0.inboundKey = .with { $0.keyAndSalt = .init(repeating: 0x22, count: 28) }
                        $0.expertAgency = "vero"
                        $0.expertDisplayName = "Saga N."
                        $0.servicePointID = "parainen"
                        $0.servicePointName = "Servicepunkten i Pargas"
                        $0.language = "sv"
                        $0.serviceCode = "tax-card"
                    }))
        ),
        (
            "hello-with-media",
            envelope(
                1,
                .hello(
                    .with {
                        $0.protocolVersions = [1]
                        $0.clientSoftware = "luukku-terminal/0.6.0"
                        $0.uiLanguage = "sv"
                        $0.media = .with {
                            $0.sendCodecs = [vp8, opus]
                            $0.receiveCodecs = [vp8, opus]
                            $0.srtpSuites = [.aeadAes128Gcm, .aesCm128HmacSha180]
                        }
                    }))
        ),
        (
            "session-started-with-media",
            envelope(
                8,
                .sessionStarted(
                    .with {
                        $0.sessionID = "s-78"
                        $0.ticketID = "t-1043"
                        $0.relayHost = "192.0.2.10"
                        $0.relayPort = 40_004
                        $0.suite = .aesCm128HmacSha180
                        $0.outboundKey = .with { $0.keyAndSalt = .init(repeating: 0x33, count: 30) }
                        $0.inboundKey = .with { $0.keyAndSalt = .init(repeating: 0x44, count: 30) }
                        $0.expertAgency = "kela"
                        $0.expertDisplayName = "Aino K."
                        $0.servicePointID = "mikkeli"
                        $0.servicePointName = "Mikkelin asiointipiste"
                        $0.language = "fi"
                        $0.sendCodecs = [vp8, opus]
                        $0.receiveCodecs = [vp8, opus]
                    }))
        ),
        (
            "hangup",
            envelope(
                11,
                .hangup(
                    .with {
                        $0.sessionID = "s-77"; $0.reason = .customerEnded
                    }))
        ),
    ]
}
