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

    /// Reads an issue-value; parameters of unknown tags are ignored, as the draft requires.
    public init?(parsing value: String) {
        let parts = value.split(separator: ";", omittingEmptySubsequences: false).map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        guard let first = parts.first, !first.isEmpty, !first.contains("=") else { return nil }
        var record = DNSPersistRecord(issuerDomainName: Self.normalised(first), accountURI: nil)
        for parameter in parts.dropFirst() where !parameter.isEmpty {
            let pair = parameter.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2 else { return nil }
            switch pair[0].lowercased() {
            case "accounturi": record.accountURI = pair[1]
            case "policy": record.wildcard = pair[1].lowercased() == "wildcard"
            case "persistuntil": record.persistUntil = Int(pair[1])
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
        var chunks: [String] = []
        var rest = Substring(value)
        while !rest.isEmpty {
            var chunk = rest.prefix(255)
            while chunk.utf8.count > 255 { chunk = chunk.dropLast() }
            chunks.append("\"\(chunk.replacingOccurrences(of: "\"", with: "\\\""))\"")
            rest = rest.dropFirst(chunk.count)
        }
        return "\(Self.name(for: domain)). IN TXT \(chunks.joined(separator: " "))"
    }

    /// Whether this record lets `account` validate `identifier` (a wildcard needs
    /// `policy=wildcard`) with a CA of `issuerDomainNames`, at `now` (UNIX seconds).
    public func authorizes(account: String, issuerDomainNames: [String], wildcard: Bool, now: Int) -> Bool {
        guard issuerDomainNames.map(Self.normalised).contains(issuerDomainName), accountURI == account else {
            return false
        }
        if wildcard, !self.wildcard { return false }
        if let persistUntil, persistUntil < now { return false }
        return true
    }

    /// Lower case, no trailing dot (draft §3.1).
    static func normalised(_ name: String) -> String {
        var name = name.lowercased()
        while name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
