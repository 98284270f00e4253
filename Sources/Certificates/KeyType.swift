/// The kinds of private key certctl makes for certificates and ACME accounts.
public enum KeyType: String, Sendable, CaseIterable, Codable {
    case ecdsaP256 = "ecdsa-p256"
    case ecdsaP384 = "ecdsa-p384"
    case rsa2048 = "rsa-2048"
    case rsa3072 = "rsa-3072"
    case rsa4096 = "rsa-4096"

    /// Accepts certctl's names and cert-manager's `privateKey` spellings (`ECDSA`/256, `RSA`/2048).
    public init?(name: String) {
        let lowered = name.lowercased()
        if let known = KeyType(rawValue: lowered) {
            self = known
            return
        }
        switch lowered {
        case "ecdsa", "ec", "p256", "ecdsa256", "ec256": self = .ecdsaP256
        case "p384", "ecdsa384", "ec384": self = .ecdsaP384
        case "rsa", "rsa2048": self = .rsa2048
        case "rsa3072": self = .rsa3072
        case "rsa4096": self = .rsa4096
        default: return nil
        }
    }

    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
