public import ACME
import Certificates
public import Logging
public import Transport

/// Turns an issuer into a ready ACME client: the stored account, or a new key (saved before it is
/// registered, so it is never lost) and a registration.
public enum AccountSession {
    /// `saving`: false for a command that holds no lock (`dns-persist-record`): an unfinished
    /// rollover is settled for this use only, never written back over what a rollover under the
    /// lock may be saving.
    public static func open(
        issuer: Issuer,
        store: any AccountStore,
        secrets: any SecretValueSource,
        transport: any HTTPTransport,
        logger: Logger,
        observer: (@Sendable (ACMERequestRecord) -> Void)? = nil,
        requestTimeout: Duration = .seconds(30),
        saving: Bool = true
    ) async throws -> ACMEClient {
        let account = try await settled(
            try await stored(for: issuer, in: store, logger: logger), issuer: issuer, store: store,
            transport: transport, logger: logger, saving: saving)
        let client = issuer.client(
            key: account.key, url: account.url, transport: transport, logger: logger, requestTimeout: requestTimeout,
            observer: observer)
        let registration = account
        let register: @Sendable (ACMEClient) async throws -> Void = { client in
            var binding: ExternalAccountBinding?
            if let reference = issuer.externalAccountBinding {
                let mac = try await secrets.value(of: reference.keySecret)
                binding = try ExternalAccountBinding(
                    keyID: reference.keyID,
                    encodedMACKey: String(decoding: mac, as: UTF8.self)
                )
            }
            let registered = try await client.register(
                contact: issuer.email.map { ["mailto:\($0)"] } ?? [],
                externalAccountBinding: binding
            )
            var updated = registration
            updated.url = registered.url
            try await store.save(updated, for: issuer)
            logger.info(
                "registered the ACME account", metadata: ["issuer": "\(issuer.name)", "account": "\(registered.url)"])
        }
        if account.url == nil {
            try await register(client)
        }
        // A CA that forgot the account (a reset, a wiped staging) gets the same key registered again.
        await client.setAccountRecovery(register)
        return client
    }

    /// The issuer's stored account (to be registered again where its server changed), or a new
    /// key, saved before it is registered so that it is never lost.
    private static func stored(for issuer: Issuer, in store: any AccountStore, logger: Logger) async throws
        -> StoredAccount
    {
        if var account = try await store.load(for: issuer) {
            if account.server != issuer.server {
                logger.info(
                    "the issuer's server changed; registering the account key there",
                    metadata: ["issuer": "\(issuer.name)"])
                account.url = nil
                account.server = issuer.server
            }
            return account
        }
        let account = StoredAccount(key: try AccountKey(generating: .ecdsaP256), url: nil, server: issuer.server)
        try await store.save(account, for: issuer)
        logger.info(
            "created an ACME account key",
            metadata: ["issuer": "\(issuer.name)", "secret": "\(issuer.accountKeySecret)"])
        return account
    }

    /// A rollover killed between its two writes left the new key beside the old one. The CA
    /// says which one the account has now (a lookup by the new key, RFC 8555 §7.3.1
    /// `onlyReturnExisting`): that one stays, the other goes.
    static func settled(
        _ account: StoredAccount, issuer: Issuer, store: any AccountStore, transport: any HTTPTransport,
        logger: Logger, saving: Bool = true
    ) async throws -> StoredAccount {
        guard let next = account.nextKey, let url = account.url else { return account }
        let probe = issuer.client(key: next, url: nil, transport: transport, logger: logger)
        var settled = account
        if let found = try await probe.lookUpAccount(), found.url == url {
            settled.key = next
            logger.notice(
                "finished an account key rollover a killed process left: the CA has the new key",
                metadata: ["issuer": "\(issuer.name)", "account": "\(url)"])
        } else {
            logger.notice(
                "an account key rollover a killed process left never reached the CA: the old key stays",
                metadata: ["issuer": "\(issuer.name)", "account": "\(url)"])
        }
        settled.nextKey = nil
        if saving { try await store.save(settled, for: issuer) }
        return settled
    }
}
