// make bench-relay (Benchmarks/bench-relay drives it). Two roles in one executable:
//
//   luukku-bench-relay serve SUITE SESSIONS FIRST_PORT SESSIONS_FILE [CRYPTO]
//       our relay on one worker thread: opens SESSIONS sessions on loopback (SUITE on both legs, different keys,
//       so every packet is decrypted and encrypted again), writes one line per session to SESSIONS_FILE
//       ("aPort bPort suite aKey bKey"; the keys the peers send with, base64), then serves until SIGTERM.
//   luukku-bench-relay sweep SESSIONS_FILE NAME RELAY_PID RATES SECONDS
//       the paced load generator (see LoadGenerator.swift): for each rate in RATES (packets/s, comma-separated)
//       sends for SECONDS and counts what comes back, until a rate loses more than 0.1 %. Prints one line per
//       step and "result NAME max_kpps=...".
//   luukku-bench-relay latency SESSIONS_FILE NAME RELAY_PID RATE SECONDS
//       one step at RATE (on a freshly started relay): "latency NAME cpu_us=... p50_us=... p99_us=... ...".
//   luukku-bench-relay rtpengine-sessions NG_ADDRESS NG_PORT SESSIONS SESSIONS_FILE
//       sets up SESSIONS calls on rtpengine over its ng protocol, A offering AES_CM_128_HMAC_SHA1_80 and B
//       answering AES_CM_128_HMAC_SHA1_32, so rtpengine must decrypt and encrypt again (RtpEngine.swift).
import CRelayIO
import Foundation
import Glibc
import LuukkuCore
import LuukkuRelay

let arguments = CommandLine.arguments
func usage() -> Never {
    printError(
        "usage: luukku-bench-relay serve SUITE SESSIONS FIRST_PORT FILE [openssl|nss]\n"
            + "       luukku-bench-relay sweep FILE NAME RELAY_PID RATES SECONDS\n"
            + "       luukku-bench-relay latency FILE NAME RELAY_PID RATE SECONDS\n"
            + "       luukku-bench-relay rtpengine-sessions NG_ADDRESS NG_PORT SESSIONS FILE")
    exit(2)
}
guard arguments.count >= 2 else { usage() }

switch arguments[1] {
case "serve":
    guard arguments.count >= 6, let suite = SRTPSuite(rawValue: arguments[2]), let sessions = Int(arguments[3]),
        let firstPort = UInt16(arguments[4])
    else { usage() }
    let crypto = arguments.count > 6 ? SRTPCryptoBackend(rawValue: arguments[6]) ?? .openssl : .openssl
    serve(suite: suite, sessions: sessions, firstPort: firstPort, file: arguments[5], crypto: crypto)
case "sweep":
    guard arguments.count >= 7, let pid = Int32(arguments[4]), let seconds = Double(arguments[6]) else { usage() }
    let rates = arguments[5].split(separator: ",").compactMap { Int($0) }
    LoadGenerator(sessionsFile: arguments[2], name: arguments[3], relayPID: pid).sweep(rates: rates, seconds: seconds)
case "latency":
    guard arguments.count >= 7, let pid = Int32(arguments[4]), let rate = Int(arguments[5]),
        let seconds = Double(arguments[6])
    else { usage() }
    LoadGenerator(sessionsFile: arguments[2], name: arguments[3], relayPID: pid).latency(rate: rate, seconds: seconds)
case "rtpengine-sessions":
    guard arguments.count >= 6, let port = UInt16(arguments[3]), let sessions = Int(arguments[4]) else { usage() }
    RtpEngineSessions.make(ngAddress: arguments[2], ngPort: port, sessions: sessions, file: arguments[5])
default:
    usage()
}

/// Our relay, one worker, sessions with fresh keys; stops on SIGTERM or SIGINT.
func serve(suite: SRTPSuite, sessions: Int, firstPort: UInt16, file: String, crypto: SRTPCryptoBackend) {
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGTERM)
    sigaddset(&signals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &signals, nil)  // the worker thread inherits the mask; sigwait below gets them
    let configuration = RelayConfiguration(
        bindAddress: "127.0.0.1", ports: firstPort...(firstPort + UInt16(2 * sessions - 1)), workers: 1,
        // The benchmark drives up to ~10,000 packets/s per leg, past the per-leg default (2,500/s).
        packetsPerSecond: 1_000_000, burstPackets: 100_000, mediaSilenceTimeoutNanoseconds: 3_600_000_000_000,
        batchSize: 32, socketBufferOctets: 4 << 20, cryptoBackend: crypto)
    do {
        let relay = try Relay(configuration: configuration)
        var lines = ""
        for id in 0..<UInt64(sessions) {
            let a = LegKeys.random(suite: suite)
            let b = LegKeys.random(suite: suite)
            let ports = try relay.open(session: id, a: a, b: b)
            lines += "\(ports.a) \(ports.b) \(suite.rawValue) \(a.inbound.inlineKey) \(b.inbound.inlineKey)\n"
        }
        let out = fopen(file, "w")
        fputs(lines, out)
        fclose(out)
        var received: Int32 = 0
        sigwait(&signals, &received)
        relay.stop()
    } catch {
        printError("serve: \(error)")
        exit(1)
    }
}

func printError(_ text: String) { FileHandle.standardError.write(Data((text + "\n").utf8)) }
