import CSRTP

/// Why an SRTP operation failed. The relay counts drops by `code`; no description carries key material.
public struct SRTPError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: Hashable, Sendable {
        /// The packet's tag did not verify (forged, corrupted, or another key): RFC 3711 section 3.3.
        case authenticationFailed
        /// The packet's index was seen before or is behind the replay window: RFC 3711 section 3.3.2.
        case replayed
        /// Not an RTP/RTCP packet libsrtp can process (too short, bad header).
        case malformed
        /// The buffer has no room for what `protect` appends.
        case noRoom
        /// Keying material of the wrong length for the suite.
        case keyLength
        /// `protect` on an inbound context or `unprotect` on an outbound one.
        case wrongDirection
        /// ``LibSRTP/start(backend:)`` asked for a backend other than the one already running.
        case backendConflict
        /// Any other libsrtp status (the number is libsrtp's `srtp_err_status_t`).
        case library(Int32)
    }

    public let code: Code

    public init(_ code: Code) { self.code = code }

    init(status: srtp_err_status_t) {
        switch status {
        case srtp_err_status_auth_fail: code = .authenticationFailed
        case srtp_err_status_replay_fail, srtp_err_status_replay_old: code = .replayed
        case srtp_err_status_bad_param, srtp_err_status_parse_err: code = .malformed
        default: code = .library(Int32(status.rawValue))
        }
    }

    public var description: String {
        switch code {
        case .authenticationFailed: "SRTP authentication failed"
        case .replayed: "SRTP packet replayed or too old"
        case .malformed: "not a valid RTP or RTCP packet"
        case .noRoom: "no room in the buffer for the SRTP trailer"
        case .keyLength: "SRTP keying material has the wrong length for its suite"
        case .wrongDirection: "SRTP context used in the wrong direction"
        case .backendConflict: "libsrtp already runs with the other crypto backend"
        case .library(let status): "libsrtp error \(status)"
        }
    }
}
