// Consistency rules of the configuration. `validate()` returns every problem, not just the first.

extension Configuration {
    /// Longest display name or localized name accepted, in characters.
    public static let maxNameLength = 120

    /// Checks that every reference resolves, ids are unique, names exist in every national language, and
    /// every agency serves every national language (DOMAIN.md: every agency serves in Finnish and Swedish).
    /// - Returns: the problems found, empty when the configuration is consistent.
    public func validate() -> [ConfigurationIssue] {
        var v = Validator(knownLanguages: Set(languages.map(\.code)), nationalLanguages: nationalLanguages)

        if nationalLanguages.isEmpty { v.issue("nationalLanguages", "must name at least one language") }
        v.unique(nationalLanguages, at: "nationalLanguages", what: "language")
        v.known(nationalLanguages, at: "nationalLanguages")

        if languages.isEmpty { v.issue("languages", "must define at least one language") }
        v.unique(languages.map(\.code), at: "languages", key: "code", what: "language code")
        for (i, language) in languages.enumerated() {
            v.names(language.names, at: "languages[\(i)].names")
        }

        if agencies.isEmpty { v.issue("agencies", "must define at least one agency") }
        v.unique(agencies.map(\.id), at: "agencies", key: "id", what: "agency id")
        for (i, agency) in agencies.enumerated() {
            let at = "agencies[\(i)]"
            v.names(agency.names, at: "\(at).names")
            v.languageList(agency.languages, at: "\(at).languages")
            for national in nationalLanguages where !agency.languages.contains(national) {
                v.issue("\(at).languages", "must include the national language '\(national)'")
            }
            v.unique(agency.services.map(\.code), at: "\(at).services", key: "code", what: "service code")
            for (j, service) in agency.services.enumerated() {
                v.names(service.names, at: "\(at).services[\(j)].names")
            }
        }

        if servicePoints.isEmpty { v.issue("servicePoints", "must define at least one service point") }
        v.unique(servicePoints.map(\.id), at: "servicePoints", key: "id", what: "service point id")
        for (i, point) in servicePoints.enumerated() {
            let at = "servicePoints[\(i)]"
            v.names(point.names, at: "\(at).names")
            v.text(point.municipality, at: "\(at).municipality")
            v.languageList(point.languages, at: "\(at).languages")
            if let parent = point.branchOf {
                if parent == point.id {
                    v.issue("\(at).branchOf", "a service point cannot be a branch of itself")
                } else if let main = servicePoint(parent) {
                    if main.branchOf != nil {
                        v.issue("\(at).branchOf", "'\(parent)' is itself a branch; name its main point instead")
                    }
                } else {
                    v.issue("\(at).branchOf", "no service point has id '\(parent)'")
                }
            }
        }

        v.unique(experts.map(\.id), at: "experts", key: "id", what: "expert id")
        for (i, expert) in experts.enumerated() {
            let at = "experts[\(i)]"
            v.text(expert.displayName, at: "\(at).displayName")
            v.languageList(expert.languages, at: "\(at).languages")
            guard let agency = agency(expert.agency) else {
                v.issue("\(at).agency", "no agency has id '\(expert.agency)'")
                continue
            }
            for (j, language) in expert.languages.enumerated() where !agency.languages.contains(language) {
                v.issue("\(at).languages[\(j)]", "agency '\(agency.id)' does not serve in '\(language)'")
            }
        }
        relay.validate(at: "relay", into: &v)
        media.validate(at: "media", into: &v)
        server.validate(at: "server", into: &v)
        return v.issues
    }
}

/// Collects issues; each check appends what it finds.
struct Validator {
    let knownLanguages: Set<LanguageCode>
    let nationalLanguages: [LanguageCode]
    var issues: [ConfigurationIssue] = []

    mutating func issue(_ keyPath: String, _ problem: String) {
        issues.append(ConfigurationIssue(keyPath: keyPath, problem: problem))
    }

    /// Each value may appear once; the second and later copies are reported with the index of the first.
    mutating func unique<T: Hashable & CustomStringConvertible>(
        _ values: [T],
        at keyPath: String,
        key: String? = nil,
        what: String
    ) {
        var firstIndex: [T: Int] = [:]
        for (i, value) in values.enumerated() {
            let at = key.map { "\(keyPath)[\(i)].\($0)" } ?? "\(keyPath)[\(i)]"
            if let first = firstIndex[value] {
                issue(at, "duplicate \(what) '\(value)' (first at \(keyPath)[\(first)])")
            } else {
                firstIndex[value] = i
            }
        }
    }

    mutating func known(_ languages: [LanguageCode], at keyPath: String) {
        for (i, language) in languages.enumerated() where !knownLanguages.contains(language) {
            issue("\(keyPath)[\(i)]", "language '\(language)' is not defined in languages")
        }
    }

    /// A non-empty list of defined languages without repeats.
    mutating func languageList(_ languages: [LanguageCode], at keyPath: String) {
        if languages.isEmpty { issue(keyPath, "must name at least one language") }
        unique(languages, at: keyPath, what: "language")
        known(languages, at: keyPath)
    }

    /// Names must exist in every national language; other defined languages are optional.
    mutating func names(_ names: LocalizedName, at keyPath: String) {
        for national in nationalLanguages where names[national] == nil {
            issue(keyPath, "missing the name in national language '\(national)'")
        }
        for (language, text) in names.sorted(by: { $0.key < $1.key }) {
            if !knownLanguages.contains(language) {
                issue("\(keyPath).\(language)", "language '\(language)' is not defined in languages")
            }
            self.text(text, at: "\(keyPath).\(language)")
        }
    }

    mutating func text(_ text: String, at keyPath: String) {
        if text.allSatisfy(\.isWhitespace) {
            issue(keyPath, "must not be empty")
        } else if text.count > Configuration.maxNameLength {
            issue(keyPath, "must be at most \(Configuration.maxNameLength) characters")
        } else if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            issue(keyPath, "must not contain control characters")
        }
    }
}
