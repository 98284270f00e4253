import Certificates

/// Host name rules for certificate names (RFC 1123 §2.1, RFC 5280 SAN dNSName).
public enum Hostname {
    /// Checks `name` and returns it normalised, or throws an error that says what is wrong.
    /// Wildcards are refused when the challenge is HTTP-01 (RFC 8555 §7.1.3 allows them only with DNS-01).
    public static func validate(_ name: String, allowWildcard: Bool = false, object: String? = nil) throws -> String {
        func fail(_ why: String) -> CertctlError {
            CertctlError(.invalidName, object: object, "\"\(name)\" is not a valid host name: \(why)")
        }
        if IPAddress(name) != nil { return IPAddress(name)?.text ?? name }
        guard !name.isEmpty else { throw fail("it is empty") }
        guard name == name.lowercased() else { throw fail("use lower case (\(name.lowercased()))") }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.last == "" { labels.removeLast() }
        guard name.utf8.count <= 253 else { throw fail("longer than 253 characters") }
        guard labels.count >= 2 else { throw fail("a certificate name needs at least two labels (example.org)") }
        let wildcard = labels[0] == "*"
        if wildcard {
            guard allowWildcard else {
                throw fail("wildcard names need the DNS-01 challenge; HTTP-01 cannot validate them")
            }
            labels.removeFirst()
        }
        for label in labels {
            guard !label.isEmpty else { throw fail("it has an empty label") }
            guard label.utf8.count <= 63 else { throw fail("the label \"\(label)\" is longer than 63 characters") }
            guard label.utf8.allSatisfy({ isLetterDigitHyphen($0) }) else {
                throw fail("the label \"\(label)\" may hold only a-z, 0-9 and '-'")
            }
            guard label.first != "-", label.last != "-" else {
                throw fail("the label \"\(label)\" starts or ends with '-'")
            }
        }
        guard let top = labels.last, !top.utf8.allSatisfy({ (48...57).contains($0) }) else {
            throw fail("the top-level label is all digits")
        }
        return (wildcard ? "*." : "") + labels.joined(separator: ".")
    }

    private static func isLetterDigitHyphen(_ byte: UInt8) -> Bool {
        (97...122).contains(byte) || (48...57).contains(byte) || byte == 45
    }
}
