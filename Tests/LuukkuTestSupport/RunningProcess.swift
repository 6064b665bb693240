import Foundation
import NIOConcurrencyHelpers

/// A process running beside the test (luukku-terminal, ffmpeg): stdout lines can be awaited, stderr goes to
/// a file, and the exit status is awaited without polling.
public final class RunningProcess: Sendable {
    private let process: Process
    private let exit = ExitBox()
    private let lines = LineLog()
    public let errorFile: URL

    /// Starts `executable` in `directory` with the test's environment plus `environment`; stderr goes to
    /// `errorFileName` in `directory` (default: a name of its own).
    public init(
        _ executable: String, _ arguments: [String], in directory: URL, environment: [String: String] = [:],
        errorFileName: String? = nil
    ) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.currentDirectoryURL = directory
        let stdout = Pipe()
        process.standardOutput = stdout
        errorFile = directory.appendingPathComponent(
            errorFileName ?? "\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        let exit = self.exit
        process.terminationHandler = { exit.set($0.terminationStatus) }
        self.process = process
        try process.run()
        let lines = self.lines
        Thread.detachNewThread {
            var pending = ""
            while true {
                let data = stdout.fileHandleForReading.availableData
                if data.isEmpty { break }
                pending += String(decoding: data, as: UTF8.self)
                while let newline = pending.firstIndex(of: "\n") {
                    lines.append(String(pending[..<newline]))
                    pending.removeSubrange(...newline)
                }
            }
            lines.finish()
        }
    }

    deinit {
        if !exit.hasExited { kill(process.processIdentifier, SIGKILL) }
    }

    public var pid: pid_t { process.processIdentifier }

    public func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    /// The first stdout line starting with `prefix`, or nil when stdout ended without one.
    public func line(startingWith prefix: String, after skip: Int = 0) async -> String? {
        await lines.wait(for: prefix, skip: skip)
    }

    /// How many stdout lines so far contain `text`.
    public func lines(containing text: String) -> Int { lines.lines.filter { $0.contains(text) }.count }

    /// The first stdout line (after `skip` such lines) that contains `text`.
    public func line(containing text: String, after skip: Int = 0) async -> String? {
        await lines.wait(for: text, skip: skip, anywhere: true)
    }

    public func exitStatus() async -> Int32 { await exit.wait() }

    /// SIGKILL (ffmpeg started from the test runner does not act on SIGTERM), then the exit status.
    public func stop() async -> Int32 {
        kill(process.processIdentifier, SIGKILL)
        return await exit.wait()
    }

    /// Its stdout so far.
    public var output: String { lines.lines.joined(separator: "\n") }

    public var stderr: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }
}
