import SwiftASN1
import Synchronization
public import X509

/// A PEM chain as ACME returns it and `tls.crt` stores it: the leaf first, then its issuers.
public struct CertificateChain: Sendable {
    public let certificates: [Certificate]
    /// The CN of the issuer of the top-most certificate, which names the chain's root
    /// (how `preferredChain` is matched, as in cert-manager and certbot).
    public let topIssuerCommonName: String?

    public init(certificates: [Certificate]) throws {
        try self.init(certificates: certificates, topIssuerCommonName: certificates.last?.issuer.commonName)
    }

    private init(certificates: [Certificate], topIssuerCommonName: String?) throws {
        guard !certificates.isEmpty else {
            throw CertificatesError(.emptyChain, "the chain holds no certificate")
        }
        self.certificates = certificates
        self.topIssuerCommonName = topIssuerCommonName
    }

    /// Parses every `CERTIFICATE` block of `pem`, in order.
    public init(pem: String) throws {
        try self.init(pemBytes: Array(pem.utf8))
    }

    /// Reads a chain from its PEM bytes (a Secret's `tls.crt`), leaf first; documents other than
    /// `CERTIFICATE` are skipped. The issuers above the leaf are taken from `issuers` when it
    /// has read the same bytes before.
    public init(pemBytes: some Collection<UInt8>, issuers: IssuerCertificateCache? = nil) throws {
        let documents: [PEM.Document]
        do {
            documents = try PEM.documents(pemBytes)
        } catch {
            throw CertificatesError(.invalidPEM, "the certificate chain is not valid PEM")
        }
        var certificates: [Certificate] = []
        var topIssuer: String?
        for (index, document) in documents.enumerated() where document.label == "CERTIFICATE" {
            do {
                if let issuers, index > 0 {
                    let known = try issuers.certificate(document.der)
                    certificates.append(known.certificate)
                    topIssuer = known.issuerCommonName
                } else {
                    let certificate = try Certificate(derEncoded: document.der)
                    certificates.append(certificate)
                    topIssuer = certificate.issuer.commonName
                }
            } catch {
                throw CertificatesError(
                    .invalidCertificate,
                    "certificate \(index + 1) of the chain is not a valid X.509 certificate"
                )
            }
        }
        try self.init(certificates: certificates, topIssuerCommonName: topIssuer)
    }

    public var leaf: Certificate { certificates[0] }

    /// The issuers above the leaf.
    public var intermediates: ArraySlice<Certificate> { certificates.dropFirst() }

    /// The CN of the top-most certificate itself (when a chain includes its root).
    public var topSubjectCommonName: String? {
        certificates.last?.subject.commonName
    }

    public func pemRepresentation() throws -> String {
        try certificates.map { try $0.serializeAsPEM().pemString + "\n" }.joined()
    }
}

extension DistinguishedName {
    /// The first common name, if any.
    public var commonName: String? {
        for rdn in self {
            for attribute in rdn where attribute.type == .RDNAttributeType.commonName {
                return attribute.value.description
            }
        }
        return nil
    }
}

extension Certificate {
    /// The DER encoding (as revocation and ARI send it).
    public func derRepresentation() throws -> [UInt8] {
        var serializer = DER.Serializer()
        try serializer.serialize(self)
        return serializer.serializedBytes
    }
}

/// Issuer certificates already parsed, by their DER bytes: every Secret from one CA carries the
/// same intermediates, so over thousands of Secrets each is parsed once, and its issuer's CN
/// read once. Bounded: it starts over past 64 distinct certificates.
public final class IssuerCertificateCache: Sendable {
    public static let shared = IssuerCertificateCache()

    struct Known: Sendable {
        var certificate: Certificate
        var issuerCommonName: String?
    }

    private let parsed = Mutex<[[UInt8]: Known]>([:])

    public init() {}

    func certificate(_ der: [UInt8]) throws -> Known {
        if let known = parsed.withLock({ $0[der] }) { return known }
        let certificate = try Certificate(derEncoded: der)
        let known = Known(certificate: certificate, issuerCommonName: certificate.issuer.commonName)
        parsed.withLock {
            if $0.count >= 64 { $0.removeAll() }
            $0[der] = known
        }
        return known
    }
}
