import LuukkuCore
import Testing

/// Where a configuration file's JSON breaks, as line and column.
@Suite struct JSONSyntaxTests {
    static func problem(_ text: String) -> String? { JSONSyntax.firstProblem(in: Array(text.utf8))?.description }

    @Test func validJSONHasNoProblem() {
        #expect(Self.problem(#"{"a": [1, -2.5e3, true, false, null, "x\"\u00e4ö"], "b": {}}"#) == nil)
        #expect(Self.problem(" [] \n") == nil)
    }

    @Test func eachKindOfMistakeIsFoundWhereItIs() {
        #expect(
            Self.problem("{\n  \"a\": 1\n  \"b\": 2\n}") == "line 3, column 3: expected ',' or '}' (a comma missing?)")
        #expect(Self.problem("{\"a\": 1,}") == "line 1, column 9: expected a key in double quotes")
        #expect(Self.problem("[1, 2") == "line 1, column 6: expected ',' or ']' (a comma missing?)")
        // Columns count characters, not bytes (ä is two); the place is where the text leaves the grammar.
        #expect(Self.problem("{\"ä\": tru}") == "line 1, column 10: expected 'true'")
        #expect(Self.problem("{\"a\" 1}") == "line 1, column 6: expected ':' after the key")
        #expect(Self.problem("\"open") == "line 1, column 6: the text ends inside a string")
        #expect(Self.problem("{} x") == "line 1, column 4: text after the end of the JSON value")
        #expect(Self.problem("") == "line 1, column 1: the text ends where a value should be")
        #expect(Self.problem("[01x]")?.hasPrefix("line 1, column 4") == true)
    }

    /// Found by `make fuzz TARGET=configuration` (docs/fuzzing.md): the one-byte file 0x1C made the error name
    /// the control character itself, so the operator's terminal got it raw.
    @Test func aByteThatIsNotPrintableIsNamedByItsValue() {
        let fuzzed: [UInt8] = [0x1C]
        #expect(
            JSONSyntax.firstProblem(in: fuzzed)?.description
                == "line 1, column 1: unexpected byte 0x1C where a value should be")
        #expect(Self.problem("[ä]") == "line 1, column 2: unexpected byte 0xC3 where a value should be")
        #expect(Self.problem("x") == "line 1, column 1: unexpected 'x' where a value should be")
        #expect(Self.problem("\"\\\u{7}\"") == "line 1, column 3: unknown escape: a backslash, then byte 0x07")
        #expect(Self.problem("\"\\q\"") == "line 1, column 3: unknown escape: a backslash, then 'q'")
    }
}
