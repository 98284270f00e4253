import ACME
import Certificates
import DNS
import Foundation
public import Logging
public import Transport

extension CAAIssuerFacts {
    /// `issuer`'s CA identities, from its directory (read with the stored account's key, or a
    /// throwaway one: reading the directory needs no account), and its stored account's URL
    /// (none where the key was registered at another server: the next run registers it anew).
    public static func read(
        _ issuer: Issuer, accounts: any AccountStore, transport: any HTTPTransport, logger: Logger,
        requestTimeout: Duration
    ) async -> CAAIssuerFacts {
        let stored = try? await accounts.load(for: issuer)
        let account = stored?.server == issuer.server ? stored?.url : nil
        var facts = CAAIssuerFacts(issuer: issuer.name, directory: issuer.server, identities: [], account: account)
        do {
            let key = try stored?.key ?? AccountKey(generating: .ecdsaP256)
            let client = issuer.client(
                key: key, url: account, transport: transport, logger: logger, requestTimeout: requestTimeout)
            // Names a record could hold: anything else matches no record, and is not printed.
            facts.identities = (try await client.directory().meta?.caaIdentities ?? []).filter {
                CAAIssueValue.isDomainName(Array($0.utf8)[...])
            }
        } catch {
            facts.directoryProblem = "\(error)"
        }
        return facts
    }
}
