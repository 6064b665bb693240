import LuukkuCore
import LuukkuProtocol

// Building wire messages from the configuration and mapping domain enums to wire enums, in one place.
extension BrokerStateMachine {
    func welcome(for party: Party, version: UInt32, uiLanguage: LanguageCode? = nil) -> Luukku_V1_Welcome {
        let server = configuration.server
        return .with {
            $0.protocolVersion = version
            $0.serverSoftware = Self.software
            $0.heartbeatIntervalMs = UInt32(server.timeouts.heartbeat * 1_000)
            $0.idleTimeoutMs = UInt32(server.timeouts.idle * 1_000)
            $0.limits = .with {
                $0.maxFrameBytes = UInt32(server.maxFrameBytes)
                $0.maxOpenRequests = UInt32(server.maxRequestsPerTerminal)
                $0.maxFeedbackCommentChars = UInt32(Self.maxFeedbackCommentChars)
            }
            $0.catalogue = catalogue()
            $0.resumeToken = .init(party.token)
            $0.resumeGraceMs = UInt32(server.timeouts.resumeGrace * 1_000)
            switch party.identity {
            case .terminal(let point):
                $0.role = .terminal
                $0.identity = point.rawValue
                $0.displayName =
                    configuration.servicePoint(point).map { Self.name($0.names, in: uiLanguage ?? .finnish) } ?? ""
            case .expert(_, let expert):
                $0.role = .expert
                $0.identity = expert.rawValue
                if let record = experts[expert] {
                    $0.displayName = record.config.displayName
                    $0.skills = record.skills.map { queue in
                        .with {
                            $0.agency = queue.agency.rawValue
                            $0.language = queue.language.rawValue
                        }
                    }
                }
            }
        }
    }

    func catalogue() -> Luukku_V1_Catalogue {
        func texts(_ names: LocalizedName) -> [Luukku_V1_LocalizedText] {
            names.keys.sorted().map { language in
                .with {
                    $0.language = language.rawValue
                    $0.text = names[language] ?? ""
                }
            }
        }
        return .with {
            $0.agencies = configuration.agencies.map { agency in
                .with {
                    $0.id = agency.id.rawValue
                    $0.names = texts(agency.names)
                    $0.languages = agency.languages.map(\.rawValue)
                    $0.services = agency.services.map { service in
                        .with {
                            $0.code = service.code.rawValue
                            $0.names = texts(service.names)
                        }
                    }
                }
            }
            $0.languages = configuration.languages.map { language in
                .with {
                    $0.code = language.code.rawValue
                    $0.names = texts(language.names)
                }
            }
        }
    }

    /// A name in the wanted language, else Finnish, else any.
    static func name(_ names: LocalizedName, in language: LanguageCode) -> String {
        names[language] ?? names[.finnish] ?? names.values.sorted().first ?? ""
    }

    static func wirePresence(_ presence: ExpertPresence) -> Luukku_V1_Presence {
        switch presence {
        case .offline: .offline
        case .available: .available
        case .offered: .offered
        case .inSession: .inSession
        case .wrapUp: .wrapUp
        case .away: .away
        }
    }

    static func wireAwayReason(_ reason: AwayReason) -> Luukku_V1_AwayReason {
        switch reason {
        case .unspecified: .unspecified
        case .breakTime: .break
        case .meeting: .meeting
        case .backOffice: .backOffice
        case .training: .training
        case .other: .other
        case .noAnswer: .noAnswer
        }
    }

    static func awayReason(_ wire: Luukku_V1_AwayReason) -> AwayReason {
        switch wire {
        case .break: .breakTime
        case .meeting: .meeting
        case .backOffice: .backOffice
        case .training: .training
        case .other: .other
        // NO_ANSWER is the server's own reason (setPresence refuses it before this); unknown reasons read as
        // unspecified.
        case .unspecified, .noAnswer, .UNRECOGNIZED: .unspecified
        }
    }

    /// A session's id on the wire and in logs and reports: `s-<number>` (``SessionWire``).
    public static func sessionWire(_ number: UInt64) -> String { SessionWire.wireValue(number) }

    /// The number of a wire session id, or nil for anything else (``SessionWire/number(_:)``).
    static func sessionNumber(_ wire: String) -> UInt64? { SessionWire.number(wire) }

    static func wireHangupReason(_ reason: SessionEndReason) -> Luukku_V1_HangupReason {
        switch reason {
        case .customerEnded: .customerEnded
        case .expertEnded: .expertEnded
        case .connectionLost: .connectionLost
        case .mediaTimeout: .mediaTimeout
        case .operatorAction: .operator
        case .shutdown: .shutdown
        }
    }
}
