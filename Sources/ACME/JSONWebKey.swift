import Certificates
import Crypto

/// A public JWK with the members RFC 7638 requires, in the order it requires.
public enum JSONWebKey: Sendable, Equatable {
    case ec(curve: String, x: String, y: String)
    case rsa(n: String, e: String)

    /// The canonical JSON of RFC 7638 §3: required members, lexicographic order, no white space.
    /// It is also what the `jwk` header and EAB payload carry.
    public var canonicalJSON: String {
        switch self {
        case .ec(let curve, let x, let y):
            #"{"crv":"\#(curve)","kty":"EC","x":"\#(x)","y":"\#(y)"}"#
        case .rsa(let n, let e):
            #"{"e":"\#(e)","kty":"RSA","n":"\#(n)"}"#
        }
    }

    /// base64url(SHA-256(canonical JSON)) (RFC 7638 §3.1).
    public var thumbprint: String {
        Base64URL.encode(SHA256.hash(data: Array(canonicalJSON.utf8)))
    }
}
