import LuukkuCore

/// Queues and experts the matcher tests share.
enum Sample {
    static let kelaFi = QueueKey(agency: AgencyID("kela")!, language: .finnish)
    static let kelaSv = QueueKey(agency: AgencyID("kela")!, language: .swedish)
    static let veroFi = QueueKey(agency: AgencyID("vero")!, language: .finnish)
    static let aino = ExpertID("kela-aino")!
    static let bjorn = ExpertID("kela-bjorn")!
    static let eero = ExpertID("vero-eero")!

    /// Six queues (kela, vero, te x fi, sv) and six experts with one to three random skills each.
    static func randomRoster(using random: inout SplitMix) -> (queues: [QueueKey], experts: [(ExpertID, [QueueKey])]) {
        let queues = ["kela", "vero", "te"].flatMap { agency in
            [LanguageCode.finnish, .swedish].map { QueueKey(agency: AgencyID(agency)!, language: $0) }
        }
        let experts = (0..<6).map { i in
            (ExpertID("e-\(i)")!, Array(queues.shuffled(using: &random).prefix(Int.random(in: 1...3, using: &random))))
        }
        return (queues, experts)
    }
}
