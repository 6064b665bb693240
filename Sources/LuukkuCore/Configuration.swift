/// The broker's catalogue: which languages, agencies, service points and experts exist.
///
/// Loaded from a JSON file (docs/configuration.md) by ``Configuration/load(contentsOf:)`` or
/// ``Configuration/init(json:file:)``, which decode it strictly (unknown keys are errors) and then run
/// ``validate()``, so a `Configuration` obtained that way is known to be consistent: every reference
/// resolves, every id is unique, every name exists in every national language.
public struct Configuration: Hashable, Sendable {
    /// The format version of the file; this build reads version 1.
    public static let supportedVersion = 1

    /// Languages every agency must serve and every name must be given in. Finland's national languages by
    /// default: Finnish and Swedish.
    public var nationalLanguages: [LanguageCode]
    public var languages: [Language]
    public var agencies: [Agency]
    public var servicePoints: [ServicePoint]
    public var experts: [Expert]
    /// The SRTP media relay (the `relay` section; every key optional).
    public var relay: Relay
    /// The codecs and SRTP suites sessions may use, in order of preference (the `media` section).
    public var media: Media
    /// The daemon's listener, TLS files, state paths, limits and timeouts (the `server` section).
    public var server: Server

    public init(
        nationalLanguages: [LanguageCode] = [.finnish, .swedish],
        languages: [Language],
        agencies: [Agency],
        servicePoints: [ServicePoint],
        experts: [Expert],
        relay: Relay = Relay(),
        media: Media = Media(),
        server: Server = Server()
    ) {
        self.nationalLanguages = nationalLanguages
        self.languages = languages
        self.agencies = agencies
        self.servicePoints = servicePoints
        self.experts = experts
        self.relay = relay
        self.media = media
        self.server = server
    }

    public func agency(_ id: AgencyID) -> Agency? { agencies.first { $0.id == id } }
    public func servicePoint(_ id: ServicePointID) -> ServicePoint? { servicePoints.first { $0.id == id } }
    public func expert(_ id: ExpertID) -> Expert? { experts.first { $0.id == id } }
}

/// Text in several languages, keyed by language code: `{"fi": "Verohallinto", "sv": "Skatteförvaltningen"}`.
public typealias LocalizedName = [LanguageCode: String]

extension Configuration {
    /// A language service can be given in.
    public struct Language: Hashable, Sendable {
        public var code: LanguageCode
        public var names: LocalizedName

        public init(code: LanguageCode, names: LocalizedName) {
            self.code = code
            self.names = names
        }
    }

    /// An authority whose experts serve customers remotely.
    public struct Agency: Hashable, Sendable {
        public var id: AgencyID
        public var names: LocalizedName
        /// Languages the agency serves in; always includes every national language.
        public var languages: [LanguageCode]
        /// Service cards (palvelukortit) a customer may name in a request; may be empty.
        public var services: [Service]

        public init(id: AgencyID, names: LocalizedName, languages: [LanguageCode], services: [Service] = []) {
            self.id = id
            self.names = names
            self.languages = languages
            self.services = services
        }
    }

    /// One nationally uniform service card of an agency.
    public struct Service: Hashable, Sendable {
        public var code: ServiceCode
        public var names: LocalizedName

        public init(code: ServiceCode, names: LocalizedName) {
            self.code = code
            self.names = names
        }
    }

    /// A desk run by a municipality, with video terminals for remote service.
    public struct ServicePoint: Hashable, Sendable {
        public var id: ServicePointID
        public var names: LocalizedName
        /// The municipality that runs the point and is compensated per transaction.
        public var municipality: String
        /// Languages the point's customers are usually served in (e.g. Parainen: sv, fi).
        public var languages: [LanguageCode]
        /// For a branch point (Mikkeli's Anttola, Haukivuori, ...): the main point it belongs to.
        public var branchOf: ServicePointID?

        public init(
            id: ServicePointID,
            names: LocalizedName,
            municipality: String,
            languages: [LanguageCode],
            branchOf: ServicePointID? = nil
        ) {
            self.id = id
            self.names = names
            self.municipality = municipality
            self.languages = languages
            self.branchOf = branchOf
        }
    }

    /// An agency expert who serves customers from `luukku-console`.
    public struct Expert: Hashable, Sendable {
        public var id: ExpertID
        /// The expert's agency; must match the agency in the expert's certificate.
        public var agency: AgencyID
        /// Shown to the customer; a first name and initial, never a personal identity code.
        public var displayName: String
        /// Languages the expert serves in; a subset of the agency's.
        public var languages: [LanguageCode]

        public init(id: ExpertID, agency: AgencyID, displayName: String, languages: [LanguageCode]) {
            self.id = id
            self.agency = agency
            self.displayName = displayName
            self.languages = languages
        }
    }
}
