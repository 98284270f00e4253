import Crypto
import Foundation
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
        try self.init(pemBytes: Array(pem.utf8))
    }

    /// Reads a PEM key from its bytes (a Secret's `tls.key`); the first `… PRIVATE KEY` document
    /// counts, so `openssl ecparam -genkey`'s `EC PARAMETERS` before it does no harm.
    public init(pemBytes: some Collection<UInt8>) throws {
        let key: Certificate.PrivateKey
        do {
            guard let document = try PEM.documents(pemBytes).first(where: { $0.label.hasSuffix("PRIVATE KEY") })
            else {
                throw CertificatesError(.invalidKey, "no PRIVATE KEY document")
            }
            key = try Certificate.PrivateKey(pemDocument: PEMDocument(type: document.label, derBytes: document.der))
        } catch {
            throw CertificatesError(.invalidKey, "the private key is not a readable PEM key ")
        }
        guard let type = Self.keyType(of: key.publicKey) else {
            throw CertificatesError(.unsupportedKey, "unsupported private key algorithm; use \(KeyType.names)")
        }
        self.type = type
        self.certificateKey = key
    }

    /// PEM of the key as certctl has always written it: PKCS#1 (`RSA PRIVATE KEY`) for RSA,
    /// PKCS#8 (`PRIVATE KEY`) for ECDSA.
    public func pemRepresentation() throws -> String {
        try certificateKey.serializeAsPEM().pemString + "\n"
    }

    /// PEM of the key as cert-manager's default `privateKey.encoding: PKCS1` writes it: PKCS#1
    /// for RSA, SEC1 (`EC PRIVATE KEY`, RFC 5915, with the curve named) for ECDSA.
    public func pkcs1PEMRepresentation() throws -> String {
        let curve: [UInt8]
        switch type {
        case .rsa2048, .rsa3072, .rsa4096: return try pemRepresentation()
        case .ecdsaP256: curve = [0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07]
        case .ecdsaP384: curve = [0x06, 0x05, 0x2B, 0x81, 0x04, 0x00, 0x22]
        }
        // The PKCS#8 document's privateKey is the SEC1 ECPrivateKey: take its fields, name the curve.
        let info = try DER.parse(try certificateKey.serializeAsPEM().derBytes)
        guard case .constructed(let fields) = info.content, let inner = Array(fields).last,
            case .primitive(let sec1) = inner.content,
            case .constructed(let parts) = try DER.parse(sec1).content
        else { throw CertificatesError(.invalidKey, "the ECDSA key's PKCS#8 form is not as expected") }
        let nodes = Array(parts)
        guard nodes.count >= 2 else { throw CertificatesError(.invalidKey, "the ECDSA key's SEC1 form is short") }
        var content = Array(nodes[0].encodedBytes) + Array(nodes[1].encodedBytes) + DERBytes.tlv(0xA0, curve)
        if let publicKey = nodes.first(where: {
            $0.identifier.tagNumber == 1 && $0.identifier.tagClass == .contextSpecific
        }) {
            content += Array(publicKey.encodedBytes)
        }
        let der = DERBytes.sequence(content)
        let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN EC PRIVATE KEY-----\n\(base64)\n-----END EC PRIVATE KEY-----\n"
    }

    /// PEM of the key as PKCS#8 (`PRIVATE KEY`, RFC 5208), as cert-manager's `privateKey.encoding:
    /// PKCS8` writes it: ECDSA keys are serialized so already; an RSA key's PKCS#1 form is wrapped
    /// with its algorithm.
    public func pkcs8PEMRepresentation() throws -> String {
        switch type {
        case .ecdsaP256, .ecdsaP384: return try pemRepresentation()
        case .rsa2048, .rsa3072, .rsa4096: break
        }
        // rsaEncryption (1.2.840.113549.1.1.1) with NULL parameters.
        let algorithm = DERBytes.sequence(
            [0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01] + [0x05, 0x00])
        let pkcs1 = try certificateKey.serializeAsPEM().derBytes
        let info = DERBytes.sequence([0x02, 0x01, 0x00] + algorithm + DERBytes.tlv(0x04, pkcs1))
        let base64 = Data(info).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
        return "-----BEGIN PRIVATE KEY-----\n\(base64)\n-----END PRIVATE KEY-----\n"
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

/// DER's tag-length-value framing (X.690 §8.1), for the few structures written by hand.
enum DERBytes {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        var length: [UInt8]
        if content.count < 0x80 {
            length = [UInt8(clamping: content.count)]
        } else {
            var count = content.count
            var bytes: [UInt8] = []
            while count > 0 {
                bytes.insert(UInt8(clamping: count & 0xFF), at: 0)
                count >>= 8
            }
            length = [0x80 | UInt8(clamping: bytes.count)] + bytes
        }
        return [tag] + length + content
    }

    static func sequence(_ content: [UInt8]) -> [UInt8] { tlv(0x30, content) }
}
