import LuukkuCore
import Testing

@Suite struct PeerIdentityTests {
    @Test func terminalAndExpertURIsParse() throws {
        #expect(try PeerIdentity(uri: "luukku:terminal:parainen") == .terminal(ServicePointID("parainen")!))
        #expect(
            try PeerIdentity(uri: "luukku:expert:kela:kela-aino")
                == .expert(agency: AgencyID("kela")!, expert: ExpertID("kela-aino")!)
        )
    }

    @Test(arguments: ["luukku:terminal:mikkeli-anttola", "luukku:expert:vero:vero-saga"])
    func uriRoundTrips(_ uri: String) throws {
        #expect(try PeerIdentity(uri: uri).uri == uri)
    }

    @Test(arguments: [
        ("https://example.org/x", PeerIdentityError.Code.notLuukkuURI),
        ("luukku", .notLuukkuURI),
        ("luukku:operator:x", .unknownRole),
        ("luukku:terminal", .wrongShape),
        ("luukku:terminal:a:b", .wrongShape),
        ("luukku:expert:kela", .wrongShape),
        ("luukku:expert:kela:aino:extra", .wrongShape),
        ("luukku:terminal:Mikkeli", .invalidID),
        ("luukku:terminal:", .invalidID),
        ("luukku:expert:kela:", .invalidID),
    ])
    func malformedURIsAreRefusedWithAReason(_ uri: String, _ code: PeerIdentityError.Code) {
        #expect(throws: PeerIdentityError(code: code)) { try PeerIdentity(uri: uri) }
    }

    @Test func exactlyOneLuukkuSANIsRequired() throws {
        let other = "spiffe://example.org/x"
        #expect(
            try PeerIdentity(uriSANs: [other, "luukku:terminal:oulu-kiiminki"])
                == .terminal(ServicePointID("oulu-kiiminki")!))
        #expect(throws: PeerIdentityError(code: .missing)) { try PeerIdentity(uriSANs: [other]) }
        #expect(throws: PeerIdentityError(code: .ambiguous)) {
            try PeerIdentity(uriSANs: ["luukku:terminal:parainen", "luukku:expert:kela:kela-aino"])
        }
    }
}
