public import Certificates
import Crypto
public import Foundation
import SwiftASN1
public import X509

/// A small CA for tests: signs leaf certificates with chosen names, validity and serial, so
/// fixtures can be expired, short-lived, for the wrong names or for another key.
public struct TestCertificateAuthority: Sendable {
    public let certificate: Certificate
    private let key: P256.Signing.PrivateKey
    private let keyIdentifier: [UInt8]

    public init(name: String = "certctl test CA", now: Date = Date()) throws {
        let key = P256.Signing.PrivateKey()
        let keyIdentifier = Array(Insecure.SHA1.hash(data: key.publicKey.derRepresentation))
        self.key = key
        self.keyIdentifier = keyIdentifier
        let subject = try DistinguishedName { CommonName(name) }
        certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(key.publicKey),
            notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(10 * 365 * 86_400),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true))
                SubjectKeyIdentifier(keyIdentifier: keyIdentifier[...])
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
    }

    /// A leaf for `publicKey` with `names` as SANs.
    public func issue(
        publicKey: Certificate.PublicKey,
        names: [String],
        notBefore: Date,
        notAfter: Date,
        serial: [UInt8]? = nil,
        clientAuthentication: Bool = false
    ) throws -> Certificate {
        let sans = SubjectAlternativeNames(
            names.map { name in
                if let address = IPAddress(name) {
                    return GeneralName.ipAddress(ASN1OctetString(contentBytes: address.bytes[...]))
                }
                return GeneralName.dnsName(name)
            })
        return try Certificate(
            version: .v3,
            serialNumber: serial.map { Certificate.SerialNumber(bytes: $0) } ?? Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: notBefore,
            notValidAfter: notAfter,
            issuer: certificate.subject,
            subject: try DistinguishedName { CommonName(names.first ?? "unnamed") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage(clientAuthentication ? [.clientAuth] : [.serverAuth])
                AuthorityKeyIdentifier(keyIdentifier: keyIdentifier[...])
                sans
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
    }

    /// A leaf for `key`, returned as the PEM chain `tls.crt` would hold (leaf, then this CA).
    public func issuePEM(for key: PrivateKey, names: [String], notBefore: Date, notAfter: Date, serial: [UInt8]? = nil)
        throws -> String
    {
        let leaf = try issue(
            publicKey: key.publicKey, names: names, notBefore: notBefore, notAfter: notAfter, serial: serial)
        return try CertificateChain(certificates: [leaf, certificate]).pemRepresentation()
    }

    public var pem: String {
        (try? certificate.serializeAsPEM().pemString).map { $0 + "\n" } ?? ""
    }

    public var subjectKeyIdentifier: [UInt8] { keyIdentifier }
}
