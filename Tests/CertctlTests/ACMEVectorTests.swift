import Certificates
import Crypto
import Foundation
import Testing

@testable import ACME

@Suite("ACME fixed vectors")
struct ACMEVectorTests {
    @Test("RFC 7638 §3.1 thumbprint example")
    func rfc7638Thumbprint() {
        let key = JSONWebKey.rsa(
            n:
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            e: "AQAB"
        )
        #expect(key.thumbprint == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    }

    @Test("EC thumbprint input: required members only, sorted, no white space")
    func ecCanonicalJSON() throws {
        let key = try AccountKey(generating: .ecdsaP256)
        let json = key.jwk.canonicalJSON
        #expect(json.hasPrefix(#"{"crv":"P-256","kty":"EC","x":""#))
        #expect(!json.contains(" "))
        guard case .ec(_, let x, let y) = key.jwk else {
            Issue.record("not an EC key")
            return
        }
        #expect(Base64URL.decode(x)?.count == 32)
        #expect(Base64URL.decode(y)?.count == 32)
    }

    @Test("RFC 9773 §4.1 certificate identifier example")
    func rfc9773CertificateID() {
        let aki: [UInt8] = [
            0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
            0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4,
        ]
        let id = CertificateSummary.ariCertificateID(
            authorityKeyIdentifier: aki, serialBytes: [0x00, 0x87, 0x65, 0x43, 0x21])
        #expect(id == "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE")
    }

    @Test(
        "JWS with jwk: alg, jwk, nonce, url, and no kid; raw r‖s signature", arguments: [KeyType.ecdsaP256, .ecdsaP384])
    func jwsWithJWK(type: KeyType) throws {
        let key = try AccountKey(generating: type)
        let body = try JWS.sign(
            payload: Array(#"{"a":1}"#.utf8), url: "https://ca.test/new-acct", nonce: "n0nce", key: key,
            identification: .jwk)
        let (header, payload, signature, signingInput) = try Self.split(body)
        #expect(header["alg"] as? String == (type == .ecdsaP256 ? "ES256" : "ES384"))
        #expect(header["nonce"] as? String == "n0nce")
        #expect(header["url"] as? String == "https://ca.test/new-acct")
        #expect(header["kid"] == nil)
        let jwk = try #require(header["jwk"] as? [String: String])
        #expect(Set(jwk.keys) == ["kty", "crv", "x", "y"])
        #expect(payload == #"{"a":1}"#)
        let x = try #require(Base64URL.decode(jwk["x"] ?? ""))
        let y = try #require(Base64URL.decode(jwk["y"] ?? ""))
        if type == .ecdsaP256 {
            #expect(signature.count == 64)
            let publicKey = try P256.Signing.PublicKey(rawRepresentation: x + y)
            #expect(
                publicKey.isValidSignature(
                    try P256.Signing.ECDSASignature(rawRepresentation: signature), for: signingInput))
        } else {
            #expect(signature.count == 96)
            let publicKey = try P384.Signing.PublicKey(rawRepresentation: x + y)
            #expect(
                publicKey.isValidSignature(
                    try P384.Signing.ECDSASignature(rawRepresentation: signature), for: signingInput))
        }
    }

    @Test("JWS with kid and POST-as-GET: kid, no jwk, empty payload")
    func jwsWithKidPostAsGet() throws {
        let key = try AccountKey(generating: .ecdsaP256)
        let body = try JWS.sign(
            payload: nil, url: "https://ca.test/order/1", nonce: "abc", key: key,
            identification: .kid("https://ca.test/acct/7"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: String])
        #expect(object["payload"] == "")
        let (header, _, _, _) = try Self.split(body)
        #expect(header["kid"] as? String == "https://ca.test/acct/7")
        #expect(header["jwk"] == nil)
        #expect(header["url"] as? String == "https://ca.test/order/1")
    }

    @Test("RS256 accepted for existing account keys")
    func rs256() throws {
        let key = try AccountKey(generating: .rsa2048)
        #expect(key.algorithm == "RS256")
        let reread = try AccountKey(pem: key.pemRepresentation)
        #expect(reread.thumbprint == key.thumbprint)
        guard case .rsa(_, let e) = key.jwk else {
            Issue.record("not an RSA JWK")
            return
        }
        #expect(e == "AQAB")
    }

    @Test("account key PEM round trip keeps the thumbprint", arguments: [KeyType.ecdsaP256, .ecdsaP384])
    func accountKeyRoundTrip(type: KeyType) throws {
        let key = try AccountKey(generating: type)
        #expect(try AccountKey(pem: key.pemRepresentation).thumbprint == key.thumbprint)
        #expect(!key.description.contains(key.pemRepresentation))
    }

    @Test("External Account Binding: HS256 over the account JWK, kid and url")
    func externalAccountBinding() throws {
        let key = try AccountKey(generating: .ecdsaP256)
        let mac: [UInt8] = Array(repeating: 7, count: 32)
        let binding = JWS.externalAccountBinding(
            keyID: "kid-1", macKey: mac, accountKey: key, url: "https://ca.test/new-acct")
        let header = try #require(
            try JSONSerialization.jsonObject(with: Data(Base64URL.decode(binding["protected"] ?? "") ?? []))
                as? [String: String])
        #expect(header == ["alg": "HS256", "kid": "kid-1", "url": "https://ca.test/new-acct"])
        #expect(
            Base64URL.decode(binding["payload"] ?? "").map { String(decoding: $0, as: UTF8.self) }
                == key.jwk.canonicalJSON)
        let expected = HMAC<SHA256>.authenticationCode(
            for: Array("\(binding["protected"] ?? "").\(binding["payload"] ?? "")".utf8),
            using: SymmetricKey(data: mac)
        )
        #expect(binding["signature"] == Base64URL.encode(Array(expected)))
    }

    @Test("key authorization and DNS-01 value")
    func keyAuthorization() throws {
        let key = try AccountKey(generating: .ecdsaP256)
        #expect(key.keyAuthorization(for: "tok") == "tok.\(key.thumbprint)")
        let digest = SHA256.hash(data: Array("tok.\(key.thumbprint)".utf8))
        #expect(key.dnsRecordValue(for: "tok") == Base64URL.encode(digest))
        #expect(!key.dnsRecordValue(for: "tok").contains("="))
    }

    /// Splits a flattened JWS into its decoded header, payload text, signature and signing input.
    static func split(_ body: [UInt8]) throws -> ([String: Any], String, [UInt8], [UInt8]) {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: String])
        let protected = try #require(object["protected"])
        let payload = try #require(object["payload"])
        let header = try #require(
            try JSONSerialization.jsonObject(with: Data(Base64URL.decode(protected) ?? [])) as? [String: Any])
        let payloadText = String(decoding: Base64URL.decode(payload) ?? [], as: UTF8.self)
        let signature = try #require(Base64URL.decode(object["signature"] ?? ""))
        return (header, payloadText, signature, Array("\(protected).\(payload)".utf8))
    }
}
