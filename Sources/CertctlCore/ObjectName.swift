/// Kubernetes object names as the API server takes them (`k8s.io/apimachinery` validation):
/// Secret names are DNS-1123 subdomains, namespaces DNS-1123 labels. Checked before a name is
/// used, so that no name read from a manifest or an Ingress can make a path outside the state
/// directory (`../x`, `/etc`).
public enum ObjectName {
    /// Lowercase alphanumerics and `-`, starting and ending alphanumeric, at most 63.
    public static func isDNSLabel(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, let last = bytes.last, bytes.count <= 63 else { return false }
        func alphanumeric(_ byte: UInt8) -> Bool { (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) }
        return alphanumeric(first) && alphanumeric(last) && bytes.allSatisfy { alphanumeric($0) || $0 == 0x2d }
    }

    /// Dot-separated DNS-1123 labels, at most 253.
    public static func isDNSSubdomain(_ name: String) -> Bool {
        name.utf8.count <= 253
            && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// What a bad name should look like, for messages.
    static let subdomainRule =
        "a lowercase RFC 1123 subdomain: a-z, 0-9, '-' and '.', starting and ending with a letter or digit"
    static let labelRule = "a lowercase RFC 1123 label: a-z, 0-9 and '-', at most 63"
}
