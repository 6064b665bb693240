import LuukkuProtocol
import Testing

@Suite struct ProtocolErrorTests {
    @Test func everyCodeHasItsOwnWireCodeAndBack() {
        let wire = ProtocolError.Code.allCases.map(\.wireCode)
        #expect(Set(wire).count == ProtocolError.Code.allCases.count)
        #expect(!wire.contains(.unspecified))
        for code in ProtocolError.Code.allCases {
            #expect(ProtocolError.Code(wireCode: code.wireCode) == code)
        }
        // Every wire code in the schema has a Swift code: nothing a server can send is unnamed here.
        let schemaCodes = Luukku_V1_ErrorCode.allCases.filter { $0 != .unspecified }
        #expect(schemaCodes.allSatisfy { ProtocolError.Code(wireCode: $0) != nil })
        #expect(ProtocolError.Code(wireCode: .UNRECOGNIZED(77)) == nil)
    }

    @Test func wireMessageCarriesCodeTextAndFatality() {
        let error = ProtocolError(.frameTooLarge, detail: "length 70000, limit 65536")
        let wire = error.wireMessage
        #expect(wire.code == .frameTooLarge)
        #expect(wire.fatal)
        #expect(wire.message == "frame larger than the negotiated maximum (length 70000, limit 65536)")
        #expect(!ProtocolError(.queueFull).wireMessage.fatal)
        // A message before Hello: the same code, but the connection is closed.
        #expect(!ProtocolError(.unexpectedMessage).wireMessage.fatal)
        #expect(ProtocolError(.unexpectedMessage, fatal: true).wireMessage.fatal)
    }
}

@Suite struct ProtocolVersionTests {
    @Test func negotiatesTheHighestCommonVersion() {
        #expect(ProtocolVersion.negotiate(clientVersions: [1]) == 1)
        #expect(ProtocolVersion.negotiate(clientVersions: [3, 2, 1]) == 1)
        #expect(ProtocolVersion.negotiate(clientVersions: [2]) == nil)
        #expect(ProtocolVersion.negotiate(clientVersions: []) == nil)
    }
}
