import Foundation
import LuukkuCore
import LuukkuTestSupport
import Testing

/// Runs certs/make-dev-certs into a fresh directory and checks the chain with openssl itself.
@Suite struct DevCertificatesTests {
    static func makeChain() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-certs-\(UUID().uuidString)")
        let result = try ProcessRunner.run(
            Repository.url("certs/make-dev-certs").path,
            [dir.path]
        )
        try #require(result.status == 0, "make-dev-certs failed: \(result.stderr)")
        return dir
    }

    static func openssl(_ arguments: [String]) throws -> ProcessResult {
        let openssl = try #require(ProcessRunner.which("openssl"), "openssl is not installed")
        return try ProcessRunner.run(openssl, arguments)
    }

    static func uriSANs(of certificate: URL) throws -> [String] {
        let result = try openssl(["x509", "-in", certificate.path, "-noout", "-ext", "subjectAltName"])
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout.split(whereSeparator: { $0 == "," || $0.isNewline }).compactMap { part in
            let trimmed = part.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("URI:") ? String(trimmed.dropFirst(4)) : nil
        }
    }

    @Test func chainVerifiesAndIdentitiesMatchTheDemoConfiguration() throws {
        let dir = try Self.makeChain()
        defer { try? FileManager.default.removeItem(at: dir) }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let leaves = files.filter { $0.hasSuffix(".pem") && $0 != "ca.pem" }.sorted()
        #expect(leaves.filter { $0.hasPrefix("terminal-") }.count == 5)
        #expect(leaves.filter { $0.hasPrefix("expert-") }.count >= 4)

        let config = try Configuration.load(
            contentsOf: Repository.url("config/luukku.example.json").path
        )
        for leaf in leaves {
            let url = dir.appendingPathComponent(leaf)
            let verify = try Self.openssl(["verify", "-CAfile", dir.appendingPathComponent("ca.pem").path, url.path])
            #expect(
                verify.status == 0 && verify.stdout.hasSuffix(": OK\n"), "\(leaf): \(verify.stdout)\(verify.stderr)")
            if leaf == "server.pem" { continue }

            let identity = try PeerIdentity(uriSANs: try Self.uriSANs(of: url))
            switch identity {
            case .terminal(let point):
                #expect(leaf == "terminal-\(point).pem")
                #expect(config.servicePoint(point) != nil, "\(point) is not in the demo configuration")
            case .expert(let agency, let expert):
                #expect(leaf == "expert-\(expert).pem")
                #expect(
                    config.expert(expert)?.agency == agency, "\(expert) of \(agency) is not in the demo configuration")
            }
            let purpose = try Self.openssl(["x509", "-in", url.path, "-noout", "-ext", "extendedKeyUsage"])
            #expect(purpose.stdout.contains("TLS Web Client Authentication"))
        }
        let languages = Set(
            leaves.compactMap { leaf -> [LanguageCode]? in
                guard leaf.hasPrefix("expert-") else { return nil }
                return config.expert(ExpertID(String(leaf.dropFirst(7).dropLast(4)))!)?.languages
            }.joined())
        #expect(languages.isSuperset(of: [.finnish, .swedish]), "demo experts must cover both national languages")
    }

    @Test func serverCertificateNamesLoopbackAndKeysArePrivate() throws {
        let dir = try Self.makeChain()
        defer { try? FileManager.default.removeItem(at: dir) }
        let san = try Self.openssl([
            "x509", "-in", dir.appendingPathComponent("server.pem").path, "-noout", "-ext", "subjectAltName",
        ])
        #expect(san.stdout.contains("DNS:localhost"))
        #expect(san.stdout.contains("IP Address:127.0.0.1"))
        #expect(san.stdout.contains("IP Address:0:0:0:0:0:0:0:1"))
        for key in try FileManager.default.contentsOfDirectory(atPath: dir.path) where key.hasSuffix(".key") {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(key).path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(key) must be readable by its owner only")
        }
    }

    @Test func secondRunKeepsTheCAUnlessForced() throws {
        let dir = try Self.makeChain()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ca = dir.appendingPathComponent("ca.pem")
        let first = try Data(contentsOf: ca)
        let script = Repository.url("certs/make-dev-certs").path
        #expect(try ProcessRunner.run(script, [dir.path]).status == 0)
        #expect(try Data(contentsOf: ca) == first)
        #expect(try ProcessRunner.run(script, ["--force", dir.path]).status == 0)
        #expect(try Data(contentsOf: ca) != first)
    }

    @Test func unknownOptionIsRefused() throws {
        let script = Repository.url("certs/make-dev-certs").path
        let result = try ProcessRunner.run(script, ["--bogus"])
        #expect(result.status == 2)
        #expect(result.stderr.contains("unknown option '--bogus'"))
    }
}
