import Foundation

// Strict JSON decoding of the configuration file: unknown keys are errors (a misspelt optional key would
// otherwise be silently ignored), ids are checked as they are read, and every failure keeps its key path.

extension Configuration {
    /// Reads, decodes and validates a configuration file.
    /// - Throws: ``ConfigurationError`` naming the file, the key path and the problem.
    public static func load(contentsOf path: String) throws(ConfigurationError) -> Configuration {
        try decode(contentsOf: path).validated(file: path)
    }

    /// Reads and decodes a configuration file without the consistency checks, for a caller that changes it
    /// (command-line overrides) and then calls ``validate()`` itself.
    public static func decode(contentsOf path: String) throws(ConfigurationError) -> Configuration {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigurationError(file: path, issues: [ConfigurationIssue(keyPath: "", problem: readProblem(error))])
        }
        return try decode(json: data, file: path)
    }

    /// Decodes and validates configuration JSON; `file` is used only in error text.
    public init(json: Data, file: String) throws(ConfigurationError) {
        self = try Self.decode(json: json, file: file).validated(file: file)
    }

    private static func decode(json: Data, file: String) throws(ConfigurationError) -> Configuration {
        do {
            return try JSONDecoder().decode(ConfigurationFile.self, from: json).configuration
        } catch let error as DecodingError {
            // Not JSON at all: say where (line and column), which Foundation's error does not.
            if case .dataCorrupted(let context) = error, context.codingPath.isEmpty,
                let problem = JSONSyntax.firstProblem(in: [UInt8](json))
            {
                throw ConfigurationError(
                    file: file,
                    issues: [
                        ConfigurationIssue(
                            keyPath: "line \(problem.line), column \(problem.column)", problem: problem.message)
                    ])
            }
            throw ConfigurationError(file: file, issues: [ConfigurationIssue(error)])
        } catch {
            throw ConfigurationError(file: file, issues: [ConfigurationIssue(keyPath: "", problem: "\(error)")])
        }
    }

    /// Itself when ``validate()`` finds nothing; else every problem, naming `file`.
    private func validated(file: String) throws(ConfigurationError) -> Configuration {
        let issues = validate()
        guard issues.isEmpty else { throw ConfigurationError(file: file, issues: issues) }
        return self
    }

    private static func readProblem(_ error: any Error) -> String {
        let nsError = error as NSError
        if let posix = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return "cannot read the file: \(String(cString: strerror(Int32(posix.code))))"
        }
        if nsError.domain == NSCocoaErrorDomain && nsError.code == NSFileReadNoSuchFileError {
            return "cannot read the file: no such file"
        }
        return "cannot read the file: \(nsError.localizedDescription)"
    }
}

extension ConfigurationIssue {
    /// Turns a decoding failure into an issue whose key path says where it happened.
    init(_ error: DecodingError) {
        switch error {
        case .typeMismatch(let type, let context):
            self.init(keyPath: Self.path(context.codingPath), problem: "expected \(Self.jsonName(of: type))")
        case .valueNotFound(let type, let context):
            self.init(
                keyPath: Self.path(context.codingPath), problem: "expected \(Self.jsonName(of: type)), found null")
        case .keyNotFound(let key, let context):
            self.init(keyPath: Self.path(context.codingPath + [key]), problem: "required key is missing")
        case .dataCorrupted(let context):
            var problem = context.debugDescription
            if let underlying = context.underlyingError as NSError?,
                let detail = underlying.userInfo[NSDebugDescriptionErrorKey] as? String
            {
                problem += ": \(detail)"
            }
            self.init(keyPath: Self.path(context.codingPath), problem: problem)
        @unknown default:
            self.init(keyPath: "", problem: "\(error)")
        }
    }

    /// Renders a coding path as `agencies[2].names.fi`.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }

    private static func jsonName(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "true or false"
        case is [Any].Type: "a list"
        default: type is any Collection.Type ? "a list" : "an object"
        }
    }
}

/// A coding key for any string, used to see every key an object really has.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }
}

extension Decoder {
    /// A keyed container that first refuses any key `Key` does not know, naming the known ones.
    func strictContainer<Key: CodingKey & CaseIterable>(keyedBy: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let all = try container(keyedBy: AnyCodingKey.self)
        for key in all.allKeys where Key(stringValue: key.stringValue) == nil {
            let known = Key.allCases.map(\.stringValue).joined(separator: ", ")
            throw DecodingError.dataCorruptedError(
                forKey: key,
                in: all,
                debugDescription: "unknown key (known keys here: \(known))"
            )
        }
        return try container(keyedBy: Key.self)
    }
}

extension Identifier: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            try self.init(validating: text)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }
}

extension KeyedDecodingContainer {
    /// Decodes a `{"fi": "...", "sv": "..."}` object, checking each key as a language code.
    func decodeNames(forKey key: Key) throws -> LocalizedName {
        let nested = try nestedContainer(keyedBy: AnyCodingKey.self, forKey: key)
        var names: LocalizedName = [:]
        for languageKey in nested.allKeys {
            guard let language = LanguageCode(languageKey.stringValue) else {
                throw DecodingError.dataCorruptedError(
                    forKey: languageKey,
                    in: nested,
                    debugDescription: "not a language code (2 or 3 lowercase letters, ISO 639)"
                )
            }
            names[language] = try nested.decode(String.self, forKey: languageKey)
        }
        return names
    }
}

/// The top level of the file, which also carries the format version.
private struct ConfigurationFile: Decodable {
    var configuration: Configuration

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case version, nationalLanguages, languages, agencies, servicePoints, experts, relay, media, server
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        let version = try c.decode(Int.self, forKey: .version)
        guard version == Configuration.supportedVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .version,
                in: c,
                debugDescription: "unsupported version \(version); this build reads \(Configuration.supportedVersion)"
            )
        }
        configuration = Configuration(
            nationalLanguages: try c.decodeIfPresent([LanguageCode].self, forKey: .nationalLanguages)
                ?? [.finnish, .swedish],
            languages: try c.decode([Configuration.Language].self, forKey: .languages),
            agencies: try c.decode([Configuration.Agency].self, forKey: .agencies),
            servicePoints: try c.decode([Configuration.ServicePoint].self, forKey: .servicePoints),
            experts: try c.decode([Configuration.Expert].self, forKey: .experts),
            relay: try c.decodeIfPresent(Configuration.Relay.self, forKey: .relay) ?? Configuration.Relay(),
            media: try c.decodeIfPresent(Configuration.Media.self, forKey: .media) ?? Configuration.Media(),
            server: try c.decodeIfPresent(Configuration.Server.self, forKey: .server) ?? Configuration.Server()
        )
    }
}

extension Configuration.Language: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case code, names }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init(code: try c.decode(LanguageCode.self, forKey: .code), names: try c.decodeNames(forKey: .names))
    }
}

extension Configuration.Agency: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case id, names, languages, services }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(AgencyID.self, forKey: .id),
            names: try c.decodeNames(forKey: .names),
            languages: try c.decode([LanguageCode].self, forKey: .languages),
            services: try c.decodeIfPresent([Configuration.Service].self, forKey: .services) ?? []
        )
    }
}

extension Configuration.Service: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case code, names }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init(code: try c.decode(ServiceCode.self, forKey: .code), names: try c.decodeNames(forKey: .names))
    }
}

extension Configuration.ServicePoint: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case id, names, municipality, languages, branchOf }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(ServicePointID.self, forKey: .id),
            names: try c.decodeNames(forKey: .names),
            municipality: try c.decode(String.self, forKey: .municipality),
            languages: try c.decode([LanguageCode].self, forKey: .languages),
            branchOf: try c.decodeIfPresent(ServicePointID.self, forKey: .branchOf)
        )
    }
}

extension Configuration.Expert: Decodable {
    private enum CodingKeys: String, CodingKey, CaseIterable { case id, agency, displayName, languages }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.strictContainer(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(ExpertID.self, forKey: .id),
            agency: try c.decode(AgencyID.self, forKey: .agency),
            displayName: try c.decode(String.self, forKey: .displayName),
            languages: try c.decode([LanguageCode].self, forKey: .languages)
        )
    }
}
