import LuukkuCore
import Testing

@Suite struct IdentifierTests {
    @Test(arguments: ["kela", "vero-001", "a", "mikkeli-anttola", String(repeating: "x", count: 63)])
    func validSlugs(_ text: String) {
        #expect(AgencyID(text)?.rawValue == text)
        #expect(ExpertID(text) != nil)
    }

    @Test(arguments: [
        ("", "must not be empty"),
        ("Kela", "may hold only a-z, 0-9 and '-'"),
        ("kela:aino", "may hold only a-z, 0-9 and '-'"),
        ("saarijärvi", "may hold only a-z, 0-9 and '-'"),
        ("-kela", "must not start or end with '-'"),
        ("kela-", "must not start or end with '-'"),
        (String(repeating: "x", count: 64), "must be at most 63 characters"),
    ])
    func invalidSlugsSayWhy(_ text: String, _ problem: String) {
        #expect(AgencyID(text) == nil)
        #expect(throws: IdentifierError(kind: "agency id", problem: problem)) { try AgencyID(validating: text) }
    }

    @Test func languageCodesAreTwoOrThreeLowercaseLetters() {
        #expect(LanguageCode("fi") == .finnish)
        #expect(LanguageCode("sv") == .swedish)
        #expect(LanguageCode("sme") != nil)
        for bad in ["", "f", "FI", "fin1", "fi-FI", "suom"] {
            #expect(LanguageCode(bad) == nil, "\(bad) should be refused")
        }
    }

    @Test func errorTextDoesNotEchoTheInput() {
        let secret = "Secret-Token-123"
        do {
            _ = try ExpertID(validating: secret)
            Issue.record("an invalid id was accepted")
        } catch {
            #expect(!error.description.contains(secret))
        }
    }
}

@Suite struct TicketIDTests {
    @Test func wireFormRoundTrips() {
        for stamp: UInt64 in [0, 1, 42, .max] {
            let id = TicketID(stamp: stamp)
            #expect(TicketID(wireValue: id.wireValue) == id)
        }
        #expect(TicketID(stamp: 7).wireValue == "t-7")
    }

    @Test(arguments: [
        "", "t-", "t", "7", "x-7", "t-7a", "t--7", "t-+7", "t-07", "t-00", "t-18446744073709551616", "T-7",
    ])
    func malformedWireFormsAreRefused(_ text: String) {
        #expect(TicketID(wireValue: text) == nil)
    }

    @Test func orderFollowsTheGlobalStamp() {
        #expect(TicketID(stamp: 3) < TicketID(stamp: 10))
    }
}
