import Crypto
public import Foundation
import SwiftASN1
public import X509

/// What certctl needs to know about a certificate: validity, names, identity for ARI.
public struct CertificateSummary: Sendable, Equatable {
    public var notBefore: Date
    public var notAfter: Date
    public var dnsNames: [String]
    public var ipAddresses: [String]
    /// The serial as DER integer content bytes (a leading 0x00 kept), as ARI needs it.
    public var serialBytes: [UInt8]
    public var authorityKeyIdentifier: [UInt8]?
    public var subjectCommonName: String?
    public var issuerCommonName: String?
    public var keyType: KeyType?

    public init(_ certificate: Certificate) {
        notBefore = certificate.notValidBefore
        notAfter = certificate.notValidAfter
        var dns: [String] = []
        var ips: [String] = []
        if let sans = try? certificate.extensions.subjectAlternativeNames {
            for name in sans {
                switch name {
                case .dnsName(let value): dns.append(value.lowercased())
                case .ipAddress(let octets):
                    if let address = IPAddress(bytes: Array(octets.bytes)) { ips.append(address.text) }
                default: break
                }
            }
        }
        dnsNames = dns
        ipAddresses = ips
        // swift-certificates keeps the magnitude; DER (and so ARI) keeps a 0x00 before a high bit.
        let magnitude = Array(certificate.serialNumber.bytes)
        serialBytes = (magnitude.first ?? 0) & 0x80 != 0 ? [0] + magnitude : magnitude
        authorityKeyIdentifier = (try? certificate.extensions.authorityKeyIdentifier)?
            .flatMap { $0.keyIdentifier.map(Array.init) }
        subjectCommonName = certificate.subject.commonName
        issuerCommonName = certificate.issuer.commonName
        keyType = PrivateKey.keyType(of: certificate.publicKey)
    }

    /// Every name of the certificate, DNS then IP, as identifiers compare.
    public var names: Set<String> { Set(dnsNames).union(ipAddresses) }

    public var lifetime: TimeInterval { notAfter.timeIntervalSince(notBefore) }

    /// The serial as colon-free lowercase hex, as `openssl x509 -serial` prints it.
    public var serialHex: String {
        var hex: [UInt8] = []
        for byte in serialBytes.drop(while: { $0 == 0 }) {
            hex.append(Self.hexDigits[Int(clamping: byte >> 4)])
            hex.append(Self.hexDigits[Int(clamping: byte & 0x0f)])
        }
        return String(decoding: hex, as: UTF8.self)
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// The ARI certificate identifier (RFC 9773 §4.1): base64url(AKI keyIdentifier) "." base64url(serial).
    public var ariCertificateID: String? {
        guard let aki = authorityKeyIdentifier else { return nil }
        return Self.ariCertificateID(authorityKeyIdentifier: aki, serialBytes: serialBytes)
    }

    public static func ariCertificateID(authorityKeyIdentifier: [UInt8], serialBytes: [UInt8]) -> String {
        Base64URL.encode(authorityKeyIdentifier) + "." + Base64URL.encode(serialBytes)
    }
}

extension PrivateKey {
    /// Whether `certificate` certifies this key.
    public func matches(_ certificate: Certificate) -> Bool {
        certificate.publicKey == publicKey
    }
}
