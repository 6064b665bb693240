import Foundation
import LuukkuClient

/// The identities in a folder of certificates (certs/make-dev-certs): `terminal-<point>` and `expert-<id>`,
/// each a `.pem` and a `.key`, and the CA as `ca.pem`.
struct Identities {
    /// Service point id to its terminal identity.
    var terminals: [String: ClientIdentity] = [:]
    /// Expert id to its identity, in name order.
    var experts: [(id: String, identity: ClientIdentity)] = []

    /// - Throws: `ValidationError`-like text when the folder has no CA or no identities of a needed kind.
    static func discover(in folder: String) throws -> Identities {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let ca = "\(folder)/ca.pem"
        guard names.contains("ca.pem") else { throw LoadError("no ca.pem in --certs \(folder)") }
        var found = Identities()
        for name in names.sorted() where name.hasSuffix(".pem") {
            let base = String(name.dropLast(4))
            guard names.contains(base + ".key") else { continue }
            let identity = ClientIdentity(
                certificate: "\(folder)/\(base).pem", privateKey: "\(folder)/\(base).key", trustRoots: ca)
            if base.hasPrefix("terminal-") {
                found.terminals[String(base.dropFirst("terminal-".count))] = identity
            } else if base.hasPrefix("expert-") {
                found.experts.append((String(base.dropFirst("expert-".count)), identity))
            }
        }
        return found
    }
}

/// A problem that ends the run, with a sentence for the operator.
struct LoadError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
