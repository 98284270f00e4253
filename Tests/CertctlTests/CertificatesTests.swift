import CertctlTestSupport
import Certificates
import Foundation
import SwiftASN1
import Testing
import X509

@Suite("Keys, CSRs, PEM and inspection")
struct CertificatesTests {
    @Test("base64url from the bytes is Foundation's base64 with - _ and no padding, for every length to 64")
    func base64URL() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let expected = Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
                .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(bytes) == expected, "\(bytes)")
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
    }

    @Test("a CSR for every key type carries all names as SANs and verifies", arguments: KeyType.allCases)
    func csr(type: KeyType) throws {
        let key = try PrivateKey(generating: type)
        let names = ["mybinder.org", "hub.mybinder.org", "127.0.0.1"]
        let der = try key.makeCSR(for: names)
        let csr = try CertificateSigningRequest(derEncoded: der)
        #expect(csr.publicKey == key.publicKey)
        #expect(csr.publicKey.isValidSignature(csr.signature, for: csr))
        let sans = try #require(try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames)
        #expect(sans.contains(.dnsName("mybinder.org")))
        #expect(sans.contains(.dnsName("hub.mybinder.org")))
        #expect(sans.contains(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1]))))
        #expect(csr.subject.commonName == "mybinder.org")
    }

    @Test("a first name over 64 characters is left out of the CN, never the SANs")
    func longName() throws {
        let long = String(repeating: "a", count: 60) + ".mybinder.org"
        let csr = try CertificateSigningRequest(derEncoded: try PrivateKey(generating: .ecdsaP256).makeCSR(for: [long]))
        #expect(csr.subject.commonName == nil)
        #expect(
            try csr.attributes.extensionRequest?.extensions.subjectAlternativeNames?.contains(.dnsName(long)) == true)
    }

    @Test("private keys round-trip through PEM and keep their type", arguments: KeyType.allCases)
    func keyRoundTrip(type: KeyType) throws {
        let key = try PrivateKey(generating: type)
        let pem = try key.pemRepresentation()
        let reread = try PrivateKey(pem: pem)
        #expect(reread.type == type)
        #expect(reread.publicKey == key.publicKey)
        #expect(!key.description.contains("BEGIN"))
    }

    @Test("key type names: certctl's and cert-manager's spellings; unknown ones refused")
    func keyTypeNames() {
        #expect(KeyType(name: "ecdsa-p256") == .ecdsaP256)
        #expect(KeyType(name: "ECDSA") == .ecdsaP256)
        #expect(KeyType(name: "rsa-4096") == .rsa4096)
        #expect(KeyType(name: "RSA") == .rsa2048)
        #expect(KeyType(name: "ed25519") == nil)
        #expect(KeyType(name: "dsa") == nil)
    }

    @Test("garbage is not a key, a chain, or a certificate")
    func corruptPEM() {
        #expect(throws: CertificatesError.self) {
            try PrivateKey(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        }
        #expect(throws: CertificatesError.self) { try CertificateChain(pem: "not pem") }
        #expect(throws: CertificatesError.self) { try CertificateChain(pem: "") }
        #expect(throws: CertificatesError.self) {
            try CertificateChain(pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        }
    }

    @Test("inspection: validity, names, serial with its leading zero, AKI and the ARI ID")
    func summary() throws {
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let notBefore = Date(timeIntervalSince1970: 1_800_000_000)
        let pem = try authority.issuePEM(
            for: key,
            names: ["mybinder.org", "www.mybinder.org"],
            notBefore: notBefore,
            notAfter: notBefore.addingTimeInterval(6 * 86_400),
            serial: [0x00, 0x87, 0x65, 0x43, 0x21]
        )
        let chain = try CertificateChain(pem: pem)
        #expect(chain.certificates.count == 2)
        let summary = CertificateSummary(chain.leaf)
        #expect(summary.dnsNames == ["mybinder.org", "www.mybinder.org"])
        #expect(summary.notBefore == notBefore)
        #expect(summary.lifetime == 6 * 86_400)
        #expect(summary.serialBytes == [0x00, 0x87, 0x65, 0x43, 0x21])
        #expect(summary.serialHex == "87654321")
        #expect(summary.authorityKeyIdentifier == authority.subjectKeyIdentifier)
        #expect(summary.ariCertificateID == Base64URL.encode(authority.subjectKeyIdentifier) + ".AIdlQyE")
        #expect(summary.keyType == .ecdsaP256)
        #expect(key.matches(chain.leaf))
        #expect(!(try PrivateKey(generating: .ecdsaP256)).matches(chain.leaf))
        #expect(chain.topIssuerCommonName == "certctl test CA")
        // Through an issuer cache, the second read takes the issuer and its CN from the first.
        let cache = IssuerCertificateCache()
        for _ in 0..<2 {
            let cached = try CertificateChain(pemBytes: Array(pem.utf8), issuers: cache)
            #expect(cached.certificates == chain.certificates)
            #expect(cached.topIssuerCommonName == "certctl test CA")
        }
        let leafOnly = try CertificateChain(certificates: [chain.leaf])
        #expect(leafOnly.topIssuerCommonName == chain.leaf.issuer.commonName)
    }

    @Test("base64url without padding, both ways")
    func base64url() {
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xfb, 0xff])
        #expect(Base64URL.decode("-_8=") == [0xfb, 0xff])
        #expect(Base64URL.decode("a") == nil)
    }
}
