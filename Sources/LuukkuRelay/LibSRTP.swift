import CSRTP
import CSRTPOpenSSL
import Synchronization

/// Which implementation of AES and HMAC-SHA1 libsrtp2 uses in this process.
public enum SRTPCryptoBackend: String, CaseIterable, Hashable, Sendable {
    /// OpenSSL's libcrypto (EVP), put in place of libsrtp2's own types (Sources/CSRTPOpenSSL). The default: on
    /// this machine the relay carries AES_CM_128_HMAC_SHA1_80 at 1.9-2.5x the packet rate it reaches with NSS,
    /// with about 4.6 us less CPU per packet (docs/benchmarks.md).
    case openssl
    /// What Debian's libsrtp2 is built with (NSS).
    case nss
}

/// libsrtp2's process-wide set-up: `srtp_init` (not thread-safe, so it runs once, under a lock) and the choice
/// of crypto backend. The daemon calls ``start(backend:)`` with its configured backend before the first
/// ``SRTPContext``; a context made before that starts libsrtp with the default (``SRTPCryptoBackend/openssl``).
/// The backend cannot change once started: libsrtp's table of cipher types is global and not synchronised.
public enum LibSRTP {
    private static let started = Mutex<SRTPCryptoBackend?>(nil)

    /// The backend in use, or `nil` before libsrtp started.
    public static var backend: SRTPCryptoBackend? { started.withLock { $0 } }

    /// Starts libsrtp with `backend`. Calling it again with the same backend does nothing.
    /// - Throws: ``SRTPError``: `.backendConflict` when libsrtp already runs with the other backend; the libsrtp
    ///   status when `srtp_init` fails or an OpenSSL type fails its known answers (it is then not used).
    public static func start(backend: SRTPCryptoBackend) throws(SRTPError) {
        let result: Result<Void, SRTPError> = started.withLock { current in
            if let current {
                return current == backend ? .success(()) : .failure(SRTPError(.backendConflict))
            }
            let status = srtp_init()
            guard status == srtp_err_status_ok else { return .failure(SRTPError(status: status)) }
            if backend == .openssl {
                let installed = luukku_srtp_install_openssl()
                guard installed == srtp_err_status_ok else { return .failure(SRTPError(status: installed)) }
            }
            current = backend
            return .success(())
        }
        try result.get()
    }

    /// Starts libsrtp with the default backend unless it already runs.
    static func ensureStarted() throws(SRTPError) {
        if backend == nil { try start(backend: .openssl) }
        // Another thread may have started it between the two calls, with either backend: both are fine here.
    }
}
