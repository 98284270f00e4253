public import ACME
import DNS
import Foundation
public import Logging
import Synchronization

/// DNS-01 (RFC 8555 §8.4) through RFC 2136 dynamic updates signed with TSIG, cert-manager's
/// `dns01.rfc2136`: adds the `_acme-challenge` TXT record (where its CNAME points, with
/// `cnameStrategy: Follow`) in the zone the server is authoritative for, waits until every
/// authoritative server answers it, and deletes exactly that record afterwards, also on failure
/// and cancellation.
public struct RFC2136Solver: ChallengeSolver {
    public let configuration: Issuer.DNS01Solver
    /// Where the issuer came from, for messages.
    public let issuer: String
    public let secrets: any SecretValueSource
    /// The servers to see the record on before the CA is told; nil: the zone's NS, on port 53.
    public let checkServers: [String]?
    /// How long every server may take to answer the record.
    public let propagationTimeout: Duration
    public let logger: Logger
    private let added = Added()

    private final class Added: Sendable {
        let records = Mutex<[String: (update: DynamicUpdate, zone: String, record: DNSRecord)]>([:])
    }

    public init(
        configuration: Issuer.DNS01Solver, issuer: String, secrets: any SecretValueSource, checkServers: [String]?,
        propagationTimeout: Duration = .seconds(120), logger: Logger
    ) {
        self.configuration = configuration
        self.issuer = issuer
        self.secrets = secrets
        self.checkServers = checkServers
        self.propagationTimeout = propagationTimeout
        self.logger = logger
    }

    public var challengeType: String { "dns-01" }

    private func updater() async throws -> DynamicUpdate {
        let settings = configuration.rfc2136
        let client = try DNSClient(parsing: settings.nameserver)
        var key: TSIGKey?
        if let name = settings.tsigKeyName, let reference = settings.tsigSecret,
            let algorithm = TSIGKey.Algorithm(name: settings.tsigAlgorithm)
        {
            let text = String(decoding: try await secrets.value(of: reference), as: UTF8.self)
            guard let secret = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw CertctlError(
                    .challenge, object: "Secret \(reference.name) key \(reference.key)",
                    "is not a base64 TSIG secret (as in BIND's key statement); \(issuer) needs it for \(settings.nameserver)"
                )
            }
            key = TSIGKey(name: name, algorithm: algorithm, secret: Array(secret))
        }
        return DynamicUpdate(client: client, key: key, now: { UInt64(Date().timeIntervalSince1970) })
    }

    public func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        let update = try await updater()
        let value = dns01Value(keyAuthorization: keyAuthorization)
        var name = "_acme-challenge.\(identifier.value)"
        do {
            if configuration.followCNAME { name = try await update.followCNAMEs(name) }
            let zone = try await update.zone(of: name)
            let record = DNSRecord.txt(name, value, ttl: 60)
            try await update.add(record, zone: zone)
            added.records.withLock { $0[token] = (update, zone, record) }
            logger.info("added the DNS-01 record", metadata: ["name": "\(name)", "zone": "\(zone)"])
            var servers = try checkServers?.map { try DNSClient(parsing: $0) } ?? []
            if checkServers == nil { servers = try await update.authoritativeServers(of: zone) }
            try await waitForRecord(value, at: name, on: servers)
        } catch let error as DNSError {
            throw CertctlError(
                .challenge, object: name,
                "\(error); check spec.acme.solvers[].dns01.rfc2136 of \(issuer) (nameserver \(configuration.rfc2136.nameserver))"
            )
        }
    }

    /// Polls every server until each answers `value` (a propagation wait, not an ordering).
    private func waitForRecord(_ value: String, at name: String, on servers: [DNSClient]) async throws {
        let started = ContinuousClock.now
        while true {
            let missing = await DynamicUpdate.missing(value, at: name, on: servers)
            if missing.isEmpty {
                logger.info(
                    "every authoritative server answers the DNS-01 record",
                    metadata: ["name": "\(name)", "after": "\(ContinuousClock.now - started)"])
                return
            }
            guard ContinuousClock.now - started < propagationTimeout else {
                throw CertctlError(
                    .challenge, object: name,
                    "the TXT record is not answered by \(missing.joined(separator: ", ")) after \(propagationTimeout); check that these servers get the zone from \(configuration.rfc2136.nameserver)"
                )
            }
            try await Task.sleep(for: .seconds(1))
        }
    }

    public func cleanUp(identifier: ACMEIdentifier, token: String) async {
        guard let entry = added.records.withLock({ $0.removeValue(forKey: token) }) else { return }
        let logger = self.logger
        // In a task of its own: the record must go also when the run was cancelled (SIGTERM).
        await Task {
            do {
                try await entry.update.delete(entry.record, zone: entry.zone)
            } catch {
                logger.warning(
                    "cannot remove the DNS-01 record", metadata: ["name": "\(entry.record.name)", "error": "\(error)"])
            }
        }.value
    }
}

/// One certificate's solvers: each name to the one the issuer selects for it (HTTP-01 through
/// `http01`, DNS-01 through one RFC 2136 solver per configuration).
public struct CertificateSolver: RoutingChallengeSolver {
    let routes: [String: any ChallengeSolver]
    let fallback: any ChallengeSolver

    public func route(_ identifier: ACMEIdentifier, wildcard: Bool) -> any ChallengeSolver {
        routes[(wildcard ? "*." : "") + identifier.value] ?? fallback
    }

    /// The solver for `desired`, or nil when every name is HTTP-01 (then `http01` alone).
    public static func make(
        _ desired: DesiredCertificate, issuer: Issuer, http01: any ChallengeSolver,
        dns01: (Issuer.DNS01Solver) -> any ChallengeSolver
    ) -> any ChallengeSolver {
        var routes: [String: any ChallengeSolver] = [:]
        var made: [Issuer.DNS01Solver: any ChallengeSolver] = [:]
        for host in desired.hosts {
            guard case .dns01(let configuration) = issuer.solver(for: host, labels: desired.labels)?.method else {
                continue
            }
            let solver = made[configuration] ?? dns01(configuration)
            made[configuration] = solver
            routes[host] = solver
        }
        return routes.isEmpty ? http01 : CertificateSolver(routes: routes, fallback: http01)
    }
}
