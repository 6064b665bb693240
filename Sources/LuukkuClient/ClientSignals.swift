import Dispatch

#if canImport(Glibc)
    import Glibc
#endif

/// Ctrl-C and SIGTERM as events for a client's loop instead of an immediate death: the client ends its session
/// in order (its media and their GStreamer child first, then Goodbye to the daemon) and exits 128 + the signal.
public enum ClientSignals {
    /// Handles each of `numbers` by calling `handler` (on a global queue) until the sources are cancelled.
    public static func handle(
        _ numbers: [Int32] = [SIGINT, SIGTERM], _ handler: @escaping @Sendable (Int32) -> Void
    ) -> [any DispatchSourceSignal] {
        numbers.map { number in
            signal(number, SIG_IGN)  // the source sees it; the default action would end the process first
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { handler(number) }
            source.resume()
            return source
        }
    }
}
