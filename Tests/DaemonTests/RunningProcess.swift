import Foundation
import NIOConcurrencyHelpers

/// A process running beside the test (luukku-terminal, ffmpeg): stdout lines can be awaited, stderr goes to
/// a file, and the exit status is awaited without polling.
final class RunningProcess: Sendable {
    private let process: Process
    private let exit = ExitBox()
    private let lines = LineLog()
    let errorFile: URL

    init(_ executable: String, _ arguments: [String], in directory: URL) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let stdout = Pipe()
        process.standardOutput = stdout
        errorFile = directory.appendingPathComponent(
            "\(URL(fileURLWithPath: executable).lastPathComponent)-\(UUID().uuidString).err")
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

    /// The first stdout line starting with `prefix`, or nil when stdout ended without one.
    func line(startingWith prefix: String) async -> String? { await lines.wait(for: prefix, skip: 0) }

    func exitStatus() async -> Int32 { await exit.wait() }

    /// SIGKILL (ffmpeg started from the test runner does not act on SIGTERM), then the exit status.
    func stop() async -> Int32 {
        kill(process.processIdentifier, SIGKILL)
        return await exit.wait()
    }

    var stderr: String { (try? String(contentsOf: errorFile, encoding: .utf8)) ?? "" }
}
