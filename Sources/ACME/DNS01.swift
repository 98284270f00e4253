import Certificates
import Crypto

/// base64url(SHA-256(keyAuthorization)), the `_acme-challenge` TXT value (RFC 8555 §8.4).
public func dns01Value(keyAuthorization: String) -> String {
    Base64URL.encode(SHA256.hash(data: Array(keyAuthorization.utf8)))
}
