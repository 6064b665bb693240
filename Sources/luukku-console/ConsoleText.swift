import ArgumentParser
import Foundation

/// The console's language (`--lang`): Finnish, Swedish or English, all text from one table (``ConsoleText``).
enum ConsoleLanguage: String, CaseIterable, ExpressibleByArgument, Sendable {
    case fi, sv, en

    /// From `$LANG`/`$LC_ALL` (fi_FI.UTF-8 gives Finnish, sv_FI Swedish), else English.
    static func fromEnvironment(_ environment: [String: String]) -> ConsoleLanguage {
        let locale = environment["LC_ALL"].flatMap { $0.isEmpty ? nil : $0 } ?? environment["LANG"] ?? ""
        return ConsoleLanguage(rawValue: String(locale.prefix(2))) ?? .en
    }
}

/// Every text the full-screen console shows, in the three languages. One table, so that a missing
/// translation is a compile error rather than an English word in a Finnish screen.
enum ConsoleText {
    case title, expert, queues, queue, waiting, oldestWait, availableExperts, presence, offerTitle, servicePoint,
        waited, answerIn, sessionTitle, elapsed, sent, received, lost, jitter, wrapUpTitle, remaining, keys,
        keysIdle, keysAway, keysOffer, keysSession, keysWrapUp, chooseReason, cancel, seconds, noQueues, sdpWritten,
        video, audio, inbound, outbound, framesPerSecond, packetsPerSecond, network, roundTrip, mediaFailed,
        customerEnded, expertEnded, sessionEnded, offerWithdrawn, daemonClosed
    case presenceName(Presence)
    case reasonName(AwayReason)

    enum Presence { case offline, available, offered, inSession, wrapUp, away }
    enum AwayReason { case breakTime, meeting, backOffice, training, other, noAnswer }

    /// The text in `language`.
    func text(_ language: ConsoleLanguage) -> String {
        let (fi, sv, en) = table
        switch language {
        case .fi: return fi
        case .sv: return sv
        case .en: return en
        }
    }

    private var table: (String, String, String) {
        switch self {
        case .title: ("Luukku – asiantuntijan konsoli", "Luukku – expertkonsol", "Luukku – expert console")
        case .expert: ("Asiantuntija", "Expert", "Expert")
        case .queues: ("Jonot", "Köer", "Queues")
        case .queue: ("jono", "kö", "queue")
        case .waiting: ("jonossa", "väntar", "waiting")
        case .oldestWait: ("pisin odotus", "längsta väntan", "oldest wait")
        case .availableExperts: ("vapaita", "lediga", "available")
        case .presence: ("Tila", "Status", "Presence")
        case .offerTitle: ("ASIAKAS TARJOLLA", "KUND ERBJUDS", "CUSTOMER OFFERED")
        case .servicePoint: ("Asiointipiste", "Servicepunkt", "Service point")
        case .waited: ("Odottanut", "Väntat", "Waited")
        case .answerIn: ("Vastaa ajassa", "Svara inom", "Answer within")
        case .sessionTitle: ("PUHELU KÄYNNISSÄ", "SAMTAL PÅGÅR", "SESSION RUNNING")
        case .elapsed: ("Kesto", "Längd", "Elapsed")
        case .sent: ("lähetetty", "skickat", "sent")
        case .received: ("vastaanotettu", "mottaget", "received")
        case .lost: ("hävikki", "förlust", "loss")
        case .jitter: ("värinä", "jitter", "jitter")
        case .wrapUpTitle: ("JÄLKITYÖ", "EFTERARBETE", "WRAP-UP")
        case .remaining: ("jäljellä", "kvar", "remaining")
        case .keys: ("Näppäimet", "Tangenter", "Keys")
        case .keysIdle: ("a vapaa  w poissa  q lopeta", "a ledig  w borta  q avsluta", "a available  w away  q quit")
        case .keysAway: ("a vapaa  q lopeta", "a ledig  q avsluta", "a available  q quit")
        case .keysOffer: ("y vastaa  n hylkää  q lopeta", "y svara  n avböj  q avsluta", "y accept  n decline  q quit")
        case .keysSession: ("h lopeta puhelu", "h lägg på", "h hang up")
        case .keysWrapUp: ("r valmis", "r klar", "r ready")
        case .chooseReason: ("Poissaolon syy:", "Orsak till frånvaro:", "Reason for away:")
        case .cancel: ("Esc peru", "Esc avbryt", "Esc cancel")
        case .seconds: ("s", "s", "s")
        case .noQueues: ("ei jonotietoja vielä", "inga köuppgifter ännu", "no queue figures yet")
        case .sdpWritten: ("SDP kirjoitettu", "SDP skriven", "SDP written")
        case .video: ("Kuva", "Bild", "Video")
        case .audio: ("Ääni", "Ljud", "Audio")
        case .inbound: ("sisään", "in", "in")
        case .outbound: ("ulos", "ut", "out")
        case .framesPerSecond: ("kuvaa/s", "bilder/s", "fps")
        case .packetsPerSecond: ("pakettia/s", "paket/s", "packets/s")
        case .network: ("Yhteys", "Förbindelse", "Network")
        case .roundTrip: ("kiertoaika", "tur och retur", "round trip")
        case .mediaFailed: ("kuva ja ääni eivät toimi", "bild och ljud fungerar inte", "media failed")
        case .customerEnded: ("asiakas lopetti puhelun", "kunden lade på", "the customer hung up")
        case .expertEnded: ("lopetit puhelun", "du lade på", "you hung up")
        case .sessionEnded: ("puhelu päättyi", "samtalet slutade", "the session ended")
        case .offerWithdrawn: ("tarjous peruttu", "erbjudandet återkallat", "offer withdrawn")
        case .daemonClosed:
            ("palvelin sulki yhteyden", "servern stängde anslutningen", "the server closed the connection")
        case .presenceName(let presence):
            switch presence {
            case .offline: ("ei kirjautunut", "utloggad", "offline")
            case .available: ("VAPAA", "LEDIG", "AVAILABLE")
            case .offered: ("TARJOUS", "ERBJUDANDE", "OFFERED")
            case .inSession: ("PUHELUSSA", "I SAMTAL", "IN SESSION")
            case .wrapUp: ("JÄLKITYÖ", "EFTERARBETE", "WRAP-UP")
            case .away: ("POISSA", "BORTA", "AWAY")
            }
        case .reasonName(let reason):
            switch reason {
            case .breakTime: ("tauko", "paus", "break")
            case .meeting: ("palaveri", "möte", "meeting")
            case .backOffice: ("taustatyö", "bakgrundsarbete", "back office")
            case .training: ("koulutus", "utbildning", "training")
            case .other: ("muu", "annat", "other")
            case .noAnswer: ("ei vastannut", "svarade inte", "no answer")
            }
        }
    }
}
