import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// sd_notify as systemd sees it: a datagram socket in NOTIFY_SOCKET gets READY=1 once the daemon listens,
/// WATCHDOG=1 while it runs and STOPPING=1 when SIGTERM starts the drain.
@Suite(.timeLimit(.minutes(1))) struct SystemdNotifyTests {
    /// A bound AF_UNIX datagram socket; `receive` blocks until the next datagram.
    final class NotifySocket: @unchecked Sendable {
        // @unchecked Sendable is safe: fd and path are immutable; the socket is read by one waiter at a time.
        let fd: Int32
        let path: String

        init() throws {
            path =
                FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))")
                .path
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
            let fd = self.fd
            let bound = withUnixAddress(path) { bind(fd, $0, $1) }
            try #require(fd >= 0 && bound == 0)
        }

        deinit {
            close(fd)
            unlink(path)
        }

        /// The next datagram, read on a thread of its own; "" after 30 s without one (a bound so a broken daemon
        /// fails the test instead of hanging it).
        func receive() async -> String {
            let fd = self.fd
            return await onThread {
                var bound = timeval(tv_sec: 30, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, socklen_t(MemoryLayout<timeval>.size))
                var buffer = [UInt8](repeating: 0, count: 4_096)
                let count = recv(fd, &buffer, buffer.count, 0)
                return String(decoding: buffer[0..<max(0, count)], as: UTF8.self)
            }
        }
    }

    static func next(_ socket: NotifySocket) async throws -> String {
        let message = await socket.receive()
        try #require(!message.isEmpty, "no sd_notify message within 30 s")
        return message
    }

    @Test func readyWatchdogAndStoppingReachNotifySocket() async throws {
        let notify = try NotifySocket()
        let daemon = try await Daemon.start(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"])
        var messages: [String] = []
        while !messages.contains(where: { $0.contains("READY=1") }) { messages.append(try await Self.next(notify)) }
        #expect(messages.contains { $0.contains("STATUS=serving on [IPv4]127.0.0.1") })
        while !messages.contains("WATCHDOG=1") { messages.append(try await Self.next(notify)) }
        daemon.signal(SIGTERM)
        while !messages.contains(where: { $0.hasPrefix("STOPPING=1") }) { messages.append(try await Self.next(notify)) }
        #expect(await daemon.exitStatus() == 0)
    }
}
