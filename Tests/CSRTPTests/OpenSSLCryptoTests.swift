import CSRTP
import CSRTPOpenSSL
import LuukkuCore
import LuukkuRelay
import Testing

/// The OpenSSL cipher and auth types of Sources/CSRTPOpenSSL: their own and libsrtp2's known answers, a
/// differential comparison with libsrtp2's built-in (NSS) types on many random inputs, and their installation
/// in the process's libsrtp (every SRTPContext known answer then runs on them).
@Suite struct OpenSSLCryptoTests {
    struct CipherCase: Sendable, CustomTestStringConvertible {
        let name: String
        let id: srtp_cipher_type_id_t
        /// Key and salt octets, as libsrtp allocates the cipher.
        let keyLength: Int32
        let isGCM: Bool
        var testDescription: String { name }
        var ours: UnsafePointer<srtp_cipher_type_t> { luukku_ossl_cipher_type(id)! }
        var builtin: UnsafePointer<srtp_cipher_type_t> { luukku_builtin_cipher_type(id)! }
    }

    static let ciphers = [
        CipherCase(name: "AES-ICM-128", id: srtp_cipher_type_id_t(SRTP_AES_ICM_128), keyLength: 30, isGCM: false),
        CipherCase(name: "AES-ICM-256", id: srtp_cipher_type_id_t(SRTP_AES_ICM_256), keyLength: 46, isGCM: false),
        CipherCase(name: "AES-GCM-128", id: srtp_cipher_type_id_t(SRTP_AES_GCM_128), keyLength: 28, isGCM: true),
        CipherCase(name: "AES-GCM-256", id: srtp_cipher_type_id_t(SRTP_AES_GCM_256), keyLength: 44, isGCM: true),
    ]

    @Test(arguments: ciphers) func passesItsOwnAndLibSRTPsKnownAnswers(_ cipher: CipherCase) {
        #expect(srtp_cipher_type_self_test(cipher.ours) == srtp_err_status_ok)
        #expect(srtp_cipher_type_test(cipher.ours, cipher.builtin.pointee.test_data) == srtp_err_status_ok)
    }

    @Test func rfc3711CounterWrapVectorHoldsForBothImplementations() throws {
        var wrap = withUnsafePointer(to: luukku_rfc3711_b2_wrap_test_case) { $0.pointee }
        wrap.next_test_case = nil
        let icm = Self.ciphers[0]
        #expect(srtp_cipher_type_test(icm.ours, &wrap) == srtp_err_status_ok)
        #expect(srtp_cipher_type_test(icm.builtin, &wrap) == srtp_err_status_ok)
    }

    /// The known-answer check can fail: one wrong keystream octet is refused.
    @Test func aWrongKnownAnswerIsRefused() throws {
        var wrap = withUnsafePointer(to: luukku_rfc3711_b2_wrap_test_case) { $0.pointee }
        var corrupted = Array(UnsafeBufferPointer(start: wrap.ciphertext, count: Int(wrap.ciphertext_length_octets)))
        corrupted[17] ^= 0x01
        let status = corrupted.withUnsafeBufferPointer { buffer in
            wrap.ciphertext = buffer.baseAddress
            wrap.next_test_case = nil
            return srtp_cipher_type_test(Self.ciphers[0].ours, &wrap)
        }
        #expect(status != srtp_err_status_ok)
    }

    @Test func hmacPassesRFC2202AndLibSRTPsCases() {
        withUnsafePointer(to: luukku_ossl_hmac_sha1) { ours in
            #expect(srtp_auth_type_self_test(ours) == srtp_err_status_ok)
            withUnsafePointer(to: srtp_hmac) { builtin in
                #expect(srtp_auth_type_test(ours, builtin.pointee.test_data) == srtp_err_status_ok)
                // Our RFC 2202 cases hold for libsrtp's own HMAC too, so the vectors are right.
                withUnsafePointer(to: luukku_rfc2202_test_case_2) { cases in
                    #expect(srtp_auth_type_test(builtin, cases) == srtp_err_status_ok)
                }
            }
        }
    }

    /// Random keys, IVs, AAD and lengths 0 ... 1,500: both implementations give the same octets (and the same
    /// GCM tag), each decrypts the other's output, and a flipped octet fails the GCM tag in ours.
    @Test(arguments: ciphers) func agreesWithTheBuiltInImplementation(_ cipher: CipherCase) throws {
        var random = SplitMix(seed: 0x5EED_0000 + UInt64(cipher.id))
        var mismatches: [String] = []
        for round in 0..<300 {
            let key = random.bytes(Int(cipher.keyLength))
            var iv = random.bytes(16)
            if cipher.isGCM { iv.removeLast(4) }  // GCM takes a 12-octet IV
            let aad = random.bytes(Int(random.next() % 24))
            let length = round < 20 ? round : Int(random.next() % 1_501)
            let plain = random.bytes(length)
            let fromOurs = try Self.encrypt(plain, key: key, iv: iv, aad: aad, type: cipher.ours, isGCM: cipher.isGCM)
            let fromBuiltin = try Self.encrypt(
                plain, key: key, iv: iv, aad: aad, type: cipher.builtin, isGCM: cipher.isGCM)
            if fromOurs != fromBuiltin { mismatches.append("round \(round), \(length) octets: different output") }
            let back = try Self.decrypt(fromBuiltin, key: key, iv: iv, aad: aad, type: cipher.ours, isGCM: cipher.isGCM)
            if back.status != srtp_err_status_ok || back.plain != plain {
                mismatches.append("round \(round): ours did not decrypt the built-in output (\(back.status))")
            }
            if cipher.isGCM {
                var forged = fromBuiltin
                forged[Int(random.next() % UInt64(forged.count))] ^= 0x80
                let refused = try Self.decrypt(forged, key: key, iv: iv, aad: aad, type: cipher.ours, isGCM: true)
                if refused.status != srtp_err_status_auth_fail {
                    mismatches.append("round \(round): a forged packet gave \(refused.status)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test func hmacAgreesWithTheBuiltInImplementation() throws {
        var random = SplitMix(seed: 0x4D4A_C000)
        var mismatches = 0
        for _ in 0..<300 {
            let key = random.bytes(20)
            let data = random.bytes(Int(random.next() % 1_501))
            let ours = try withUnsafePointer(to: luukku_ossl_hmac_sha1) { try Self.tag(data, key: key, type: $0) }
            let builtin = try withUnsafePointer(to: srtp_hmac) { try Self.tag(data, key: key, type: $0) }
            if ours != builtin { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    /// After start, srtp_create gets our types for every id we replace.
    @Test func theProcessRunsOnOpenSSL() throws {
        try LibSRTP.start(backend: .openssl)
        #expect(LibSRTP.backend == .openssl)
        for cipher in Self.ciphers {
            #expect(srtp_crypto_kernel_get_cipher_type(cipher.id) == cipher.ours, "\(cipher.name)")
        }
        let hmac = srtp_crypto_kernel_get_auth_type(srtp_auth_type_id_t(SRTP_HMAC_SHA1))
        #expect(withUnsafePointer(to: luukku_ossl_hmac_sha1) { $0 == hmac })
        #expect(throws: SRTPError(.backendConflict)) { try LibSRTP.start(backend: .nss) }
    }

    // MARK: - Driving a cipher or auth type directly

    static func withCipher<T>(
        _ type: UnsafePointer<srtp_cipher_type_t>, key: [UInt8], isGCM: Bool,
        _ body: (UnsafeMutablePointer<srtp_cipher_t>) throws -> T
    ) throws -> T {
        var cipher: UnsafeMutablePointer<srtp_cipher_t>?
        try #require(srtp_cipher_type_alloc(type, &cipher, Int32(key.count), isGCM ? 16 : 0) == srtp_err_status_ok)
        let allocated = try #require(cipher)
        defer { _ = srtp_cipher_dealloc(allocated) }
        try #require(key.withUnsafeBufferPointer { srtp_cipher_init(allocated, $0.baseAddress) } == srtp_err_status_ok)
        return try body(allocated)
    }

    static func encrypt(
        _ plain: [UInt8], key: [UInt8], iv: [UInt8], aad: [UInt8], type: UnsafePointer<srtp_cipher_type_t>,
        isGCM: Bool
    ) throws -> [UInt8] {
        try withCipher(type, key: key, isGCM: isGCM) { cipher in
            var iv = iv
            try #require(
                srtp_cipher_set_iv(cipher, &iv, Int32(srtp_direction_encrypt.rawValue)) == srtp_err_status_ok)
            if isGCM {
                try #require(srtp_cipher_set_aad(cipher, aad, UInt32(aad.count)) == srtp_err_status_ok)
            }
            var buffer = plain + [UInt8](repeating: 0, count: 16)
            var length = UInt32(plain.count)
            try #require(
                buffer.withUnsafeMutableBufferPointer {
                    srtp_cipher_encrypt(cipher, $0.baseAddress, &length)
                } == srtp_err_status_ok)
            var output = Array(buffer.prefix(Int(length)))
            if isGCM {
                var tag = [UInt8](repeating: 0, count: 16)
                var tagLength: UInt32 = 0
                try #require(srtp_cipher_get_tag(cipher, &tag, &tagLength) == srtp_err_status_ok)
                output += tag.prefix(Int(tagLength))
            }
            return output
        }
    }

    static func decrypt(
        _ sealed: [UInt8], key: [UInt8], iv: [UInt8], aad: [UInt8], type: UnsafePointer<srtp_cipher_type_t>,
        isGCM: Bool
    ) throws -> (status: srtp_err_status_t, plain: [UInt8]) {
        try withCipher(type, key: key, isGCM: isGCM) { cipher in
            var iv = iv
            try #require(
                srtp_cipher_set_iv(cipher, &iv, Int32(srtp_direction_decrypt.rawValue)) == srtp_err_status_ok)
            if isGCM {
                try #require(srtp_cipher_set_aad(cipher, aad, UInt32(aad.count)) == srtp_err_status_ok)
            }
            var buffer = sealed
            var length = UInt32(sealed.count)
            let status = buffer.withUnsafeMutableBufferPointer { srtp_cipher_decrypt(cipher, $0.baseAddress, &length) }
            return (status, Array(buffer.prefix(Int(length))))
        }
    }

    static func tag(_ data: [UInt8], key: [UInt8], type: UnsafePointer<srtp_auth_type_t>) throws -> [UInt8] {
        var auth: UnsafeMutablePointer<srtp_auth_t>?
        try #require(type.pointee.alloc!(&auth, Int32(key.count), 20) == srtp_err_status_ok)
        let allocated = try #require(auth)
        defer { _ = type.pointee.dealloc!(allocated) }
        let state = allocated.pointee.state
        try #require(type.pointee.`init`!(state, key, Int32(key.count)) == srtp_err_status_ok)
        try #require(type.pointee.start!(state) == srtp_err_status_ok)
        var tag = [UInt8](repeating: 0, count: 20)
        try #require(type.pointee.compute!(state, data, Int32(data.count), 20, &tag) == srtp_err_status_ok)
        return tag
    }
}

/// Seeded octets, so that a failing round can be run again.
extension SplitMix {
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}
