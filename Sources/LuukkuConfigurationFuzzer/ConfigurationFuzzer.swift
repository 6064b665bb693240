// libFuzzer entry point over the configuration decoder (`make fuzz TARGET=configuration`, docs/fuzzing.md):
// the bytes of a configuration file through `Configuration(json:file:)` (strict JSON decoding, then every
// consistency rule) and the JSON syntax checker that names a line and column.
//
// This file must stay the only one in its target (see LuukkuFrameFuzzer): libFuzzer supplies `main`.
//
// Properties checked besides "no crash":
// - a configuration that decodes passes its own validation;
// - a refusal lists at least one problem, and its text is one line per problem, each starting with the file
//   name, with no control character: what luukkud prints is what an operator reads, line by line;
// - a syntax error names a line and a column that exist in the file.
import Foundation
import LuukkuCore

@_cdecl("LLVMFuzzerTestOneInput")
public func configurationFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    do {
        let configuration = try Configuration(json: Data(bytes), file: "fuzz.json")
        precondition(configuration.validate().isEmpty, "a decoded configuration fails its validation")
    } catch {
        precondition(!error.issues.isEmpty, "a refusal without a problem")
        let lines = error.description.split(separator: "\n", omittingEmptySubsequences: false)
        precondition(lines.count == error.issues.count, "a problem spans more than one line: \(error)")
        for line in lines {
            precondition(line.hasPrefix("fuzz.json: "), "a problem line does not name the file")
            precondition(
                line.unicodeScalars.allSatisfy {
                    $0.value >= 0x20 && $0.value != 0x7F && !(0x80...0x9F).contains($0.value)
                },
                "a control character in a problem line: \(line.debugDescription)")
        }
    }
    if let problem = JSONSyntax.firstProblem(in: bytes) {
        let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false)
        precondition(problem.line >= 1 && problem.line <= lines.count, "a syntax error past the last line")
        let characters = lines[problem.line - 1].filter { $0 & 0xC0 != 0x80 }.count
        precondition(problem.column >= 1 && problem.column <= characters + 1, "a syntax error past its line's end")
    }
    return 0
}
