import ACME
import Certificates
public import Logging
public import Transport

/// The operator's account commands (README "Accounts"): what the account is, its key rolled
/// over (RFC 8555 §7.3.5), the account deactivated (§7.3.6). The CLI runs them under the run's
/// lock, so that no run signs with a key being replaced.
public struct AccountAdministration: Sendable {
    public let issuer: Issuer
    public let place: AccountPlace
    public let transport: any HTTPTransport
    public let logger: Logger

    public init(issuer: Issuer, place: AccountPlace, transport: any HTTPTransport, logger: Logger) {
        self.issuer = issuer
        self.place = place
        self.transport = transport
        self.logger = logger
    }

    /// The account as the CA has it, and what certctl keeps beside it.
    public struct Summary: Sendable, Equatable {
        public var issuer: String
        public var server: String
        public var url: String
        public var status: String
        public var contact: [String]
        public var keyAlgorithm: String
        public var keyThumbprint: String
        /// When the CA says the account was made (Boulder's and Pebble's `createdAt`), if it says.
        public var createdAt: String?
        /// The certificates (`namespace/secret`) whose orders in flight are kept beside the key.
        public var ordersInFlight: [String]
    }

    /// The stored account as the CA has it now; an issuer without a registered account is an
    /// error (a run registers one).
    public func show() async throws -> Summary {
        // Read only: it holds no lock, so it never writes the account back.
        let account = try await registered(saving: false)
        let object = try await client(account).fetchAccount()
        let kept = try await place.orders.orders(for: issuer).orders.keys.sorted()
        return Summary(
            issuer: issuer.name, server: issuer.server, url: object.url, status: object.status,
            contact: object.contact ?? [], keyAlgorithm: account.key.algorithm,
            keyThumbprint: account.key.thumbprint, createdAt: object.createdAt, ordersInFlight: kept)
    }

    /// A new key for the same account URL (dns-persist-01 records naming it stay valid). The new
    /// key is stored beside the old one first; the CA's key change; then the old one removed. A
    /// process killed between the two writes leaves both, and the next use of the account asks
    /// the CA which one it has (``AccountSession``).
    public func rollOver() async throws -> (url: String, oldThumbprint: String, newThumbprint: String) {
        var account = try await registered()
        let newKey = try AccountKey(generating: .ecdsaP256)
        account.nextKey = newKey
        try await place.accounts.save(account, for: issuer)
        let url = account.url ?? ""
        try await client(account).rollOver(to: newKey)
        logger.notice(
            "the CA moved the account to the new key", metadata: ["issuer": "\(issuer.name)", "account": "\(url)"])
        let old = account.key.thumbprint
        account.key = newKey
        account.nextKey = nil
        try await place.accounts.save(account, for: issuer)
        return (url, old, newKey.thumbprint)
    }

    /// Deactivates the account for good; its key stays stored (the CA refuses it from now on).
    public func deactivate() async throws -> Summary {
        let account = try await registered()
        let object = try await client(account).deactivateAccount()
        return Summary(
            issuer: issuer.name, server: issuer.server, url: object.url, status: object.status,
            contact: object.contact ?? [], keyAlgorithm: account.key.algorithm,
            keyThumbprint: account.key.thumbprint, createdAt: object.createdAt, ordersInFlight: [])
    }

    /// The stored, registered account (a rollover a killed process left unfinished settled
    /// first, and saved so when `saving`: under the run's lock only).
    private func registered(saving: Bool = true) async throws -> StoredAccount {
        guard let stored = try await place.accounts.load(for: issuer), stored.url != nil,
            stored.server == issuer.server
        else {
            throw CertctlError(
                .invalidArgument, object: "issuer \(issuer.name)",
                "has no ACME account at \(issuer.server) yet (its key lives in \(issuer.accountKeySecret)); a run registers one"
            )
        }
        return try await AccountSession.settled(
            stored, issuer: issuer, store: place.accounts, transport: transport, logger: logger, saving: saving)
    }

    private func client(_ account: StoredAccount) -> ACMEClient {
        issuer.client(key: account.key, url: account.url, transport: transport, logger: logger)
    }
}
