public import ACME
import Foundation

/// `certctl dns-persist-record`: the `_validation-persist` records that let an issuer's account
/// validate names with dns-persist-01, in zone-file form, to publish once.
public enum DNSPersistRecords {
    /// One line per name (a name and its wildcard: one line, `policy=wildcard`, which covers
    /// both). The CA's issuer domain name is `issuerDomainName` when given, else
    /// read from the dns-persist-01 challenges of an order for `names`, which is left pending
    /// (it expires unused; nothing is issued).
    public static func lines(
        for names: [String], client: ACMEClient, issuerDomainName: String?
    ) async throws -> [String] {
        guard let account = await client.accountURL else {
            throw CertctlError(.invalidArgument, object: "the account", "is not registered")
        }
        var issuerNames: [String: String] = [:]
        var accounts: [String: String] = [:]
        if let issuerDomainName {
            for name in names { issuerNames[name] = issuerDomainName }
        } else {
            let order = try await client.newOrder(
                identifiers: ACMEClient.identifiers(for: names), profile: nil, replaces: nil)
            for url in order.authorizations {
                let authorization = try await client.authorization(url)
                let domain = (authorization.wildcard == true ? "*." : "") + authorization.identifier.value
                guard let challenge = authorization.challenges.first(where: { $0.type == "dns-persist-01" }),
                    let first = challenge.issuerDomainNames?.first
                else {
                    let offered = authorization.challenges.map(\.type).joined(separator: ", ")
                    throw CertctlError(
                        .invalidIssuer, object: domain,
                        "the CA offers no dns-persist-01 challenge for it (it offers \(offered)); use another solver, or give --issuer-domain-name if you know the CA's"
                    )
                }
                issuerNames[domain] = first
                accounts[domain] = challenge.accountURI
            }
        }
        // One record per owner name: a wildcard's (policy=wildcard) also authorizes its base
        // name, and a second record for the base alone would only be one more to publish.
        let wildcardBases = Set(names.filter { $0.hasPrefix("*.") }.map { String($0.dropFirst(2)) })
        return names.filter { !wildcardBases.contains($0) }.map { name in
            let record = DNSPersistRecord(
                issuerDomainName: issuerNames[name] ?? issuerNames.values.first ?? "",
                accountURI: accounts[name] ?? account,
                wildcard: name.hasPrefix("*."))
            return record.zoneLine(for: name)
        }
    }
}
