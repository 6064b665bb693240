import Foundation
import LuukkuCore
import Testing

/// The demo configuration and the errors an operator sees for a broken one. Each broken case starts from the
/// demo file and changes one thing, so the test shows that exactly that change is caught, with its key path.
@Suite struct ConfigurationTests {
    static let exampleFile = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/luukku.example.json").path

    @Test func demoConfigurationLoadsWithThePilotPointsAndAgencies() throws {
        let config = try Configuration.load(contentsOf: Self.exampleFile)
        #expect(config.nationalLanguages == [.finnish, .swedish])
        let mainPoints = config.servicePoints.filter { $0.branchOf == nil }.map(\.id.rawValue)
        #expect(mainPoints == ["mikkeli", "oulu-kiiminki", "parainen", "pelkosenniemi", "saarijarvi"])
        let branches = config.servicePoints.filter { $0.branchOf == ServicePointID("mikkeli") }
        #expect(branches.count == 5)
        #expect(
            Set(config.agencies.map(\.id.rawValue))
                == ["poliisi", "te", "vero", "maistraatti", "kela", "kunta", "oikeusapu"]
        )
        #expect(config.agency(AgencyID("kela")!)?.names[.swedish] == "FPA")
        #expect(config.servicePoint(ServicePointID("parainen")!)?.languages == [.swedish, .finnish])
        // Demo experts cover both national languages.
        let languages = Set(config.experts.flatMap(\.languages))
        #expect(languages.isSuperset(of: [.finnish, .swedish]))
        #expect(config.validate().isEmpty)
    }

    /// Loads the demo file after `change` has edited its JSON tree, and returns the issues reported.
    static func issues(after change: (inout [String: Any]) -> Void) throws -> [ConfigurationIssue] {
        let data = try Data(contentsOf: URL(fileURLWithPath: exampleFile))
        var tree = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        change(&tree)
        let edited = try JSONSerialization.data(withJSONObject: tree)
        do {
            _ = try Configuration(json: edited, file: "edited.json")
            return []
        } catch {
            #expect(error.file == "edited.json")
            return error.issues
        }
    }

    static func edit(_ tree: inout [String: Any], _ key: String, at index: Int, _ body: (inout [String: Any]) -> Void) {
        var list = tree[key] as! [[String: Any]]
        body(&list[index])
        tree[key] = list
    }

    @Test func unknownKeyIsNamedWithTheKnownOnes() throws {
        let issues = try Self.issues { Self.edit(&$0, "experts", at: 1) { $0["displayname"] = "typo" } }
        #expect(issues.count == 1)
        #expect(issues.first?.keyPath == "experts[1].displayname")
        #expect(issues.first?.problem.contains("unknown key") == true)
        #expect(issues.first?.problem.contains("displayName") == true)
    }

    @Test func missingRequiredKey() throws {
        let issues = try Self.issues { Self.edit(&$0, "servicePoints", at: 2) { $0["municipality"] = nil } }
        #expect(
            issues == [ConfigurationIssue(keyPath: "servicePoints[2].municipality", problem: "required key is missing")]
        )
    }

    @Test func wrongType() throws {
        let issues = try Self.issues { Self.edit(&$0, "agencies", at: 0) { $0["languages"] = "fi" } }
        #expect(issues.first?.keyPath == "agencies[0].languages")
        #expect(issues.first?.problem.hasPrefix("expected") == true)
    }

    @Test func invalidIdentifier() throws {
        let issues = try Self.issues { Self.edit(&$0, "experts", at: 0) { $0["id"] = "Kela Aino" } }
        #expect(
            issues == [
                ConfigurationIssue(
                    keyPath: "experts[0].id", problem: "invalid expert id: may hold only a-z, 0-9 and '-'")
            ])
    }

    @Test func duplicateIDPointsAtTheFirst() throws {
        let issues = try Self.issues { Self.edit(&$0, "agencies", at: 3) { $0["id"] = "poliisi" } }
        #expect(
            issues.contains(
                ConfigurationIssue(
                    keyPath: "agencies[3].id", problem: "duplicate agency id 'poliisi' (first at agencies[0])")))
    }

    @Test func expertOfUnknownAgencyAndUnservedLanguage() throws {
        let issues = try Self.issues { tree in
            Self.edit(&tree, "experts", at: 0) { $0["agency"] = "nasa" }
            Self.edit(&tree, "experts", at: 2) { $0["languages"] = ["fi", "en"] }  // vero serves en: fine
            Self.edit(&tree, "experts", at: 4) { $0["languages"] = ["fi", "en"] }  // poliisi does not
        }
        #expect(
            issues == [
                ConfigurationIssue(keyPath: "experts[0].agency", problem: "no agency has id 'nasa'"),
                ConfigurationIssue(
                    keyPath: "experts[4].languages[1]", problem: "agency 'poliisi' does not serve in 'en'"),
            ]
        )
    }

    @Test func everyAgencyServesBothNationalLanguages() throws {
        let issues = try Self.issues { Self.edit(&$0, "agencies", at: 4) { $0["languages"] = ["fi"] } }
        #expect(
            issues.contains(
                ConfigurationIssue(keyPath: "agencies[4].languages", problem: "must include the national language 'sv'")
            ))
    }

    @Test func namesNeedEveryNationalLanguageAndKnownLanguagesOnly() throws {
        let issues = try Self.issues {
            Self.edit(&$0, "servicePoints", at: 7) { $0["names"] = ["fi": "Paraisten asiointipiste", "de": "Pargas"] }
        }
        #expect(
            issues == [
                ConfigurationIssue(
                    keyPath: "servicePoints[7].names", problem: "missing the name in national language 'sv'"),
                ConfigurationIssue(
                    keyPath: "servicePoints[7].names.de", problem: "language 'de' is not defined in languages"),
            ]
        )
    }

    @Test func branchMustNameAnExistingMainPoint() throws {
        let issues = try Self.issues { tree in
            Self.edit(&tree, "servicePoints", at: 1) { $0["branchOf"] = "mikkeli-ristiina" }
            Self.edit(&tree, "servicePoints", at: 2) { $0["branchOf"] = "helsinki" }
            Self.edit(&tree, "servicePoints", at: 9) { $0["branchOf"] = "saarijarvi" }
        }
        #expect(
            issues == [
                ConfigurationIssue(
                    keyPath: "servicePoints[1].branchOf",
                    problem: "'mikkeli-ristiina' is itself a branch; name its main point instead"),
                ConfigurationIssue(keyPath: "servicePoints[2].branchOf", problem: "no service point has id 'helsinki'"),
                ConfigurationIssue(
                    keyPath: "servicePoints[9].branchOf", problem: "a service point cannot be a branch of itself"),
            ]
        )
    }

    @Test func emptyAndControlCharacterTextIsRefused() throws {
        let issues = try Self.issues { tree in
            Self.edit(&tree, "experts", at: 0) { $0["displayName"] = "  " }
            Self.edit(&tree, "experts", at: 1) { $0["displayName"] = "Björn\u{7}" }
        }
        #expect(
            issues == [
                ConfigurationIssue(keyPath: "experts[0].displayName", problem: "must not be empty"),
                ConfigurationIssue(keyPath: "experts[1].displayName", problem: "must not contain control characters"),
            ]
        )
    }

    @Test func aProblemIsOnePrintableLineWhateverTheKeyHolds() throws {
        // A key of the file can hold any character; the error names it without letting a newline or an
        // escape sequence through to the operator's terminal or the journal.
        let issues = try Self.issues { Self.edit(&$0, "experts", at: 1) { $0["display\nName\u{1B}[2J"] = "x" } }
        #expect(issues.map(\.keyPath) == ["experts[1].display\\u{A}Name\\u{1B}[2J"])
        let error = ConfigurationError(file: "f.json", issues: issues)
        #expect(!error.description.contains("\n") && error.description.hasPrefix("f.json: experts[1].display"))
    }

    @Test func unsupportedVersion() throws {
        let issues = try Self.issues { $0["version"] = 2 }
        #expect(
            issues == [ConfigurationIssue(keyPath: "version", problem: "unsupported version 2; this build reads 1")])
    }

    @Test func jsonSyntaxErrorIsReportedWithItsLineAndColumn() throws {
        #expect {
            try Configuration(json: Data("{\"version\": 1,\n  ,}".utf8), file: "broken.json")
        } throws: { error in
            let error = try #require(error as? ConfigurationError)
            return error.file == "broken.json" && error.issues.count == 1
                && error.description == "broken.json: line 2, column 3: expected a key in double quotes"
        }
    }

    @Test func missingFileSaysSo() {
        #expect {
            try Configuration.load(contentsOf: "/nonexistent/luukku.json")
        } throws: { error in
            (error as? ConfigurationError)?.description
                == "/nonexistent/luukku.json: (file): cannot read the file: no such file"
        }
    }

    @Test func allProblemsAreReportedAtOnce() throws {
        let issues = try Self.issues { tree in
            Self.edit(&tree, "experts", at: 0) { $0["agency"] = "nasa" }
            Self.edit(&tree, "agencies", at: 1) { $0["languages"] = ["fi"] }
            Self.edit(&tree, "servicePoints", at: 0) { $0["municipality"] = "" }
        }
        #expect(
            Set(issues.map(\.keyPath)) == [
                "experts[0].agency", "agencies[1].languages", "servicePoints[0].municipality",
            ])
    }
}
