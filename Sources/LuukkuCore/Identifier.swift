/// What kind of thing an ``Identifier`` names, and which spellings are valid for it.
public protocol IdentifierKind: Sendable {
    /// Name used in error text, e.g. "agency id".
    static var displayName: String { get }
    /// Checks the syntax of an identifier's text and returns the problem, or `nil` when it is valid.
    static func problem(with text: String) -> String?
}

/// A validated, stable identifier: agencies, service points, experts and languages are named by these in
/// configuration, certificates (URI SANs), the wire protocol and the ledger.
///
/// The kind is a phantom type so that an expert id can never be passed where an agency id is expected.
public struct Identifier<Kind: IdentifierKind>: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The identifier as written in configuration and on the wire.
    public let rawValue: String

    /// Creates an identifier, or returns `nil` when `rawValue` is not a valid spelling for `Kind`.
    public init?(_ rawValue: String) {
        guard Kind.problem(with: rawValue) == nil else { return nil }
        self.rawValue = rawValue
    }

    /// Creates an identifier or throws ``IdentifierError`` saying what is wrong with the text.
    public init(validating rawValue: String) throws(IdentifierError) {
        if let problem = Kind.problem(with: rawValue) {
            throw IdentifierError(kind: Kind.displayName, problem: problem)
        }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// An identifier's text did not follow the rules for its kind. The text itself is not repeated, since it may
/// come from an untrusted peer.
public struct IdentifierError: Error, Hashable, Sendable, CustomStringConvertible {
    public let kind: String
    public let problem: String

    public init(kind: String, problem: String) {
        self.kind = kind
        self.problem = problem
    }

    public var description: String { "invalid \(kind): \(problem)" }
}

/// Rules shared by the ids that appear inside URIs (`luukku:expert:<agency>:<expert-id>`): lowercase ASCII
/// letters, digits and inner hyphens, 1 to 63 characters, so they never need escaping in a URI, a file name,
/// a log line or a CSV report.
public enum SlugRules {
    public static let maxLength = 63

    public static func problem(with text: String) -> String? {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { return "must not be empty" }
        if bytes.count > maxLength { return "must be at most \(maxLength) characters" }
        for byte in bytes {
            let allowed =
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
            if !allowed { return "may hold only a-z, 0-9 and '-'" }
        }
        if bytes.first == UInt8(ascii: "-") || bytes.last == UInt8(ascii: "-") {
            return "must not start or end with '-'"
        }
        return nil
    }
}

public enum AgencyKind: IdentifierKind {
    public static let displayName = "agency id"
    public static func problem(with text: String) -> String? { SlugRules.problem(with: text) }
}

public enum ServicePointKind: IdentifierKind {
    public static let displayName = "service point id"
    public static func problem(with text: String) -> String? { SlugRules.problem(with: text) }
}

public enum ExpertKind: IdentifierKind {
    public static let displayName = "expert id"
    public static func problem(with text: String) -> String? { SlugRules.problem(with: text) }
}

public enum ServiceCodeKind: IdentifierKind {
    public static let displayName = "service code"
    public static func problem(with text: String) -> String? { SlugRules.problem(with: text) }
}

/// Language codes: ISO 639-1 where one exists ("fi", "sv", "en"), ISO 639-3 otherwise; lowercase, 2 or 3
/// letters. Northern Sámi is "se".
public enum LanguageKind: IdentifierKind {
    public static let displayName = "language code"
    public static func problem(with text: String) -> String? {
        let bytes = Array(text.utf8)
        guard (2...3).contains(bytes.count), bytes.allSatisfy({ (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) })
        else { return "must be 2 or 3 lowercase letters (ISO 639)" }
        return nil
    }
}

/// An agency: Kela, the Tax Administration, police permit administration, ... ("kela", "vero", "poliisi").
public typealias AgencyID = Identifier<AgencyKind>
/// A service point (asiointipiste, servicepunkt), e.g. "mikkeli", "parainen".
public typealias ServicePointID = Identifier<ServicePointKind>
/// An agency expert, unique across agencies, e.g. "kela-aino".
public typealias ExpertID = Identifier<ExpertKind>
/// A service card (palvelukortti) code within an agency.
public typealias ServiceCode = Identifier<ServiceCodeKind>
/// A language a service is given in.
public typealias LanguageCode = Identifier<LanguageKind>

extension Identifier where Kind == LanguageKind {
    /// Finnish, a national language.
    public static var finnish: LanguageCode { LanguageCode("fi")! }
    /// Swedish, a national language.
    public static var swedish: LanguageCode { LanguageCode("sv")! }
}
