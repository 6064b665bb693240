import Foundation
import Logging
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay
import LuukkuServer
import LuukkuTestSupport
import NIOConcurrencyHelpers
import Testing

/// The broker service's outbox with a real SQLite ledger that fails on demand: nothing is told before its
/// record is on disk, and nothing after it overtakes it (docs/server.md, "Durability").
@Suite struct BrokerOutboxTests {
    /// A real SQLite ledger whose writes fail as a full disk would (`LedgerError.database`) while `failing`
    /// is set; each failed attempt is counted and announced.
    final class FailingLedger: Ledger {
        let inner: SQLiteLedger
        let failing = NIOLockedValueBox(true)
        let failures: AsyncStream<Int>
        private let failed: AsyncStream<Int>.Continuation
        private let count = NIOLockedValueBox(0)

        init(path: String) throws {
            inner = try SQLiteLedger(path: path)
            (failures, failed) = AsyncStream<Int>.makeStream()
        }

        var run: Int64 { inner.run }
        var issued: IssuedNumbers { inner.issued }

        func record(_ events: [LedgerEvent]) async throws(LedgerError) {
            if failing.withLockedValue({ $0 }) {
                let attempt = count.withLockedValue { count in
                    count += 1
                    return count
                }
                failed.yield(attempt)
                throw LedgerError(.database("disk I/O error (injected)"))
            }
            try await inner.record(events)
        }
    }

    /// Collects the frames the broker sends to one connection.
    final class Frames: ConnectionSink {
        let received = NIOLockedValueBox<[Luukku_V1_Envelope.OneOf_Message]>([])
        func send(_ envelope: Luukku_V1_Envelope) {
            if let message = envelope.message { received.withLockedValue { $0.append(message) } }
        }
        func close() {}
        var kinds: [String] {
            received.withLockedValue { messages in
                messages.map { message in
                    switch message {
                    case .welcome: "welcome"
                    case .queueStatus: "queueStatus"
                    case .pong: "pong"
                    default: "other"
                    }
                }
            }
        }
    }

    @Test func aFailingLedgerHoldsTheRepliesAndWhatCameAfterThem() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configuration = try Configuration.load(contentsOf: Repository.url("config/luukku.example.json").path)
        let ledger = try FailingLedger(path: directory.appendingPathComponent("ledger.sqlite").path)
        let relay = try Relay(configuration: RelayConfiguration(configuration.relay))
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let broker = Broker(configuration: configuration, relay: relay, ledger: ledger, logger: logger)
        let terminal = Frames()
        broker.attach(connection: 1, sink: terminal, identity: .terminal(ServicePointID("mikkeli")!), version: 1)
        await broker.flush()
        #expect(terminal.kinds == ["welcome"], "Welcome has no record: it goes out")

        var request = Luukku_V1_Envelope()
        request.requestService = .with {
            $0.agency = "kela"
            $0.language = "fi"
        }
        broker.receive(connection: 1, envelope: request)
        var failures = ledger.failures.makeAsyncIterator()
        #expect(await failures.next() == 1)
        var ping = Luukku_V1_Envelope()
        ping.ping = .with { $0.nonce = 1 }
        broker.receive(connection: 1, envelope: ping)
        #expect(await failures.next() == 2, "the write is retried")
        #expect(terminal.kinds == ["welcome"], "neither the ticket's QueueStatus nor the later Pong went out")

        ledger.failing.withLockedValue { $0 = false }
        await broker.flush()
        #expect(terminal.kinds == ["welcome", "queueStatus", "pong"])
        #expect(try await ledger.inner.tickets().count == 1)
        await broker.shutdown()
    }
}
