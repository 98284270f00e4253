import Certificates
import Foundation

/// `certctl caa-record`: the CAA records (RFC 8659, RFC 8657) that let exactly the issuers of
/// the names' chains issue, each for its own account and the challenge types its solvers take
/// for the names, in zone-file form.
public enum CAARecords {
    /// One name, as its certificate asks for it, and the issuers of its chain (primary first).
    public struct Name: Sendable {
        public var host: String
        public var labels: [String: String]
        public var chain: [Issuer]

        public init(host: String, labels: [String: String] = [:], chain: [Issuer]) {
            self.host = host
            self.labels = labels
            self.chain = chain
        }
    }

    /// What precedes the records: where to publish them.
    static let header = [
        "; CAA records that let exactly these issuers issue, each for its account (RFC 8659, RFC 8657).",
        "; A CAA set covers the names below it that have none of their own: each owner here is the",
        "; longest common parent of its names; publishing at the registered domain (example.org for",
        "; www.example.org) covers all its subdomains. Any other issue record at an owner lets",
        "; another CA issue too. certctl check reads them back.",
    ]

    /// The header, then per owner name and issuer (in the order the names and chains give them)
    /// an `issue` line and, where the names hold wildcards, an `issuewild` line; a comment where
    /// an issuer's CA names no CAA identity or it has no account yet. `facts` by issuer.
    public static func lines(for names: [Name], facts: [IssuerKey: CAAIssuerFacts]) -> [String] {
        let named = names.filter { IPAddress($0.host) == nil }
        let owners = owners(of: named.map(\.host))
        var lines = header
        var ownersDone = Set<String>()
        for name in named {
            guard let owner = owners[name.host], ownersDone.insert(owner).inserted else { continue }
            let here = named.filter { owners[$0.host] == owner }
            var issuersDone = Set<IssuerKey>()
            for issuer in here.flatMap(\.chain) where issuersDone.insert(issuer.key).inserted {
                let served = here.filter { $0.chain.contains { $0.key == issuer.key } }
                lines += self.lines(owner: owner, issuer: issuer, names: served, facts: facts[issuer.key])
            }
        }
        return lines
    }

    /// One issuer's lines at `owner`: `issue` with the methods of the names that are not
    /// wildcards (of the wildcards when all are), `issuewild` with the wildcards' methods.
    static func lines(owner: String, issuer: Issuer, names: [Name], facts: CAAIssuerFacts?) -> [String] {
        guard let facts, let identity = facts.identities.first else {
            let why = facts?.directoryProblem.map { "cannot be read (\($0))" } ?? "lists no caaIdentities"
            return [
                "; issuer \(issuer.name): its CA's directory \(issuer.server) \(why), so no record can name it; ask the CA for its CAA identity"
            ]
        }
        var lines: [String] = []
        var account = facts.account
        if let url = account, !url.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ";") }) {
            lines.append("; issuer \(issuer.name): its account URL cannot be written in a CAA record; left out")
            account = nil
        } else if account == nil {
            lines.append(
                "; issuer \(issuer.name) has no ACME account yet: this lets any account at \(identity) issue; after the first certctl run registers one, run certctl caa-record again to add its accounturi"
            )
        }
        func methods(_ names: [Name]) -> [String] {
            Set(names.compactMap { issuer.solver(for: $0.host, labels: $0.labels)?.method.challengeType }).sorted()
        }
        let wildcards = names.filter { $0.host.hasPrefix("*.") }
        let plain = names.filter { !$0.host.hasPrefix("*.") }
        lines.append(line(owner, "issue", identity, account, methods(plain.isEmpty ? wildcards : plain)))
        if !wildcards.isEmpty {
            lines.append(line(owner, "issuewild", identity, account, methods(wildcards)))
        }
        return lines
    }

    /// `example.org. IN CAA 0 issue "ca.example.net; accounturi=URL; validationmethods=http-01"`.
    static func line(_ owner: String, _ tag: String, _ identity: String, _ account: String?, _ methods: [String])
        -> String
    {
        var value = identity
        if let account { value += "; accounturi=\(account)" }
        if !methods.isEmpty { value += "; validationmethods=\(methods.joined(separator: ","))" }
        let quoted = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "\(owner). IN CAA 0 \(tag) \"\(quoted)\""
    }

    /// Each host's owner name: the longest common parent of the hosts (a wildcard by its base)
    /// that end in the same two labels, never above those two (no record at a TLD).
    static func owners(of hosts: [String]) -> [String: String] {
        func labels(_ host: String) -> [Substring] {
            (host.hasPrefix("*.") ? host.dropFirst(2) : Substring(host)).split(separator: ".")
        }
        var common: [String: [Substring]] = [:]
        for host in hosts {
            let mine = labels(host)
            let key = mine.suffix(2).joined(separator: ".")
            guard let known = common[key] else {
                common[key] = mine
                continue
            }
            let shared = zip(known.reversed(), mine.reversed()).prefix { $0 == $1 }.count
            common[key] = Array(known.suffix(shared))
        }
        var owners: [String: String] = [:]
        for host in hosts {
            let key = labels(host).suffix(2).joined(separator: ".")
            owners[host] = common[key]?.joined(separator: ".") ?? key
        }
        return owners
    }
}
