import Foundation
import NIOConcurrencyHelpers

/// Runs a program to its end: `input` on its stdin (none: /dev/null), stdout and stderr read back from files
/// (stderr into the output with `errorsToOutput`). A cancelled test (its time limit) kills the program, so no
/// failed test leaves one behind.
public func runProcess(_ executable: String, _ arguments: [String], input: String? = nil, errorsToOutput: Bool = false)
    async throws -> (status: Int32, output: String, error: String)
{
    let directory = FileManager.default.temporaryDirectory
    let name = URL(fileURLWithPath: executable).lastPathComponent
    let output = directory.appendingPathComponent("\(name)-\(UUID().uuidString).out")
    let error = directory.appendingPathComponent("\(name)-\(UUID().uuidString).err")
    for file in [output, error] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
    defer { for file in [output, error] { try? FileManager.default.removeItem(at: file) } }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = try FileHandle(forWritingTo: output)
    process.standardError = errorsToOutput ? process.standardOutput : try FileHandle(forWritingTo: error)
    let stdin = input.map { _ in Pipe() }
    process.standardInput = stdin ?? FileHandle.nullDevice
    let exit = ExitBox()
    process.terminationHandler = { exit.set($0.terminationStatus) }
    try process.run()
    if let stdin, let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let pid = process.processIdentifier
    let status = await withTaskCancellationHandler {
        await exit.wait()
    } onCancel: {
        kill(pid, SIGKILL)
    }
    return (
        status, try String(contentsOf: output, encoding: .utf8), try String(contentsOf: error, encoding: .utf8)
    )
}

/// A process's exit status, awaited without polling. A waiting task that is cancelled (a test's time limit)
/// gets -1 instead of hanging.
public final class ExitBox: Sendable {
    public init() {}

    private let state = NIOLockedValueBox<(status: Int32?, waiters: [CheckedContinuation<Int32, Never>])>((nil, []))

    public var hasExited: Bool { state.withLockedValue { $0.status != nil } }

    public func set(_ status: Int32) {
        let waiters = state.withLockedValue { state in
            state.status = status
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    public func wait() async -> Int32 {
        await withTaskCancellationHandler {
            await withCheckedContinuation { waiter in
                let status = state.withLockedValue { state -> Int32? in
                    if let status = state.status { return status }
                    if Task.isCancelled { return -1 }
                    state.waiters.append(waiter)
                    return nil
                }
                if let status { waiter.resume(returning: status) }
            }
        } onCancel: {
            let waiters = state.withLockedValue { state in
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: -1) }
        }
    }
}

/// The daemon's stdout lines, and tests waiting for one.
public final class LineLog: Sendable {
    public init() {}

    private struct Waiter {
        let prefix: String
        let skip: Int
        let anywhere: Bool
        let continuation: CheckedContinuation<String?, Never>
    }

    private let state = NIOLockedValueBox<(lines: [String], finished: Bool, waiters: [Waiter])>(([], false, []))

    public func append(_ line: String) {
        let ready = state.withLockedValue { state -> [(Waiter, String)] in
            state.lines.append(line)
            var ready: [(Waiter, String)] = []
            state.waiters.removeAll { waiter in
                guard let match = Self.match(state.lines, waiter.prefix, waiter.skip, anywhere: waiter.anywhere) else {
                    return false
                }
                ready.append((waiter, match))
                return true
            }
            return ready
        }
        for (waiter, line) in ready { waiter.continuation.resume(returning: line) }
    }

    /// Every line so far.
    public var lines: [String] { state.withLockedValue { $0.lines } }

    public func finish() {
        let waiters = state.withLockedValue { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    /// The line after `skip` earlier ones that starts with `prefix` (or, `anywhere`, contains it).
    public func wait(for prefix: String, skip: Int, anywhere: Bool = false) async -> String? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLockedValue { state -> String?? in
                    if let match = Self.match(state.lines, prefix, skip, anywhere: anywhere) { return .some(match) }
                    if state.finished || Task.isCancelled { return .some(nil) }
                    state.waiters.append(
                        Waiter(prefix: prefix, skip: skip, anywhere: anywhere, continuation: continuation))
                    return .none
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            finish()
        }
    }

    private static func match(_ lines: [String], _ prefix: String, _ skip: Int, anywhere: Bool) -> String? {
        let matching = lines.filter { anywhere ? $0.contains(prefix) : $0.hasPrefix(prefix) }
        return matching.count > skip ? matching[skip] : nil
    }
}
