public import ACME
import Foundation

/// An ACME account as certctl keeps it: the key, and the account URL once registered.
public struct StoredAccount: Sendable {
    public var key: AccountKey
    public var url: String?
    /// The directory URL the account belongs to; a different server means a new registration.
    public var server: String
    /// The key a rollover is moving the account to, stored beside the old one until the CA
    /// confirmed (then it replaces `key`); left by a rollover killed in between.
    public var nextKey: AccountKey?

    public init(key: AccountKey, url: String?, server: String, nextKey: AccountKey? = nil) {
        self.key = key
        self.url = url
        self.server = server
        self.nextKey = nextKey
    }
}

/// Where account keys live: a Secret named by `privateKeySecretRef` in a cluster, files locally.
public protocol AccountStore: Sendable {
    func load(for issuer: Issuer) async throws -> StoredAccount?
    func save(_ account: StoredAccount, for issuer: Issuer) async throws
}

/// Accounts under `STATE/accounts/<privateKeySecretRef>/`: `key.pem` (0600) and `account.json`,
/// and `next-key.pem` while a rollover is under way.
public struct LocalAccountStore: AccountStore {
    public let directory: String

    public init(stateDirectory: String) {
        directory = (stateDirectory as NSString).appendingPathComponent("accounts")
    }

    private struct Record: Codable {
        var url: String?
        var server: String
    }

    private func folder(_ issuer: Issuer) -> String {
        (directory as NSString).appendingPathComponent(issuer.accountKeySecret)
    }

    public func load(for issuer: Issuer) async throws -> StoredAccount? {
        let keyPath = (folder(issuer) as NSString).appendingPathComponent("key.pem")
        guard let pem = AtomicFile.read(keyPath) else { return nil }
        let key: AccountKey
        do {
            key = try AccountKey(pem: String(decoding: pem, as: UTF8.self))
        } catch {
            throw CertctlError(
                .io,
                object: keyPath,
                "the account key cannot be read (\(error)); restore it, or move it away to register a new account"
            )
        }
        let recordPath = (folder(issuer) as NSString).appendingPathComponent("account.json")
        let record = AtomicFile.read(recordPath).flatMap { try? JSONDecoder().decode(Record.self, from: Data($0)) }
        let nextPath = (folder(issuer) as NSString).appendingPathComponent("next-key.pem")
        let next = AtomicFile.read(nextPath).flatMap { try? AccountKey(pem: String(decoding: $0, as: UTF8.self)) }
        return StoredAccount(key: key, url: record?.url, server: record?.server ?? issuer.server, nextKey: next)
    }

    public func save(_ account: StoredAccount, for issuer: Issuer) async throws {
        let base = folder(issuer)
        try AtomicFile.write(account.key.pemRepresentation, to: (base as NSString).appendingPathComponent("key.pem"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let record = try encoder.encode(Record(url: account.url, server: account.server))
        try AtomicFile.write(Array(record), to: (base as NSString).appendingPathComponent("account.json"))
        let nextPath = (base as NSString).appendingPathComponent("next-key.pem")
        if let next = account.nextKey {
            try AtomicFile.write(next.pemRepresentation, to: nextPath)
        } else if FileManager.default.fileExists(atPath: nextPath) {
            try FileManager.default.removeItem(atPath: nextPath)
        }
    }
}
