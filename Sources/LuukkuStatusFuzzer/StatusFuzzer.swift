// libFuzzer entry point over the status socket's command parser (`make fuzz TARGET=status`, docs/fuzzing.md):
// a line as the socket hands it over (its bytes decoded as UTF-8, invalid sequences replaced).
//
// This file must stay the only one in its target (see LuukkuFrameFuzzer): libFuzzer supplies `main`.
//
// Properties checked besides "no crash":
// - a line holds at most one result per `;`-separated part, and parses as its parts do one by one;
// - every command found parses back from its canonical line (`StatusCommand.line`, with its format word) to
//   itself, so the name an answer gives a command is one an operator can type;
// - an error line is printable ASCII and bounded, whatever was typed.
import LuukkuCore

@_cdecl("LLVMFuzzerTestOneInput")
public func statusFuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let line = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let parsed = StatusCommand.parse(line)
    let parts = line.split(separator: ";")
    precondition(parsed.count <= parts.count, "more results than parts")
    precondition(parsed == parts.flatMap { StatusCommand.parse(String($0)) }, "a part depends on another")
    for result in parsed {
        switch result {
        case .command(let command, let format):
            let typed = format == .text ? command.line : "\(command.line) \(format.rawValue)"
            precondition(StatusCommand.parse(typed) == [result], "'\(typed)' does not parse back to its command")
        case .error(let message):
            precondition(message.utf8.allSatisfy { (0x20...0x7E).contains($0) }, "an error line is not printable")
            precondition(message.utf8.count <= 120, "an error line grows with its input")
        }
    }
    return 0
}
