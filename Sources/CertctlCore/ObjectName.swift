import Crypto

/// Kubernetes object names as the API server takes them (`k8s.io/apimachinery` validation):
/// Secret names are DNS-1123 subdomains, namespaces DNS-1123 labels. Checked before a name is
/// used, so that no name read from a manifest or an Ingress can make a path outside the state
/// directory (`../x`, `/etc`).
public enum ObjectName {
    /// Lowercase alphanumerics and `-`, starting and ending alphanumeric, at most 63.
    public static func isDNSLabel(_ name: String) -> Bool {
        name.utf8.count <= 63 && isLabelShaped(Substring(name))
    }

    /// Dot-separated parts shaped like labels, at most 253 in all. As `IsDNS1123Subdomain` of
    /// k8s.io/apimachinery, a part may be longer than 63: the API server takes such a Secret name.
    public static func isDNSSubdomain(_ name: String) -> Bool {
        name.utf8.count <= 253 && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isLabelShaped)
    }

    private static func isLabelShaped(_ part: Substring) -> Bool {
        let bytes = Array(part.utf8)
        guard let first = bytes.first, let last = bytes.last else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
        return alphanumeric(first) && alphanumeric(last) && bytes.allSatisfy { alphanumeric($0) || $0 == 0x2d }
    }

    /// The name certctl makes from `prefix` and `base` (a pending record for a Secret, an Event
    /// for an Ingress), within `limit` bytes (253 for most kinds): as it is when it fits; else
    /// cut, ending in a letter or digit, with `-` and ten hex digits of the SHA-256 of the whole
    /// name, so two long names cut alike stay apart and the same input always gives the same name.
    public static func bounded(_ prefix: String, _ base: String, limit: Int = 253) -> String {
        let whole = prefix + base
        guard whole.utf8.count > limit else { return whole }
        let digest = SHA256.hash(data: Array(whole.utf8)).prefix(5).map { byte in
            String(byte >> 4, radix: 16) + String(byte & 0x0f, radix: 16)
        }.joined()
        var head = Substring(whole.prefix(limit - digest.count - 1))
        while let last = head.last, last == "-" || last == "." { head = head.dropLast() }
        return "\(head)-\(digest)"
    }

    /// What a bad name should look like, for messages.
    static let subdomainRule =
        "a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', starting and ending with a letter or digit"
    static let labelRule = "a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63"
}
