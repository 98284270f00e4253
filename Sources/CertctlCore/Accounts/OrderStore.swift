public import Certificates
import Crypto
public import Foundation
public import Kubernetes

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An order about to be finalized: what a later run needs to download its certificate instead
/// of ordering again (README, "Killed runs"). It belongs to the issuer's account and is kept
/// beside the account key, where only the job reads: the certificate key is in it.
public struct OrderInFlight: Sendable {
    /// The certificate's Secret, `namespace/name`.
    public var certificate: String
    public var issuer: String
    /// The account the order was placed with; another account cannot read it.
    public var account: String?
    public var orderURL: String
    public var names: [String]
    public var profile: String?
    /// The ARI certificate ID the order replaces.
    public var replaces: String?
    public var key: PrivateKey
    /// When it was kept (orders expire: Let's Encrypt's after 7 days).
    public var since: Date

    public init(
        certificate: String, issuer: String, account: String?, orderURL: String, names: [String], profile: String?,
        replaces: String?, key: PrivateKey, since: Date
    ) {
        self.certificate = certificate
        self.issuer = issuer
        self.account = account
        self.orderURL = orderURL
        self.names = names
        self.profile = profile
        self.replaces = replaces
        self.key = key
        self.since = since
    }

    private struct Stored: Codable {
        var certificate: String
        var issuer: String
        var account: String?
        var order: String
        var names: [String]
        var profile: String?
        var replaces: String?
        var key: String
        var since: String
    }

    /// The JSON kept for it.
    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(
            Stored(
                certificate: certificate, issuer: issuer, account: account, order: orderURL, names: names,
                profile: profile, replaces: replaces, key: try key.pemRepresentation(),
                since: RenewalRecord.format(since)))
    }

    /// Reads it back; `source` names where it came from in the error.
    static func decode(_ data: Data, source: String) throws -> OrderInFlight {
        do {
            let stored = try JSONDecoder().decode(Stored.self, from: data)
            return OrderInFlight(
                certificate: stored.certificate, issuer: stored.issuer, account: stored.account,
                orderURL: stored.order, names: stored.names, profile: stored.profile, replaces: stored.replaces,
                key: try PrivateKey(pem: stored.key), since: RenewalRecord.parseDate(stored.since) ?? .distantPast)
        } catch {
            throw CertctlError(
                .io, object: source,
                "holds an unreadable order in flight (\(error)); remove it (the certificate is ordered anew)")
        }
    }

    /// The name it is kept under: one per certificate, safe as a file name and a data key.
    static func key(for certificate: String) -> String {
        let digest = SHA256.hash(data: Array(certificate.utf8)).prefix(10).map { String(format: "%02x", $0) }
        return "order-\(digest.joined()).json"
    }
}

/// Where orders in flight are kept, per issuer account.
public protocol OrderStore: OrderReader {
    func save(_ order: OrderInFlight, for issuer: Issuer) async throws
    /// Forgets the order of `certificate` (its certificate is stored, or the order is void).
    func remove(certificate: String, for issuer: Issuer) async throws
}

/// The orders kept, read only: what the issue stage sees of them (the store stage keeps and
/// forgets them, ``KeptOrderWriter``).
public protocol OrderReader: Sendable {
    /// The orders in flight on `issuer`'s account, by certificate (`namespace/name`); the
    /// unreadable ones are left out and named in `problems`.
    func orders(for issuer: Issuer) async throws -> (orders: [String: OrderInFlight], problems: [String])
}

/// In a cluster: a data key `order-<hash>.json` of the account's Secret (`privateKeySecretRef`
/// in certctl's namespace, a namespaced `Issuer`'s in its own), added and removed by merge
/// patches that touch that key alone.
public struct SecretOrderStore: OrderStore {
    public let client: KubernetesClient
    public let namespace: String

    public init(client: KubernetesClient, namespace: String) {
        self.client = client
        self.namespace = namespace
    }

    public func orders(for issuer: Issuer) async throws -> (orders: [String: OrderInFlight], problems: [String]) {
        let namespace = issuer.namespace ?? namespace
        let secret: Secret
        do {
            secret = try await client.get(Secret.self, namespace: namespace, name: issuer.accountKeySecret)
        } catch let error as KubernetesError where error.isNotFound {
            return ([:], [])
        }
        var orders: [String: OrderInFlight] = [:]
        var problems: [String] = []
        for (key, value) in secret.data ?? [:] where key.hasPrefix("order-") && key.hasSuffix(".json") {
            do {
                let order = try OrderInFlight.decode(
                    value, source: "Secret \(namespace)/\(issuer.accountKeySecret) key \(key)")
                orders[order.certificate] = order
            } catch {
                problems.append("\(error)")
            }
        }
        return (orders, problems)
    }

    public func save(_ order: OrderInFlight, for issuer: Issuer) async throws {
        try await change(OrderInFlight.key(for: order.certificate), to: try order.encoded(), for: issuer)
    }

    public func remove(certificate: String, for issuer: Issuer) async throws {
        try await change(OrderInFlight.key(for: certificate), to: nil, for: issuer)
    }

    private func change(_ key: String, to value: Data?, for issuer: Issuer) async throws {
        // No precondition: concurrent orders change distinct keys, and a merge patch changes
        // only the key it names.
        var patch = SecretPatch(resourceVersion: nil)
        patch.data = [key: value]
        _ = try await client.mergePatch(
            Secret.self, namespace: issuer.namespace ?? namespace, name: issuer.accountKeySecret,
            patch: patch.mergePatch)
    }
}

/// Locally: `STATE/accounts/<privateKeySecretRef>/orders/order-<hash>.json` (0600).
public struct LocalOrderStore: OrderStore {
    public let directory: String

    public init(stateDirectory: String) {
        directory = (stateDirectory as NSString).appendingPathComponent("accounts")
    }

    private func folder(_ issuer: Issuer) -> String {
        ((directory as NSString).appendingPathComponent(issuer.accountKeySecret) as NSString)
            .appendingPathComponent("orders")
    }

    public func orders(for issuer: Issuer) async throws -> (orders: [String: OrderInFlight], problems: [String]) {
        let folder = folder(issuer)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var orders: [String: OrderInFlight] = [:]
        var problems: [String] = []
        for name in names where name.hasPrefix("order-") && name.hasSuffix(".json") {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let bytes = AtomicFile.read(path) else { continue }
            do {
                let order = try OrderInFlight.decode(Data(bytes), source: path)
                orders[order.certificate] = order
            } catch {
                problems.append("\(error)")
            }
        }
        return (orders, problems)
    }

    public func save(_ order: OrderInFlight, for issuer: Issuer) async throws {
        let path = (folder(issuer) as NSString).appendingPathComponent(OrderInFlight.key(for: order.certificate))
        try AtomicFile.write(Array(try order.encoded()), to: path, mode: 0o600)
    }

    public func remove(certificate: String, for issuer: Issuer) async throws {
        let path = (folder(issuer) as NSString).appendingPathComponent(OrderInFlight.key(for: certificate))
        guard unlink(path) == 0 || errno == ENOENT else {
            throw CertctlError(
                .io, object: path, "cannot remove the order in flight: \(String(cString: strerror(errno)))")
        }
    }
}
