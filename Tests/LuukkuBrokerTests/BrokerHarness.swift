import Foundation
import LuukkuCore
import LuukkuLedger
import LuukkuProtocol
import LuukkuRelay
import LuukkuTestSupport

@testable import LuukkuBroker

/// Drives a ``BrokerStateMachine`` as the broker service would, without a socket, a timer or a disk: it keeps
/// the frames each connection was sent, the ledger records in order, the armed timers (fired by
/// ``advance(by:)`` when the manual clock passes them) and the legs asked for. Legs open at once unless
/// ``holdLegs`` is set, and close at once unless ``holdClosing`` is set.
struct BrokerHarness {
    typealias Machine = BrokerStateMachine<SharedManualClock>
    typealias Step = Machine.Step

    let clock = SharedManualClock()
    var machine: Machine
    var sent: [UInt64: [Luukku_V1_Envelope]] = [:]
    var closed: Set<UInt64> = []
    var records: [LedgerEvent] = []
    var armed: [BrokerTimer: ManualClock.Instant] = [:]
    var holdLegs = false
    var holdClosing = false
    var heldLegs: [LegRequest] = []
    var closing: [UInt64] = []
    var nextConnection: UInt64 = 100
    var nextPort: UInt16 = 40_000
    /// Called after each step with the step and the records before it (the random walk's invariants).
    var check: ((BrokerHarness, Step, Int) -> Void)?

    init(configure: (inout Configuration) -> Void = { _ in }, seed: UInt64 = 1) throws {
        var configuration = try Configuration.load(
            contentsOf: Repository.url("config/luukku.example.json").path)
        configure(&configuration)
        let clock = self.clock
        let epoch = Date(timeIntervalSince1970: 1_800_000_000)
        machine = Machine(
            configuration: configuration, issued: (ticket: 0, session: 0), clock: clock,
            wallClock: { epoch.addingTimeInterval(Double(clock.now.offset.components.seconds)) },
            random: SplitMix(seed: seed))
    }

    // MARK: Carrying out steps

    mutating func apply(_ step: Step) {
        let before = records.count
        records += step.records
        for action in step.actions {
            switch action {
            case .send(let connection, let envelope): sent[connection, default: []].append(envelope)
            case .close(let connection): closed.insert(connection)
            case .arm(let timer, let at): armed[timer] = at
            case .cancel(let timer): armed[timer] = nil
            case .closeLegs(let session): closing.append(session)
            }
        }
        check?(self, step, before)
        for request in step.openLegs {
            if holdLegs {
                heldLegs.append(request)
            } else {
                openHeld(request)
            }
        }
        if !holdClosing { closeLegs() }
    }

    mutating func openHeld(_ request: LegRequest) {
        let ports = (nextPort, nextPort + 1)
        nextPort += 2
        apply(machine.legsOpened(session: request.session, ports: ports))
    }

    mutating func closeLegs() {
        while !closing.isEmpty {
            let session = closing.removeFirst()
            apply(machine.legsClosed(session: session, relay: LedgerEvent.RelayStats(packetsToExpert: 1)))
        }
    }

    /// Moves the clock and fires every timer it passes, earliest first.
    mutating func advance(by duration: Duration) {
        let target = clock.now.advanced(by: duration)
        while let (timer, at) = armed.filter({ $0.value <= target }).min(by: { $0.value < $1.value }) {
            clock.advance(by: clock.now.duration(to: at))
            armed[timer] = nil
            apply(machine.timerFired(timer))
        }
        clock.advance(by: clock.now.duration(to: target))
    }

    // MARK: Clients

    mutating func connect(_ identity: PeerIdentity) -> UInt64 {
        let connection = nextConnection
        nextConnection += 1
        apply(machine.attach(connection: connection, identity: identity, version: 1))
        return connection
    }

    mutating func terminal(_ point: String = "mikkeli") -> UInt64 { connect(.terminal(ServicePointID(point)!)) }

    /// An expert of the example configuration, connected and AVAILABLE.
    mutating func expert(_ id: String = "kela-aino", agency: String = "kela", available: Bool = true) -> UInt64 {
        let connection = connect(.expert(agency: AgencyID(agency)!, expert: ExpertID(id)!))
        if available { send(connection, .setPresence(.with { $0.presence = .available })) }
        return connection
    }

    mutating func send(_ connection: UInt64, _ message: Luukku_V1_Envelope.OneOf_Message, correlation: UInt64 = 0) {
        var envelope = Luukku_V1_Envelope()
        envelope.message = message
        envelope.correlationID = correlation
        apply(machine.receive(connection: connection, envelope: envelope))
    }

    /// RequestService from a terminal; returns the ticket from the QueueStatus that answers it ("" for none).
    @discardableResult
    mutating func request(_ connection: UInt64, agency: String = "kela", language: String = "fi") -> String {
        send(
            connection,
            .requestService(
                .with {
                    $0.agency = agency
                    $0.language = language
                }), correlation: 7)
        return sent[connection]?.last { $0.correlationID == 7 && $0.queueStatus.ticketID != "" }?.queueStatus.ticketID
            ?? ""
    }

    /// An available expert (Aino of Kela), a terminal's ticket offered to her, and her Accept: a running
    /// session (`session` is its wire id, "" if none started).
    mutating func runningSession() -> (expert: UInt64, terminal: UInt64, ticket: String, session: String) {
        let expert = expert()
        let terminal = terminal()
        let ticket = request(terminal)
        send(expert, .accept(.with { $0.ticketID = ticket }))
        return (expert, terminal, ticket, started(expert).first?.sessionID ?? "")
    }

    /// An available expert, a terminal's ticket offered to it, and the expert's Accept, whose legs the relay
    /// has not opened yet (``heldLegs``).
    mutating func acceptWithLegsHeld() -> (expert: UInt64, terminal: UInt64, ticket: String) {
        holdLegs = true
        let expert = expert()
        let terminal = terminal()
        let ticket = request(terminal)
        send(expert, .accept(.with { $0.ticketID = ticket }), correlation: 9)
        holdLegs = false
        return (expert, terminal, ticket)
    }

    // MARK: Reading what was sent

    func frames(_ connection: UInt64) -> [Luukku_V1_Envelope.OneOf_Message] {
        (sent[connection] ?? []).compactMap(\.message)
    }

    func offers(_ connection: UInt64) -> [String] {
        frames(connection).compactMap { if case .offer(let offer) = $0 { offer.ticketID } else { nil } }
    }

    func presences(_ connection: UInt64) -> [Luukku_V1_Presence] {
        frames(connection).compactMap { if case .presenceStatus(let status) = $0 { status.presence } else { nil } }
    }

    func statuses(_ connection: UInt64) -> [Luukku_V1_QueueStatus] {
        frames(connection).compactMap { if case .queueStatus(let status) = $0 { status } else { nil } }
    }

    func errors(_ connection: UInt64) -> [Luukku_V1_ErrorCode] {
        frames(connection).compactMap { if case .error(let error) = $0 { error.code } else { nil } }
    }

    func closes(_ connection: UInt64) -> [Luukku_V1_TicketCloseReason] {
        frames(connection).compactMap { if case .ticketClosed(let closed) = $0 { closed.reason } else { nil } }
    }

    func started(_ connection: UInt64) -> [Luukku_V1_SessionStarted] {
        frames(connection).compactMap { if case .sessionStarted(let started) = $0 { started } else { nil } }
    }

    func hangups(_ connection: UInt64) -> [Luukku_V1_HangupReason] {
        frames(connection).compactMap { if case .hangup(let hangup) = $0 { hangup.reason } else { nil } }
    }

    /// The records' kinds in order, e.g. `offerAnswered:no-answer`, for a readable comparison.
    var recordKinds: [String] {
        records.map { record in
            switch record {
            case .ticketOpened: "ticketOpened"
            case .ticketClosed(_, let outcome, _): "ticketClosed:\(outcome)"
            case .offerMade: "offerMade"
            case .offerAnswered(_, _, let answer, _): "offerAnswered:\(answer.rawValue)"
            case .sessionStarted: "sessionStarted"
            case .sessionEnded(_, let outcome, _, _): "sessionEnded:\(outcome)"
            case .feedback: "feedback"
            }
        }
    }
}
