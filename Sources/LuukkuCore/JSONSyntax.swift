/// Where a JSON text first breaks the grammar (RFC 8259), for a configuration error a person can act on:
/// Foundation's decoder only says that the data is not valid JSON.
public enum JSONSyntax {
    public struct Problem: Error, Hashable, Sendable, CustomStringConvertible {
        /// 1-based: lines counted by LF, columns by characters (UTF-8 sequences) of the line.
        public let line: Int
        public let column: Int
        public let message: String

        public var description: String { "line \(line), column \(column): \(message)" }
    }

    /// The first syntax error in `bytes`, or nil when they are one valid JSON value.
    public static func firstProblem(in bytes: [UInt8]) -> Problem? {
        var parser = Parser(bytes: bytes)
        do throws(Problem) {
            parser.skipSpace()
            try parser.value(depth: 0)
            parser.skipSpace()
            if parser.index < bytes.count { throw parser.problem("text after the end of the JSON value") }
            return nil
        } catch {
            return error
        }
    }

    /// A byte as an error names it: the character in quotes when it is printable ASCII, else its value
    /// (`byte 0x1C`), so that no control character or piece of a UTF-8 sequence reaches an operator's terminal.
    static func shown(_ byte: UInt8) -> String {
        guard (0x21...0x7E).contains(byte) else {
            let hex = String(byte, radix: 16, uppercase: true)
            return "byte 0x\(hex.count == 1 ? "0" : "")\(hex)"
        }
        return "'\(Character(Unicode.Scalar(byte)))'"
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        func problem(_ message: String) -> Problem {
            var line = 1
            var column = 1
            var position = 0
            while position < min(index, bytes.count) {
                let byte = bytes[position]
                if byte == 0x0A {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {  // not a UTF-8 continuation byte
                    column += 1
                }
                position += 1
            }
            return Problem(line: line, column: column, message: message)
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { index += 1 }
        }

        mutating func expect(_ literal: String) throws(Problem) {
            for byte in literal.utf8 {
                guard current == byte else { throw problem("expected '\(literal)'") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(Problem) {
            guard depth < 512 else { throw problem("nested too deeply") }
            switch current {
            case UInt8(ascii: "{"): try object(depth: depth)
            case UInt8(ascii: "["): try array(depth: depth)
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try expect("true")
            case UInt8(ascii: "f"): try expect("false")
            case UInt8(ascii: "n"): try expect("null")
            case let byte? where byte == UInt8(ascii: "-") || (0x30...0x39).contains(byte): try number()
            case nil: throw problem("the text ends where a value should be")
            case let byte?: throw problem("unexpected \(JSONSyntax.shown(byte)) where a value should be")
            }
        }

        mutating func object(depth: Int) throws(Problem) {
            try members(closing: "}", depth: depth) { parser, depth throws(Problem) in
                guard parser.current == UInt8(ascii: "\"") else {
                    throw parser.problem("expected a key in double quotes")
                }
                try parser.string()
                parser.skipSpace()
                guard parser.current == UInt8(ascii: ":") else { throw parser.problem("expected ':' after the key") }
                parser.index += 1
                parser.skipSpace()
                try parser.value(depth: depth + 1)
            }
        }

        mutating func array(depth: Int) throws(Problem) {
            try members(closing: "]", depth: depth) { parser, depth throws(Problem) in
                try parser.value(depth: depth + 1)
            }
        }

        /// The members of an object or array after its opening bracket, separated by commas, up to `closing`.
        mutating func members(
            closing: Unicode.Scalar, depth: Int, _ member: (inout Parser, Int) throws(Problem) -> Void
        ) throws(Problem) {
            let end = UInt8(ascii: closing)
            index += 1
            skipSpace()
            if current == end {
                index += 1
                return
            }
            while true {
                try member(&self, depth)
                skipSpace()
                switch current {
                case UInt8(ascii: ","):
                    index += 1
                    skipSpace()
                case end:
                    index += 1
                    return
                default: throw problem("expected ',' or '\(closing)' (a comma missing?)")
                }
            }
        }

        mutating func string() throws(Problem) {
            index += 1
            while let byte = current {
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    return
                case UInt8(ascii: "\\"):
                    index += 1
                    guard let escaped = current else { break }
                    if escaped == UInt8(ascii: "u") {
                        for _ in 0..<4 {
                            index += 1
                            guard let hex = current, (Character(Unicode.Scalar(hex))).isHexDigit else {
                                throw problem("expected four hex digits after \\u")
                            }
                        }
                    } else if !"\"\\/bfnrt".utf8.contains(escaped) {
                        throw problem("unknown escape: a backslash, then \(JSONSyntax.shown(escaped))")
                    }
                    index += 1
                case 0..<0x20: throw problem("a control character inside a string (a closing '\"' missing?)")
                default: index += 1
                }
            }
            throw problem("the text ends inside a string")
        }

        mutating func number() throws(Problem) {
            if current == UInt8(ascii: "-") { index += 1 }
            func digits() -> Int {
                var count = 0
                while let byte = current, (0x30...0x39).contains(byte) {
                    index += 1
                    count += 1
                }
                return count
            }
            guard digits() > 0 else { throw problem("expected a digit") }
            if current == UInt8(ascii: ".") {
                index += 1
                guard digits() > 0 else { throw problem("expected a digit after '.'") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard digits() > 0 else { throw problem("expected a digit in the exponent") }
            }
        }
    }
}
