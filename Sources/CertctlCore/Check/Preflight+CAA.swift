import Certificates
import DNS
import Foundation

extension Preflight {
    /// One line per name of the managed certificates and issuer of its chain (`chain`, primary
    /// first: ``Issuer/chain(in:)`` in a run): whether the name's CAA set (RFC 8659, RFC
    /// 8657) lets that issuer's CA and account issue, with the record that decided. Forbidden
    /// is a failure: a fallback that CAA forbids fails the day it is needed. The CAA records
    /// are read at `resolver`, else the first nameserver of `resolvConf`.
    public func caa(_ inventory: Inventory, chain: (Issuer) -> [Issuer], resolvConf: String = "/etc/resolv.conf")
        async -> [Result]
    {
        let lookup: CAALookup
        do {
            lookup = try CAALookup(client: caaResolver(resolvConf: resolvConf))
        } catch {
            return [Result(.warning, "CAA", "not checked: \(error)")]
        }
        var facts: [IssuerKey: CAAIssuerFacts] = [:]
        var done = Set<String>()
        var results: [Result] = []
        // A resolver that stops answering is said once: ten thousand names do not each wait for it.
        var silent: DNSError?
        var skipped = 0
        for entry in inventory.entries {
            guard let issuer = issuers[entry.desired.issuerKey] else { continue }
            let issuers = chain(issuer)
            let keys = issuers.map(\.key.description).joined(separator: " ")
            // CAA does not apply to IP addresses (RFC 8738 §7 leaves them out).
            for host in entry.desired.hosts where IPAddress(host) == nil && done.insert("\(host) \(keys)").inserted {
                guard silent == nil else {
                    skipped += 1
                    continue
                }
                let (lines, unanswered) = await caaLines(
                    host, labels: entry.desired.labels, chain: issuers, lookup: lookup, facts: &facts)
                results += lines
                silent = unanswered
            }
        }
        if let silent, skipped > 0 {
            results.append(
                Result(
                    .warning, "CAA",
                    "\(skipped) more names not checked: the resolver did not answer (\(silent.reason)); give one that does with --resolver host:port"
                ))
        }
        return Self.folded(results)
    }

    /// At most ``listedAllowed`` lines of names that every issuer of their chain may issue for,
    /// then one line counting the rest: what is wrong stays readable among thousands of names.
    static func folded(_ results: [Result]) -> [Result] {
        let allowed = results.filter { $0.outcome == .ok }
        guard allowed.count > listedAllowed else { return results }
        var kept = 0
        var folded = results.filter {
            guard $0.outcome == .ok else { return true }
            kept += 1
            return kept <= listedAllowed
        }
        folded.append(
            Result(
                .ok, "CAA",
                "\(allowed.count - listedAllowed) more names and issuers allowed, as above (not listed one by one)"
            ))
        return folded
    }

    static let listedAllowed = 10

    /// The lines of one name: one per issuer of its chain, labelled by position.
    /// With the resolver's failure to answer at all (no answer, a timeout), when it did not.
    func caaLines(
        _ host: String, labels: [String: String], chain: [Issuer], lookup: CAALookup,
        facts: inout [IssuerKey: CAAIssuerFacts]
    ) async -> ([Result], DNSError?) {
        let set: CAASet
        do {
            set = try await lookup.relevantSet(for: host)
        } catch {
            let line = Result(
                .warning, "CAA",
                "\(host): its CAA records cannot be read (\(error.reason)); a CA that cannot read them issues nothing: check the resolver (--resolver host:port)"
            )
            return ([line], [.network, .timeout].contains(error.code) ? error : nil)
        }
        var results: [Result] = []
        for (position, issuer) in chain.enumerated() {
            var known = facts[issuer.key]
            if known == nil, set.owner != nil {
                known = await CAAIssuerFacts.read(
                    issuer, accounts: place.accounts, transport: transport, logger: logger,
                    requestTimeout: requestTimeout)
                facts[issuer.key] = known
            }
            let method = issuer.solver(for: host, labels: labels)?.method.challengeType
            let unread = CAAIssuerFacts(issuer: issuer.name, directory: issuer.server, identities: [], account: nil)
            let finding = CAAPolicy.evaluate(
                set, wildcard: host.hasPrefix("*."), method: method, facts: known ?? unread)
            let outcome: Result.Outcome =
                switch finding.verdict {
                case .allowed: .ok
                case .unchecked: .warning
                case .forbidden: .failed
                }
            let role = position == 0 ? "primary" : "fallback \(position)"
            results.append(Result(outcome, "CAA", "\(host), \(role) \(issuer.name): \(finding.message)"))
        }
        return (results, nil)
    }

    /// The server CAA is read at: `--resolver`, else the system's (the first nameserver of
    /// resolv.conf), as a recursive resolver.
    func caaResolver(resolvConf: String) throws -> DNSClient {
        if let resolver {
            var client = try DNSClient(parsing: resolver, timeout: requestTimeout)
            client.recursionDesired = true
            return client
        }
        let text = (try? String(contentsOfFile: resolvConf, encoding: .utf8)) ?? ""
        guard var client = DNSClient.resolver(fromResolvConf: text) else {
            throw CertctlError(
                .invalidArgument, object: resolvConf,
                "names no nameserver to read CAA records at; give one with --resolver host:port")
        }
        client.timeout = requestTimeout
        return client
    }
}
