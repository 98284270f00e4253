import Crypto
import SwiftASN1
public import X509
import _CryptoExtras

/// A certificate's private key: generated here or read from a Secret's `tls.key`.
///
/// `description` never shows key material.
public struct PrivateKey: Sendable, CustomStringConvertible {
    public let type: KeyType
    public let certificateKey: Certificate.PrivateKey

    public init(generating type: KeyType) throws {
        self.type = type
        switch type {
        case .ecdsaP256: certificateKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
        case .ecdsaP384: certificateKey = Certificate.PrivateKey(P384.Signing.PrivateKey())
        case .rsa2048: certificateKey = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits2048))
        case .rsa3072: certificateKey = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits3072))
        case .rsa4096: certificateKey = Certificate.PrivateKey(try _RSA.Signing.PrivateKey(keySize: .bits4096))
        }
    }

    /// Reads a PEM key: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`),
    /// which covers what cert-manager, kube-lego, certbot and lego write.
    public init(pem: String) throws {
        let key: Certificate.PrivateKey
        do {
            key = try Certificate.PrivateKey(pemEncoded: pem)
        } catch {
            throw CertificatesError(.invalidKey, "the private key is not a readable PEM key ")
        }
        guard let type = Self.keyType(of: key.publicKey) else {
            throw CertificatesError(.unsupportedKey, "unsupported private key algorithm; use \(KeyType.names)")
        }
        self.type = type
        self.certificateKey = key
    }

    /// PEM of the key as cert-manager writes it: SEC1 for ECDSA, PKCS#1 for RSA.
    public func pemRepresentation() throws -> String {
        try certificateKey.serializeAsPEM().pemString + "\n"
    }

    public var publicKey: Certificate.PublicKey { certificateKey.publicKey }

    public var description: String { "PrivateKey(\(type.rawValue))" }

    static func keyType(of publicKey: Certificate.PublicKey) -> KeyType? {
        if P256.Signing.PublicKey(publicKey) != nil { return .ecdsaP256 }
        if P384.Signing.PublicKey(publicKey) != nil { return .ecdsaP384 }
        if let rsa = _RSA.Signing.PublicKey(publicKey) {
            switch rsa.keySizeInBits {
            case 2048: return .rsa2048
            case 3072: return .rsa3072
            case 4096: return .rsa4096
            default: return nil
            }
        }
        return nil
    }
}
