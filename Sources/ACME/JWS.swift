import Certificates
import Crypto
import Foundation

/// Flattened JWS JSON serialization (RFC 7515 §7.2.2) as ACME requires (RFC 8555 §6.2).
enum JWS {
    /// Who the request speaks for: a new key presents its `jwk`, an account its `kid` URL.
    enum KeyIdentification {
        case jwk
        case kid(String)
    }

    /// Signs `payload` (nil: POST-as-GET, the empty string) for `url` with `nonce`.
    static func sign(
        payload: [UInt8]?,
        url: String,
        nonce: String?,
        key: AccountKey,
        identification: KeyIdentification
    ) throws -> [UInt8] {
        var header = #"{"alg":"\#(key.algorithm)","#
        switch identification {
        case .jwk: header += #""jwk":\#(key.jwk.canonicalJSON),"#
        case .kid(let kid): header += #""kid":\#(jsonString(kid)),"#
        }
        if let nonce {
            header += #""nonce":\#(jsonString(nonce)),"#
        }
        header += #""url":\#(jsonString(url))}"#
        let protected = Base64URL.encode(header)
        let encodedPayload = payload.map { Base64URL.encode($0) } ?? ""
        let signature = try key.sign(Array("\(protected).\(encodedPayload)".utf8))
        return flattened(protected: protected, payload: encodedPayload, signature: Base64URL.encode(signature))
    }

    /// The External Account Binding JWS (RFC 8555 §7.3.4): HS256 over the account's JWK.
    static func externalAccountBinding(
        keyID: String,
        macKey: [UInt8],
        accountKey: AccountKey,
        url: String
    ) -> [String: String] {
        let header = #"{"alg":"HS256","kid":\#(jsonString(keyID)),"url":\#(jsonString(url))}"#
        let protected = Base64URL.encode(header)
        let payload = Base64URL.encode(accountKey.jwk.canonicalJSON)
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(protected).\(payload)".utf8),
            using: SymmetricKey(data: macKey)
        )
        return ["protected": protected, "payload": payload, "signature": Base64URL.encode(Array(mac))]
    }

    static func flattened(protected: String, payload: String, signature: String) -> [UInt8] {
        Array(#"{"protected":"\#(protected)","payload":"\#(payload)","signature":"\#(signature)"}"#.utf8)
    }

    static func jsonString(_ value: String) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .withoutEscapingSlashes
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
    }
}
