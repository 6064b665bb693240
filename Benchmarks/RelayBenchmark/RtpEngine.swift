import CRelayIO
import Foundation
import Glibc
import LuukkuCore
import LuukkuRelay

/// Sets up calls on rtpengine through its ng control protocol (bencoded dictionaries over UDP, each message
/// prefixed with a cookie). A offers AES_CM_128_HMAC_SHA1_80 with its own key; B answers with
/// AES_CM_128_HMAC_SHA1_32 from rtpengine's offer, so rtpengine decrypts A's packets and encrypts them again
/// for B with another suite and key (with the same suite it would pass SRTP through untouched,
/// ../shared/FACTS.md).
enum RtpEngineSessions {
    static func make(ngAddress: String, ngPort: UInt16, sessions: Int, file: String) {
        var address: UInt32 = 0
        guard luukku_ipv4_parse(ngAddress, &address) == 0 else { fatalError("bad ng address \(ngAddress)") }
        var bound: UInt16 = 0
        let fd = luukku_udp_open(GeneratorPorts.loopback, 0, 0, &bound)
        guard fd >= 0 else { fatalError("socket") }
        var lines = ""
        for index in 0..<sessions {
            let keyA = SRTPKeyingMaterial.random(for: .aesCM128HMACSHA1_80)
            let keyB = SRTPKeyingMaterial.random(for: .aesCM128HMACSHA1_32)
            let offerSDP = sdp(port: GeneratorPorts.send, crypto: "1 AES_CM_128_HMAC_SHA1_80 inline:\(keyA.inlineKey)")
            let offer = call(
                fd, address, ngPort, cookie: "o\(index)",
                [
                    ("command", .string("offer")), ("call-id", .string("bench-\(index)")),
                    ("from-tag", .string("a-\(index)")), ("sdp", .string(offerSDP)), ("ICE", .string("remove")),
                    ("DTLS", .string("off")),
                ])
            guard let toB = offer["sdp"], let facingB = mediaPort(toB),
                let tag = cryptoTag(toB, suite: "AES_CM_128_HMAC_SHA1_32")
            else { fatalError("rtpengine offer failed: \(offer)") }
            let answerSDP = sdp(
                port: GeneratorPorts.receive, crypto: "\(tag) AES_CM_128_HMAC_SHA1_32 inline:\(keyB.inlineKey)")
            let answer = call(
                fd, address, ngPort, cookie: "a\(index)",
                [
                    ("command", .string("answer")), ("call-id", .string("bench-\(index)")),
                    ("from-tag", .string("a-\(index)")), ("to-tag", .string("b-\(index)")),
                    ("sdp", .string(answerSDP)), ("ICE", .string("remove")), ("DTLS", .string("off")),
                ])
            guard let toA = answer["sdp"], let facingA = mediaPort(toA) else {
                fatalError("rtpengine answer failed: \(answer)")
            }
            lines += "\(facingA) \(facingB) AES_CM_128_HMAC_SHA1_80 \(keyA.inlineKey) -\n"
        }
        let out = fopen(file, "w")
        fputs(lines, out)
        fclose(out)
        _ = luukku_close(fd)
    }

    static func sdp(port: UInt16, crypto: String) -> String {
        [
            "v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
            "m=video \(port) RTP/SAVP 96 111", "a=rtpmap:96 VP8/90000", "a=rtpmap:111 opus/48000/2", "a=sendrecv",
            "a=rtcp-mux", "a=crypto:\(crypto)", "",
        ].joined(separator: "\r\n")
    }

    static func mediaPort(_ sdp: String) -> UInt16? {
        sdp.split(whereSeparator: \.isNewline).first { $0.hasPrefix("m=") }
            .flatMap { UInt16($0.split(separator: " ")[1]) }
    }

    static func cryptoTag(_ sdp: String, suite: String) -> String? {
        sdp.split(whereSeparator: \.isNewline).first { $0.hasPrefix("a=crypto:") && $0.contains(" \(suite) ") }
            .map { String($0.dropFirst("a=crypto:".count).split(separator: " ")[0]) }
    }

    enum Value {
        case string(String)
    }

    /// Sends one ng command and returns the reply's string values.
    static func call(_ fd: Int32, _ address: UInt32, _ port: UInt16, cookie: String, _ entries: [(String, Value)])
        -> [String: String]
    {
        var message = Array("\(cookie) d".utf8)
        for (key, value) in entries {
            guard case .string(let text) = value else { continue }
            message += Array("\(key.utf8.count):\(key)\(text.utf8.count):".utf8) + Array(text.utf8)
        }
        message += Array("e".utf8)
        guard luukku_udp_send(fd, message, UInt32(message.count), address, port) == message.count,
            luukku_wait_readable(fd, 5_000) == 1
        else { fatalError("rtpengine does not answer on its ng port") }
        var reply = [UInt8](repeating: 0, count: 65_536)
        let length = Int(luukku_udp_receive(fd, &reply, UInt32(reply.count), nil, nil))
        guard length > 0, let space = reply[0..<length].firstIndex(of: UInt8(ascii: " ")) else { return [:] }
        return decodeStrings(Array(reply[(space + 1)..<length]))
    }

    /// The string values of a bencoded dictionary's top level (integers and nested values are skipped).
    static func decodeStrings(_ bytes: [UInt8]) -> [String: String] {
        var index = 0
        func string() -> String? {
            var length = 0
            while index < bytes.count, let digit = Int(String(UnicodeScalar(bytes[index]))) {
                length = length * 10 + digit
                index += 1
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":"), index + 1 + length <= bytes.count else {
                return nil
            }
            defer { index += 1 + length }
            return String(decoding: bytes[(index + 1)..<(index + 1 + length)], as: UTF8.self)
        }
        func skip() {
            guard index < bytes.count else { return }
            switch bytes[index] {
            case UInt8(ascii: "i"):
                while index < bytes.count, bytes[index] != UInt8(ascii: "e") { index += 1 }
                index += 1
            case UInt8(ascii: "l"), UInt8(ascii: "d"):
                index += 1
                while index < bytes.count, bytes[index] != UInt8(ascii: "e") { skip() }
                index += 1
            default:
                _ = string()
            }
        }
        var result: [String: String] = [:]
        guard bytes.first == UInt8(ascii: "d") else { return result }
        index = 1
        while index < bytes.count, bytes[index] != UInt8(ascii: "e") {
            guard let key = string() else { break }
            if index < bytes.count, bytes[index].isDigit, let value = string() {
                result[key] = value
            } else {
                skip()
            }
        }
        return result
    }
}

extension UInt8 {
    var isDigit: Bool { self >= UInt8(ascii: "0") && self <= UInt8(ascii: "9") }
}
