import LuukkuClient
import LuukkuProtocol
import Testing

/// Test helpers on a client connection: wait for the next frame of a kind, skipping the others.
extension ClientConnection {
    /// The next frame that `pick` accepts; frames before it are skipped. Fails the test if the connection
    /// closes first.
    func expect<T>(
        _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ pick: (Luukku_V1_Envelope) -> T?
    ) async throws -> T {
        while let frame = await next() {
            if let value = pick(frame) { return value }
        }
        Issue.record("the connection closed while waiting for \(what)", sourceLocation: sourceLocation)
        throw ClientError(.closed)
    }

    func expectQueueStatus(
        _ sourceLocation: SourceLocation = #_sourceLocation,
        where accept: (Luukku_V1_QueueStatus) -> Bool = { _ in true }
    )
        async throws -> Luukku_V1_QueueStatus
    {
        try await expect("QueueStatus", sourceLocation: sourceLocation) { frame in
            if case .queueStatus(let status) = frame.message, accept(status) { return status }
            return nil
        }
    }

    func expectError(_ sourceLocation: SourceLocation = #_sourceLocation) async throws -> Luukku_V1_Error {
        try await expect("Error", sourceLocation: sourceLocation) { frame in
            if case .error(let error) = frame.message { return error }
            return nil
        }
    }

    /// The Error that answers the frame sent with `correlation` (other frames and errors are skipped).
    func expectError(answering correlation: UInt64, _ sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> Luukku_V1_Error
    {
        try await expect("Error answering \(correlation)", sourceLocation: sourceLocation) { frame in
            if case .error(let error) = frame.message, frame.correlationID == correlation { return error }
            return nil
        }
    }

    func expectOffer(_ sourceLocation: SourceLocation = #_sourceLocation) async throws -> Luukku_V1_Offer {
        try await expect("Offer", sourceLocation: sourceLocation) { frame in
            if case .offer(let offer) = frame.message { return offer }
            return nil
        }
    }

    func expectPresence(
        _ presence: Luukku_V1_Presence, _ sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> Luukku_V1_PresenceStatus {
        try await expect("PresenceStatus \(presence)", sourceLocation: sourceLocation) { frame in
            if case .presenceStatus(let status) = frame.message, status.presence == presence { return status }
            return nil
        }
    }

    func expectSessionStarted(_ sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> Luukku_V1_SessionStarted
    {
        try await expect("SessionStarted", sourceLocation: sourceLocation) { frame in
            if case .sessionStarted(let started) = frame.message { return started }
            return nil
        }
    }

    func expectHangup(_ sourceLocation: SourceLocation = #_sourceLocation) async throws -> Luukku_V1_Hangup {
        try await expect("Hangup", sourceLocation: sourceLocation) { frame in
            if case .hangup(let hangup) = frame.message { return hangup }
            return nil
        }
    }

    func expectGoodbye(_ sourceLocation: SourceLocation = #_sourceLocation) async throws -> Luukku_V1_Goodbye {
        try await expect("Goodbye", sourceLocation: sourceLocation) { frame in
            if case .goodbye(let goodbye) = frame.message { return goodbye }
            return nil
        }
    }

    func expectTicketClosed(_ sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> Luukku_V1_TicketClosed
    {
        try await expect("TicketClosed", sourceLocation: sourceLocation) { frame in
            if case .ticketClosed(let closed) = frame.message { return closed }
            return nil
        }
    }

    func expectOfferWithdrawn(_ sourceLocation: SourceLocation = #_sourceLocation) async throws
        -> Luukku_V1_OfferWithdrawn
    {
        try await expect("OfferWithdrawn", sourceLocation: sourceLocation) { frame in
            if case .offerWithdrawn(let withdrawn) = frame.message { return withdrawn }
            return nil
        }
    }

    /// Sends RequestService for `agency` in `language`; its correlation id.
    @discardableResult
    func requestService(_ agency: String, _ language: String) -> UInt64 {
        send(
            .requestService(
                .with {
                    $0.agency = agency; $0.language = language
                }))
    }

    /// Logs an expert in and makes it available.
    func becomeAvailable() async throws {
        send(.setPresence(.with { $0.presence = .available }))
        _ = try await expectPresence(.available)
    }
}
