import LuukkuBroker
import LuukkuCore
import LuukkuProtocol
import NIOSSL
import X509

/// Who a connection is, from its client certificate (docs/protocol.md, "Identity"): the one `luukku:` URI
/// SAN, known to the configuration and not revoked.
enum PeerAuthentication {
    /// The URI SANs of a peer certificate, read with swift-certificates.
    static func uriSANs(of certificate: NIOSSLCertificate) throws -> [String] {
        let parsed = try Certificate(derEncoded: certificate.toDERBytes())
        guard let names = try parsed.extensions.subjectAlternativeNames else { return [] }
        return names.compactMap { name in
            if case .uniformResourceIdentifier(let uri) = name { return uri }
            return nil
        }
    }

    /// The identity of a certificate under `configuration`, or the fatal error to send (with the identity,
    /// when the certificate had a well-formed one, for the log line).
    static func identity(of certificate: NIOSSLCertificate?, configuration: Configuration) -> Result<
        PeerIdentity, Refusal
    > {
        guard let certificate else {
            return .failure(Refusal(error: ProtocolError(.unauthenticated, detail: "no client certificate")))
        }
        let identity: PeerIdentity
        do {
            identity = try PeerIdentity(uriSANs: uriSANs(of: certificate))
        } catch let error as PeerIdentityError {
            return .failure(Refusal(error: ProtocolError(.unauthenticated, detail: error.description)))
        } catch {
            return .failure(
                Refusal(error: ProtocolError(.unauthenticated, detail: "the certificate could not be read")))
        }
        if let refused = check(identity, configuration: configuration) {
            return .failure(Refusal(error: refused, identity: identity))
        }
        return .success(identity)
    }

    /// Why a connection is refused, and who it claimed to be.
    struct Refusal: Error {
        let error: ProtocolError
        var identity: PeerIdentity?
    }

    /// Why a well-formed identity is refused now, if it is (``BrokerStateMachine/identityRefusal(_:configuration:)``).
    static func check(_ identity: PeerIdentity, configuration: Configuration) -> ProtocolError? {
        BrokerStateMachine<ContinuousClock>.identityRefusal(identity, configuration: configuration)
    }
}
