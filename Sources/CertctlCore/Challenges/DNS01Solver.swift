public import ACME
import Basics
import DNS
import Foundation
public import Logging
import Synchronization
import Transport

/// DNS-01 (RFC 8555 §8.4) as an issuer's `dns01` solver says: the `_acme-challenge` TXT record
/// (where its CNAME points, with `cnameStrategy: Follow`) added by an RFC 2136 update signed
/// with TSIG, or by the issuer's `exec` program; then a wait until every authoritative server
/// (or each `--dns01-check-nameserver`) answers it; afterwards exactly that record removed, also
/// on failure and cancellation.
public struct DNS01Solver: ChallengeSolver {
    public let configuration: Issuer.DNS01Solver
    /// Where the issuer came from, for messages.
    public let issuer: String
    public let secrets: any SecretValueSource
    /// The servers to see the record on before the CA is told; nil: the zone's NS, on port 53.
    public let checkServers: [String]?
    /// How long every server may take to answer the record.
    public let propagationTimeout: Duration
    public let logger: Logger
    /// The resolver an `exec` solver finds zones with when it names none.
    public var resolvConf = "/etc/resolv.conf"
    private let added = Added()

    /// What `present` added, so that `cleanUp` removes exactly it.
    private enum Published: Sendable {
        case update(DynamicUpdate, zone: String, record: DNSRecord)
        case exec(Issuer.DNS01Solver.Exec, name: String, value: String)
    }

    private final class Added: Sendable {
        let records = Mutex<[String: Published]>([:])
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

    /// The updater (RFC 2136), or the lookups of an `exec` solver (through a resolver).
    private func dns() async throws -> DynamicUpdate {
        let now: @Sendable () -> UInt64 = { UInt64(clamping: Bounded.int(Date().timeIntervalSince1970)) }
        switch configuration.provider {
        case .exec(let hook):
            var resolver: DNSClient
            if let named = hook.resolver {
                resolver = try DNSClient(parsing: named)
                resolver.recursionDesired = true
            } else {
                let text = (try? String(contentsOfFile: resolvConf, encoding: .utf8)) ?? ""
                guard let found = DNSClient.resolver(fromResolvConf: text) else {
                    throw CertctlError(
                        .challenge, object: issuer,
                        "its dns01.exec solver names no resolver and \(resolvConf) has none; set dns01.exec.resolver or --dns01-check-nameserver"
                    )
                }
                resolver = found
            }
            return DynamicUpdate(client: resolver, key: nil, now: now)
        case .rfc2136(let settings):
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
            return DynamicUpdate(client: client, key: key, now: now)
        }
    }

    public func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        let value = dns01Value(keyAuthorization: keyAuthorization)
        var name = "_acme-challenge.\(identifier.value)"
        do {
            let dns = try await dns()
            if configuration.followCNAME { name = try await dns.followCNAMEs(name) }
            var zone: String?
            switch configuration.provider {
            case .rfc2136:
                let found = try await dns.zone(of: name)
                let record = DNSRecord.txt(name, value, ttl: 60)
                try await dns.add(record, zone: found)
                added.records.withLock { $0[token] = .update(dns, zone: found, record: record) }
                zone = found
            case .exec(let hook):
                try await run(hook, "present", name: name, value: value)
                added.records.withLock { $0[token] = .exec(hook, name: name, value: value) }
            }
            logger.info("added the DNS-01 record", metadata: ["name": "\(name)", "by": "\(configuration.summary)"])
            var servers = try checkServers?.map { try DNSClient(parsing: $0) } ?? []
            if checkServers == nil {
                var found = zone ?? ""
                if zone == nil { found = try await dns.zone(of: name) }
                servers = try await dns.authoritativeServers(of: found)
            }
            try await waitForRecord(value, at: name, on: servers)
        } catch let error as DNSError {
            throw CertctlError(
                .challenge, object: name,
                "\(error); check spec.acme.solvers[].dns01 of \(issuer) (\(configuration.summary))"
            )
        }
    }

    /// Runs the hook: `command [args...] ACTION FQDN. VALUE`. What it writes to stderr goes to
    /// certctl's log only: a failure's message, which reaches the Secret's record, Events,
    /// notifications and the status page, says the exit status and where to look, never the
    /// text (a hook run with `set -x` prints its DNS API token there).
    private func run(_ hook: Issuer.DNS01Solver.Exec, _ action: String, name: String, value: String) async throws {
        let result: BoundedProcess.Result
        let object = "dns01.exec \(hook.command)"
        do {
            result = try await BoundedProcess.run(
                hook.command, arguments: hook.arguments + [action, "\(name).", value],
                environment: ProcessInfo.processInfo.environment, timeout: hook.timeout)
        } catch .cannotRun(let reason) {
            throw CertctlError(.challenge, object: object, "cannot run it (\(reason)); check \(issuer)")
        } catch .timedOut(let errors) {
            logHookOutput(hook, action, name: name, errors)
            throw CertctlError(
                .challenge, object: object,
                "\(action) \(name). did not finish within \(hook.timeout) and was stopped; its stderr is in certctl's log"
            )
        }
        guard result.status == 0 else {
            logHookOutput(hook, action, name: name, result.errorText)
            throw CertctlError(
                .challenge, object: object,
                "\(action) \(name). exited with status \(result.status); its stderr is in certctl's log")
        }
    }

    private func logHookOutput(_ hook: Issuer.DNS01Solver.Exec, _ action: String, name: String, _ errors: String) {
        guard !errors.isEmpty else { return }
        logger.error(
            "the dns01.exec hook failed; its stderr",
            metadata: ["hook": "\(hook.command)", "action": "\(action)", "name": "\(name).", "stderr": "\(errors)"])
    }

    /// Polls every server until each answers `value` (a propagation wait, not an ordering).
    private func waitForRecord(_ value: String, at name: String, on servers: [DNSClient]) async throws {
        WaitReport.waitingFor?("DNS servers to answer the TXT record \(name)")
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
                    "the TXT record is not answered by \(missing.joined(separator: ", ")) after \(propagationTimeout); check that these servers serve the zone \(configuration.summary) writes to"
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
                switch entry {
                case .update(let update, let zone, let record): try await update.delete(record, zone: zone)
                case .exec(let hook, let name, let value): try await run(hook, "cleanup", name: name, value: value)
                }
            } catch {
                logger.warning("cannot remove the DNS-01 record", metadata: ["error": "\(error)"])
            }
        }.value
    }
}
