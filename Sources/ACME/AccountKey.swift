public import Certificates
import Crypto
import _CryptoExtras

/// An ACME account key (RFC 8555 §6.2): ES256 and ES384 are made here; RS256 is accepted for
/// existing accounts. Let's Encrypt accepts no EdDSA.
///
/// `description` never shows key material.
public struct AccountKey: Sendable, CustomStringConvertible {
    enum Backing: Sendable {
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey)
    }

    let backing: Backing

    init(backing: Backing) {
        self.backing = backing
    }

    /// A new key: ECDSA P-256 (ES256) unless asked otherwise.
    public init(generating type: KeyType = .ecdsaP256) throws {
        switch type {
        case .ecdsaP256: backing = .p256(P256.Signing.PrivateKey())
        case .ecdsaP384: backing = .p384(P384.Signing.PrivateKey())
        case .rsa2048: backing = .rsa(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .rsa3072: backing = .rsa(try _RSA.Signing.PrivateKey(keySize: .bits3072))
        case .rsa4096: backing = .rsa(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
    }

    /// Reads a PEM account key (PKCS#8, SEC1 or PKCS#1), as certctl, cert-manager and lego store them.
    public init(pem: String) throws {
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            backing = .p256(key)
        } else if let key = try? P384.Signing.PrivateKey(pemRepresentation: pem) {
            backing = .p384(key)
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            backing = .rsa(key)
        } else {
            throw ACMEError(
                .invalidAccountKey,
                "the ACME account key is not a readable ECDSA P-256/P-384 or RSA PEM key"
            )
        }
    }

    /// The JWS `alg` (RFC 7518 §3.1).
    public var algorithm: String {
        switch backing {
        case .p256: "ES256"
        case .p384: "ES384"
        case .rsa: "RS256"
        }
    }

    public var pemRepresentation: String {
        switch backing {
        case .p256(let key): key.pemRepresentation + "\n"
        case .p384(let key): key.pemRepresentation + "\n"
        case .rsa(let key): key.pemRepresentation + "\n"
        }
    }

    /// The public key as a JWK with its required members only (RFC 7638 §3.2).
    public var jwk: JSONWebKey {
        switch backing {
        case .p256(let key):
            let raw = Array(key.publicKey.rawRepresentation)
            return .ec(curve: "P-256", x: Base64URL.encode(raw[..<32]), y: Base64URL.encode(raw[32...]))
        case .p384(let key):
            let raw = Array(key.publicKey.rawRepresentation)
            return .ec(curve: "P-384", x: Base64URL.encode(raw[..<48]), y: Base64URL.encode(raw[48...]))
        case .rsa(let key):
            let primitives = try? key.publicKey.getKeyPrimitives()
            let modulus = (primitives.map { Array($0.modulus) } ?? []).drop { $0 == 0 }
            let exponent = (primitives.map { Array($0.publicExponent) } ?? []).drop { $0 == 0 }
            return .rsa(n: Base64URL.encode(modulus), e: Base64URL.encode(exponent))
        }
    }

    /// The JWK thumbprint (RFC 7638), base64url: the account's part of every key authorization.
    public var thumbprint: String { jwk.thumbprint }

    /// Signs `input` as JWS requires: raw r‖s for ECDSA (RFC 7518 §3.4), PKCS#1 v1.5 for RSA.
    public func sign(_ input: [UInt8]) throws -> [UInt8] {
        switch backing {
        case .p256(let key): Array(try key.signature(for: input).rawRepresentation)
        case .p384(let key): Array(try key.signature(for: input).rawRepresentation)
        case .rsa(let key): Array(try key.signature(for: input, padding: .insecurePKCS1v1_5).rawRepresentation)
        }
    }

    public var description: String { "AccountKey(\(algorithm), thumbprint: \(thumbprint))" }
}
