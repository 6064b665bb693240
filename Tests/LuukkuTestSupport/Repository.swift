import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Where the tests find the repository's files and the products SwiftPM built.
public enum Repository {
    /// The repository root, found from this file's path (Tests/LuukkuTestSupport/Repository.swift).
    public static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A file or folder of the repository, e.g. `config/luukku.example.json`.
    public static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    /// Where SwiftPM put the products: next to the test bundle that is running.
    public static var products: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }
}

/// Development PKIs made by certs/make-dev-certs, as `make certs` makes them.
public enum DevCertificates {
    /// One PKI for the whole test run, in a temporary folder.
    public static let shared: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "luukku-certs-\(UUID().uuidString)")
        do {
            try make(in: directory)
        } catch {
            preconditionFailure("certs/make-dev-certs failed: \(error)")
        }
        return directory
    }()

    public struct Failure: Error, CustomStringConvertible {
        public let status: Int32
        public let stderr: String
        public var description: String { "certs/make-dev-certs exited \(status): \(stderr)" }
    }

    /// Makes a PKI in `directory`: a CA of its own, the server, the demo's terminals and experts, and the
    /// extra ones (`LUUKKU_EXTRA_TERMINALS` / `LUUKKU_EXTRA_EXPERTS`, certs/README.md).
    public static func make(in directory: URL, extraTerminals: [String] = [], extraExperts: [String] = []) throws {
        var environment = ProcessInfo.processInfo.environment
        if !extraTerminals.isEmpty { environment["LUUKKU_EXTRA_TERMINALS"] = extraTerminals.joined(separator: " ") }
        if !extraExperts.isEmpty { environment["LUUKKU_EXTRA_EXPERTS"] = extraExperts.joined(separator: " ") }
        let result = try ProcessRunner.run(
            Repository.url("certs/make-dev-certs").path, [directory.path], environment: environment)
        guard result.status == 0 else { throw Failure(status: result.status, stderr: result.stderr) }
    }
}

/// Local ports nobody uses now, chosen by the kernel.
public enum FreePort {
    /// A loopback UDP port: bound once with port 0, read back, released.
    public static func udp() throws -> UInt16 {
        let (fd, port) = try bind(Int32(SOCK_DGRAM.rawValue), listening: false)
        close(fd)
        return port
    }

    /// A loopback TCP socket that listens on a port the kernel chose, held open (the caller closes `fd`), so
    /// that a test can show what a daemon says when its listen address is taken.
    public static func listeningTCP() throws -> (fd: Int32, port: UInt16) {
        try bind(Int32(SOCK_STREAM.rawValue), listening: true)
    }

    private static func bind(_ type: Int32, listening: Bool) throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, type, 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                Glibc.bind(fd, pointer, length) == 0 && (!listening || listen(fd, 1) == 0)
                    && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            let code = errno
            close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }
}
