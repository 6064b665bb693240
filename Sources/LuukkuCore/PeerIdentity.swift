/// Who is on the other end of a signaling connection, as read from its client certificate.
///
/// The identity is carried in a URI subject alternative name (docs/protocol.md, "Identity"):
/// - `luukku:terminal:<service-point-id>` for a service point's video terminal,
/// - `luukku:expert:<agency-id>:<expert-id>` for an agency expert.
///
/// Role and id come only from the certificate, never from a message.
public enum PeerIdentity: Hashable, Sendable, CustomStringConvertible {
    case terminal(ServicePointID)
    case expert(agency: AgencyID, expert: ExpertID)

    /// The URI scheme every Luukku identity uses.
    public static let scheme = "luukku"

    /// Parses one URI SAN value.
    /// - Throws: ``PeerIdentityError`` naming what is wrong (never echoing the whole value).
    public init(uri: String) throws(PeerIdentityError) {
        let parts = uri.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, parts[0] == Self.scheme else { throw PeerIdentityError(.notLuukkuURI) }
        switch parts[1] {
        case "terminal":
            guard parts.count == 3 else { throw PeerIdentityError(.wrongShape) }
            guard let point = ServicePointID(parts[2]) else { throw PeerIdentityError(.invalidID) }
            self = .terminal(point)
        case "expert":
            guard parts.count == 4 else { throw PeerIdentityError(.wrongShape) }
            guard let agency = AgencyID(parts[2]), let expert = ExpertID(parts[3]) else {
                throw PeerIdentityError(.invalidID)
            }
            self = .expert(agency: agency, expert: expert)
        default:
            throw PeerIdentityError(.unknownRole)
        }
    }

    /// Picks the one Luukku identity among a certificate's URI SANs. Other URIs are ignored; two Luukku
    /// identities in one certificate are refused, since the role would be ambiguous.
    public init(uriSANs: [String]) throws(PeerIdentityError) {
        let ours = uriSANs.filter { $0.hasPrefix(Self.scheme + ":") }
        guard let first = ours.first else { throw PeerIdentityError(.missing) }
        guard ours.count == 1 else { throw PeerIdentityError(.ambiguous) }
        try self.init(uri: first)
    }

    /// The URI SAN form, as written into certificates by `certs/make-dev-certs`.
    public var uri: String {
        switch self {
        case .terminal(let point): "\(Self.scheme):terminal:\(point)"
        case .expert(let agency, let expert): "\(Self.scheme):expert:\(agency):\(expert)"
        }
    }

    public var description: String { uri }
}

/// A certificate did not carry a usable Luukku identity.
public struct PeerIdentityError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        case missing, ambiguous, notLuukkuURI, unknownRole, wrongShape, invalidID
    }

    public let code: Code

    public init(code: Code) { self.code = code }

    init(_ code: Code) { self.code = code }

    public var description: String {
        switch code {
        case .missing: "the certificate has no luukku: URI SAN"
        case .ambiguous: "the certificate has more than one luukku: URI SAN"
        case .notLuukkuURI: "the URI is not a luukku: identity"
        case .unknownRole: "the identity names an unknown role (expected terminal or expert)"
        case .wrongShape:
            "the identity has the wrong number of parts (luukku:terminal:<point> or luukku:expert:<agency>:<id>)"
        case .invalidID: "the identity holds an invalid id (a-z, 0-9 and '-', at most 63 characters)"
        }
    }
}
