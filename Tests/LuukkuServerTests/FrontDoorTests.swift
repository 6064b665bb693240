import Logging
import LuukkuCore
import NIOConcurrencyHelpers
import Testing

@testable import LuukkuServer

/// The front door's budgets as a value in a test: per-address refusal, eviction of the oldest handshake, the
/// authenticated cap, stages, and refusal lines at most once per source and interval.
@Suite struct FrontDoorTests {
    /// Log lines, captured.
    final class Lines: LogHandler, @unchecked Sendable {
        // @unchecked: `lines` is a locked box; the LogHandler properties are set once, before use.
        let lines = NIOLockedValueBox<[String]>([])
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .info
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let fields = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            lines.withLockedValue { $0.append("\(event.level) \(event.message) \(fields.joined(separator: " "))") }
        }
    }

    static func door(pending: Int, perAddress: Int, authenticated: Int) -> (FrontDoor, Lines) {
        let lines = Lines()
        let logger = Logger(label: "test") { _ in lines }
        let door = FrontDoor(
            limits: .init(maxPending: pending, maxPendingPerAddress: perAddress, maxAuthenticated: authenticated),
            logger: logger, logInterval: .seconds(60))
        return (door, lines)
    }

    @Test func oneAddressCannotTakeMoreThanItsShare() {
        let (door, lines) = Self.door(pending: 100, perAddress: 3, authenticated: 10)
        let now = ContinuousClock.now
        let admitted = (1...10).map { door.accepted(UInt64($0), from: "127.0.0.2", now: now) {} }
        #expect(admitted == [true, true, true] + Array(repeating: false, count: 7))
        // Another address is not affected.
        #expect(door.accepted(11, from: "127.0.0.1", now: now) {})
        #expect(door.snapshot().counts == .init(tcp: 4, tls: 0, authenticated: 0))
        #expect(door.snapshot().refusals[.perAddress] == 7)
        // Seven refusals, one line; the next one after the interval says how many went unlogged.
        #expect(lines.lines.withLockedValue { $0 }.filter { $0.contains("per_address") }.count == 1)
        #expect(!door.accepted(12, from: "127.0.0.2", now: now.advanced(by: .seconds(61))) {})
        let logged = lines.lines.withLockedValue { $0 }.filter { $0.contains("per_address") }
        #expect(logged.count == 2 && logged[1].contains("unlogged_since_last=6"), "\(logged)")
        #expect(logged.allSatisfy { $0.hasPrefix("notice refused a connection") && $0.contains("peer=127.0.0.2") })
        // A handshake that finishes frees its address's place.
        #expect(door.tlsEstablished(1, from: "127.0.0.2", now: now))
        #expect(door.accepted(13, from: "127.0.0.2", now: now) {})
    }

    @Test func atThePendingCapTheOldestHandshakeMakesRoom() {
        let (door, _) = Self.door(pending: 3, perAddress: 3, authenticated: 10)
        let closed = NIOLockedValueBox<[UInt64]>([])
        for id in UInt64(1)...3 {
            #expect(door.accepted(id, from: "10.0.0.\(id)") { closed.withLockedValue { $0.append(id) } })
        }
        // A real client arrives with the budget full: the oldest pending one is closed, the client is let in.
        #expect(door.accepted(4, from: "10.0.0.9") { closed.withLockedValue { $0.append(4) } })
        #expect(closed.withLockedValue { $0 } == [1])
        #expect(door.snapshot().counts.tcp == 3 && door.snapshot().refusals[.evicted] == 1)
        // Its close (after the eviction) changes nothing more.
        door.closed(1)
        #expect(door.snapshot().counts.tcp == 3)
        // The client finishes TLS and says Hello: it moves through the stages and out of the pending budget.
        #expect(door.tlsEstablished(4, from: "10.0.0.9"))
        #expect(door.snapshot().counts == .init(tcp: 2, tls: 1, authenticated: 0))
        door.attached(4)
        #expect(door.snapshot().counts == .init(tcp: 2, tls: 0, authenticated: 1))
        door.closed(4)
        #expect(door.snapshot().counts == .init(tcp: 2, tls: 0, authenticated: 0))
    }

    @Test func theAuthenticatedCapRefusesWithOverloadedAndRefusalsAreCountedByReason() {
        let (door, lines) = Self.door(pending: 10, perAddress: 10, authenticated: 2)
        for id in UInt64(1)...3 { #expect(door.accepted(id, from: "127.0.0.1") {}) }
        #expect(door.tlsEstablished(1, from: "127.0.0.1"))
        #expect(door.tlsEstablished(2, from: "127.0.0.1"))
        #expect(!door.tlsEstablished(3, from: "127.0.0.1"))
        door.closed(3)
        #expect(door.snapshot().counts == .init(tcp: 0, tls: 2, authenticated: 0))
        #expect(door.accepted(4, from: "127.0.0.1") {})
        door.refuse(4, .tlsFailed, from: "127.0.0.1", detail: "PEER_DID_NOT_RETURN_A_CERTIFICATE")
        #expect(door.accepted(5, from: "127.0.0.1") {})
        door.refuse(5, .identity, from: "127.0.0.1", identity: "luukku:terminal:x", detail: "revoked")
        #expect(door.accepted(6, from: "127.0.0.1") {})
        door.refuse(6, .identity, from: "127.0.0.1", identity: "luukku:terminal:y", detail: "revoked")
        let refusals = door.snapshot().refusals
        #expect(refusals[.overloaded] == 1 && refusals[.tlsFailed] == 1 && refusals[.identity] == 2)
        #expect(refusals[.handshakeTimeout] == 0 && refusals.count == FrontDoor.Refusal.allCases.count)
        #expect(door.snapshot().counts.tcp == 0)
        // Two identities from one address: a line each (the key is source, reason and identity).
        #expect(lines.lines.withLockedValue { $0 }.filter { $0.contains("reason=identity") }.count == 2)
    }

    /// Refusals from more sources than the limiter keeps (4,096) fold into one line per reason, so neither the
    /// log nor the limiter's memory grows with the number of sources.
    @Test func aFloodFromManySourcesFoldsIntoOneLine() {
        let (door, lines) = Self.door(pending: 10, perAddress: 10, authenticated: 10)
        let now = ContinuousClock.now
        for index in 0..<6_000 {
            let address = "10.\(index / 65_536).\(index / 256 % 256).\(index % 256)"
            #expect(door.accepted(UInt64(index), from: address, now: now) {})
            door.refuse(UInt64(index), .tlsFailed, from: address, now: now, detail: "no certificate")
        }
        let logged = lines.lines.withLockedValue { $0 }
        #expect(logged.count == 4_097, "\(logged.count)")
        #expect(logged.last?.contains("peer=many sources") == true, "\(logged.last ?? "")")
        #expect(door.snapshot().refusals[.tlsFailed] == 6_000 && door.snapshot().counts.tcp == 0)
    }

    @Test func libraryLocationsAreTakenOutOfTLSErrors() {
        struct Fake: Error, CustomStringConvertible {
            var description: String {
                "handshakeFailed(sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:"
                    + "CERTIFICATE_VERIFY_FAILED at /work/.build/checkouts/swift-nio-ssl/Sources/CNIOBoringSSL/ssl/"
                    + "handshake.cc:393]))"
            }
        }
        let text = ErrorText.withoutSourceLocations(Fake())
        #expect(
            text.contains("CERTIFICATE_VERIFY_FAILED") && !text.contains("/work") && !text.contains(".cc"), "\(text)")
    }
}
