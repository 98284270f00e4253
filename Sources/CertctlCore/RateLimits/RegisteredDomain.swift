import CPSL
import Certificates

/// The registered domain of a name, by the public suffix list, as a CA's per-domain rate limit
/// counts it: Let's Encrypt's "New Certificates per Registered Domain" uses the list, private
/// section included (`foo.github.io` is its own), and counts an IPv4 address as itself and an
/// IPv6 address by its /64 (https://letsencrypt.org/docs/rate-limits/).
///
/// The list is the system's, read by libpsl's `psl_latest(NULL)`: Debian's `publicsuffix`
/// package (`/usr/share/publicsuffix/public_suffix_list.dafsa`), or libpsl's built-in copy when
/// that is older or missing. It is loaded once, on first use, and only read after: libpsl's
/// lookups on a loaded context are thread-safe, so any task may ask.
public enum RegisteredDomain {
    /// The registered domain of the DNS name `name` (`www.example.co.uk` → `example.co.uk`), in
    /// lower case, without a trailing dot; a wildcard's is its base name's (`*.a.example.org` →
    /// `example.org`). Nil for what has none: an IP address, a public suffix itself (`co.uk`,
    /// `github.io`), a name with an empty label or longer than 253 bytes.
    ///
    /// Without a loaded list (see ``listProblem``) the last two labels stand in: more names share
    /// one (`a.co.uk` and `b.co.uk` both count as `co.uk`), so a budget counts high, never low.
    public static func of(_ name: String) -> String? {
        guard let host = hostName(name) else { return nil }
        guard let context = PublicSuffixList.shared.context else {
            let labels = host.split(separator: ".")
            return labels.count >= 2 ? labels.suffix(2).joined(separator: ".") : nil
        }
        return host.withCString { pointer in
            // The answer points into `pointer`: read it before the buffer goes.
            psl_registrable_domain(context, pointer).map { String(cString: $0) }
        }
    }

    /// What a per-domain limit counts `name` under: its registered domain; an IPv4 address
    /// itself; an IPv6 address's /64 (`2001:db8:1:2::/64`); a name with none (a public suffix,
    /// `localhost`) itself, lowercased, as the only name of its own count.
    public static func limitKey(_ name: String) -> String {
        if let address = IPAddress(name) {
            guard address.bytes.count == 16 else { return address.text }
            let prefix = IPAddress(bytes: Array(address.bytes.prefix(8)) + Array(repeating: 0, count: 8))
            return "\(prefix?.text ?? address.text)/64"
        }
        return of(name) ?? canonical(name)
    }

    /// Why the public suffix list is not in use, for a warning once per run; nil when it is.
    public static var listProblem: String? {
        PublicSuffixList.shared.context == nil
            ? "the public suffix list could not be loaded (install Debian's publicsuffix package); "
                + "registered domains are taken as a name's last two labels, which counts more names together"
            : nil
    }

    /// `name` lowercased, without a trailing dot or a leading `*.`.
    static func canonical(_ name: String) -> String {
        var text = Substring(name.lowercased())
        if text.hasSuffix(".") { text = text.dropLast() }
        if text.hasPrefix("*.") { text = text.dropFirst(2) }
        return String(text)
    }

    /// `name` as a DNS name to look up, or nil when it is an address or cannot be one.
    private static func hostName(_ name: String) -> String? {
        let host = canonical(name)
        guard !host.isEmpty, host.utf8.count <= 253, IPAddress(host) == nil, !host.utf8.contains(0),
            !host.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty)
        else { return nil }
        return host
    }
}

/// libpsl's context, loaded once and never freed (it lives as long as the process).
private final class PublicSuffixList: @unchecked Sendable {
    static let shared = PublicSuffixList()
    /// Read only after `init`, and libpsl documents its lookups as thread-safe: hence unchecked.
    let context: OpaquePointer?

    private init() {
        context = psl_latest(nil)
    }
}
