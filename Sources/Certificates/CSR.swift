import SwiftASN1
import X509

extension PrivateKey {
    /// A PKCS#10 request for `names` (RFC 8555 §7.4): every name as a SAN, `commonName` (else the
    /// first name) also as the subject CN when it fits in 64 characters (Let's Encrypt needs no
    /// CN; others still show it).
    public func makeCSR(for names: [String], commonName: String? = nil) throws -> [UInt8] {
        guard let first = commonName ?? names.first else {
            throw CertificatesError(.invalidName, "a certificate needs at least one name")
        }
        let subject = try DistinguishedName {
            if first.count <= 64 {
                CommonName(first)
            }
        }
        let sans = SubjectAlternativeNames(
            names.map { name in
                if let address = IPAddress(name) {
                    return GeneralName.ipAddress(ASN1OctetString(contentBytes: address.bytes[...]))
                }
                return GeneralName.dnsName(name)
            })
        let extensions = try Certificate.Extensions { sans }
        let csr = try CertificateSigningRequest(
            version: .v1,
            subject: subject,
            privateKey: certificateKey,
            attributes: try CertificateSigningRequest.Attributes([.init(ExtensionRequest(extensions: extensions))]),
            signatureAlgorithm: signatureAlgorithm
        )
        var serializer = DER.Serializer()
        try serializer.serialize(csr)
        return serializer.serializedBytes
    }

    var signatureAlgorithm: Certificate.SignatureAlgorithm {
        switch type {
        case .ecdsaP256: .ecdsaWithSHA256
        case .ecdsaP384: .ecdsaWithSHA384
        case .rsa2048, .rsa3072, .rsa4096: .sha256WithRSAEncryption
        }
    }
}
