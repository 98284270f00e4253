import ACME
import Certificates
import Crypto
import Foundation
import Transport

/// The in-process CA's check of every signed request, as RFC 8555 §6.2, §6.4 and §6.5 ask:
/// Content-Type, a flattened JWS, the exact `url`, a single-use nonce, exactly one of `jwk` and
/// `kid`, an account that exists and is valid, and a signature that verifies.
extension TestACMEState {
    struct Verified {
        var payload: [UInt8]
        var jwk: JSONWebKey
        var account: String?
    }

    func verify(_ request: ServerRequest) -> Result<Verified, ResponseError> {
        guard request.headers["Content-Type"] == "application/jose+json" else {
            return .failure(ResponseError(problem(415, "malformed", "Content-Type must be application/jose+json")))
        }
        guard let object = try? JSONSerialization.jsonObject(with: Data(request.body)) as? [String: String],
            let protected = object["protected"], let payload = object["payload"], let signature = object["signature"],
            let headerBytes = Base64URL.decode(protected),
            let header = try? JSONSerialization.jsonObject(with: Data(headerBytes)) as? [String: Any]
        else {
            return .failure(ResponseError(problem(400, "malformed", "the body is not a flattened JWS")))
        }
        guard header["url"] as? String == base + request.uri else {
            return .failure(
                ResponseError(problem(401, "unauthorized", "the JWS url header does not match the request URL")))
        }
        guard let nonce = header["nonce"] as? String, nonces.remove(nonce) != nil else {
            return .failure(ResponseError(problem(400, "badNonce", "JWS has an invalid anti-replay nonce")))
        }
        let jwkObject = header["jwk"] as? [String: String]
        let kid = header["kid"] as? String
        guard (jwkObject == nil) != (kid == nil) else {
            return .failure(ResponseError(problem(400, "malformed", "the JWS must carry exactly one of jwk and kid")))
        }
        let jwk: JSONWebKey
        if let kid {
            guard let account = accounts[kid] else {
                return .failure(ResponseError(problem(400, "accountDoesNotExist", "no account at \(kid)")))
            }
            guard account.status == "valid" else {
                return .failure(ResponseError(problem(401, "unauthorized", "the account is \(account.status)")))
            }
            jwk = account.jwk
        } else {
            guard let object = jwkObject, object["kty"] == "EC", let crv = object["crv"], let x = object["x"],
                let y = object["y"]
            else {
                return .failure(ResponseError(problem(400, "badSignatureAlgorithm", "this test CA takes EC keys only")))
            }
            jwk = .ec(curve: crv, x: x, y: y)
        }
        guard let signatureBytes = Base64URL.decode(signature),
            Self.isValid(
                signature: signatureBytes, input: Array("\(protected).\(payload)".utf8), jwk: jwk,
                alg: header["alg"] as? String)
        else {
            return .failure(ResponseError(problem(400, "malformed", "the JWS signature does not verify")))
        }
        return .success(Verified(payload: Base64URL.decode(payload) ?? [], jwk: jwk, account: kid))
    }

    private static func isValid(signature: [UInt8], input: [UInt8], jwk: JSONWebKey, alg: String?) -> Bool {
        guard case .ec(let curve, let x, let y) = jwk, let xBytes = Base64URL.decode(x),
            let yBytes = Base64URL.decode(y)
        else {
            return false
        }
        switch (curve, alg) {
        case ("P-256", "ES256"):
            guard let key = try? P256.Signing.PublicKey(rawRepresentation: xBytes + yBytes),
                let parsed = try? P256.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: input)
        case ("P-384", "ES384"):
            guard let key = try? P384.Signing.PublicKey(rawRepresentation: xBytes + yBytes),
                let parsed = try? P384.Signing.ECDSASignature(rawRepresentation: signature)
            else { return false }
            return key.isValidSignature(parsed, for: input)
        default:
            return false
        }
    }
}
