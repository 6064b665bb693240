/// One queue of the broker: an agency served in one language. Tickets wait in exactly one queue; an expert
/// stands in one queue per language it serves for its agency.
public struct QueueKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let agency: AgencyID
    public let language: LanguageCode

    public init(agency: AgencyID, language: LanguageCode) {
        self.agency = agency
        self.language = language
    }

    public var description: String { "\(agency)/\(language)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.agency, lhs.language) < (rhs.agency, rhs.language)
    }
}

extension Configuration.Expert {
    /// The queues this expert serves: its agency in each of its languages.
    public var queues: [QueueKey] { languages.map { QueueKey(agency: agency, language: $0) } }
}
