import Foundation

/// The persistent validation record of dns-persist-01 (draft-ietf-acme-dns-persist §4): a TXT
/// record at `_validation-persist.<domain>` whose value is a CAA issue-value (RFC 8659 §4.2):
/// the CA's issuer domain name, then `accounturi=` (RFC 8657 §3), `policy=wildcard` to cover
/// wildcards and subdomains, and `persistUntil=` (a UNIX time) when it expires.
public struct DNSPersistRecord: Sendable, Equatable {
    public var issuerDomainName: String
    public var accountURI: String?
    /// `policy=wildcard` (case-insensitive).
    public var wildcard: Bool
    public var persistUntil: Int?

    public init(issuerDomainName: String, accountURI: String?, wildcard: Bool = false, persistUntil: Int? = nil) {
        self.issuerDomainName = issuerDomainName
        self.accountURI = accountURI
        self.wildcard = wildcard
        self.persistUntil = persistUntil
    }

    /// The owner name of the record for `domain` (the base of a wildcard).
    public static func name(for domain: String) -> String {
        "_validation-persist.\(domain.hasPrefix("*.") ? String(domain.dropFirst(2)) : domain)"
    }

    /// Reads an issue-value (RFC 8659 §4.2); parameters of unknown tags are ignored, as the draft
    /// requires. As strict as a CA: an empty parameter (a trailing `;`), a repeated tag, or a
    /// value with spaces, `;` or non-ASCII makes the record malformed.
    public init?(parsing value: String) {
        let parts = value.split(separator: ";", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = parts.first, !first.isEmpty, !first.contains("=") else { return nil }
        var record = DNSPersistRecord(issuerDomainName: first, accountURI: nil)
        var seen = Set<String>()
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard pair.count == 2, !pair[0].isEmpty, seen.insert(pair[0].lowercased()).inserted,
                pair[1].unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) && $0 != ";" })
            else { return nil }
            switch pair[0].lowercased() {
            case "accounturi":
                guard !pair[1].isEmpty else { return nil }
                record.accountURI = pair[1]
            case "policy": record.wildcard = pair[1].lowercased() == "wildcard"
            case "persistuntil":
                guard let until = Int(pair[1]) else { return nil }
                record.persistUntil = until
            default: continue
            }
        }
        self = record
    }

    /// The value as it is published.
    public var value: String {
        var text = issuerDomainName
        if let accountURI { text += "; accounturi=\(accountURI)" }
        if wildcard { text += "; policy=wildcard" }
        if let persistUntil { text += "; persistUntil=\(persistUntil)" }
        return text
    }

    /// A zone-file line for `domain` (strings of at most 255 bytes, RFC 1035 §3.3.14).
    public func zoneLine(for domain: String) -> String {
        // Strings of at most 255 bytes (RFC 1035 §3.3.14), cut between Unicode scalars (at most 4
        // bytes each, so every chunk takes at least one, whatever one Character holds).
        var chunks: [String] = []
        var chunk = String.UnicodeScalarView()
        var bytes = 0
        func close() {
            chunks.append("\"\(String(chunk).replacingOccurrences(of: "\"", with: "\\\""))\"")
            chunk = String.UnicodeScalarView()
            bytes = 0
        }
        for scalar in value.unicodeScalars {
            let size = String(scalar).utf8.count
            if bytes + size > 255 { close() }
            chunk.append(scalar)
            bytes += size
        }
        if !chunk.isEmpty { close() }
        return "\(Self.name(for: domain)). IN TXT \(chunks.joined(separator: " "))"
    }

    /// Whether this record lets `account` validate `identifier` (a wildcard needs
    /// `policy=wildcard`) with a CA of `issuerDomainNames`, at `now` (UNIX seconds).
    public func authorizes(account: String, issuerDomainNames: [String], wildcard: Bool, now: Int) -> Bool {
        // Compared as written, as a CA compares them: the challenge's names are normalised (§3.1).
        guard issuerDomainNames.contains(issuerDomainName), accountURI == account else {
            return false
        }
        if wildcard, !self.wildcard { return false }
        if let persistUntil, persistUntil < now { return false }
        return true
    }
}
