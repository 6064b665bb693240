import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A status-socket client: connects to the Unix socket, writes one line, and reads the answer until the daemon
/// closes the connection (docs/operations.md, "Status socket").
enum StatusClient {
    /// Why there was no answer; each case has its exit status (sysexits.h: 64 usage, 69 unavailable, 74 I/O,
    /// 75 temporary failure, 77 no permission).
    enum Failure: Error, CustomStringConvertible {
        case pathTooLong(String)
        case noDaemon(String, String)
        case notAllowed(String)
        case io(String, String)
        case noAnswer(String)

        var description: String {
            switch self {
            case .pathTooLong(let path): "socket path '\(path)' is longer than 107 octets"
            case .noDaemon(let path, let why):
                "no luukkud at \(path) (\(why)); is it running, and is that its server.statusSocket? (--socket)"
            case .notAllowed(let path):
                "not allowed to open \(path): the socket is for the daemon's group; ask for the luukku-operators group"
            case .io(let path, let why): "\(path): \(why)"
            case .noAnswer(let path):
                "no answer from luukkud at \(path) within \(StatusClient.timeoutSeconds) s; is it stuck? (journalctl -u luukkud)"
            }
        }

        var exitCode: Int32 {
            switch self {
            case .pathTooLong: 64
            case .noDaemon: 69
            case .notAllowed: 77
            case .io: 74
            case .noAnswer: 75
            }
        }
    }

    /// How long one read may wait: a daemon that stops answering must not hang `watch luukkuctl sessions`.
    static let timeoutSeconds = 30

    static func send(_ line: String, to path: String) throws(Failure) -> String {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .pathTooLong(path) }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .io(path, String(cString: strerror(errno))) }
        defer { close(fd) }
        // Bounds connect (a Unix socket's connect waits while the daemon's backlog is full), every write and
        // every read: a daemon that stops answering must not hang `watch luukkuctl sessions`.
        var bound = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if connected != 0 {
            let code = errno
            if code == EACCES || code == EPERM { throw .notAllowed(path) }
            if code == EAGAIN || code == EINPROGRESS || code == EWOULDBLOCK { throw .noAnswer(path) }
            throw .noDaemon(path, String(cString: strerror(code)))
        }
        let request = Array((line + "\n").utf8)
        var written = 0
        while written < request.count {
            // MSG_NOSIGNAL: a daemon that closes early (a refused line) gives EPIPE here, not a SIGPIPE death;
            // SIGPIPE stays as it is for stdout (`luukkuctl sessions | head -1` ends quietly).
            let n = request[written...].withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if n < 0, errno == EINTR { continue }
            // EPIPE: the daemon already answered and closed (a line it refused); read what it said.
            if n < 0, errno == EPIPE { break }
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { throw .noAnswer(path) }
            guard n > 0 else { throw .io(path, String(cString: strerror(errno))) }
            written += n
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { throw .noAnswer(path) }
            guard n >= 0 else { throw .io(path, String(cString: strerror(errno))) }
            if n == 0 { break }
            answer.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: answer, as: UTF8.self)
    }
}
