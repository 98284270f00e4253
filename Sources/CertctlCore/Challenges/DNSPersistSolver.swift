public import ACME
import Basics
import DNS
public import Foundation
public import Logging
import Synchronization

/// The earliest `persistUntil` of the dns-persist-01 records that authorized one certificate's
/// names: the store stage records it, status and the alert rule warn before it comes.
public final class PersistDeadlines: Sendable {
    private let earliestTime = Mutex<Date?>(nil)

    public init() {}

    public var earliest: Date? { earliestTime.withLock { $0 } }

    func note(_ date: Date) {
        earliestTime.withLock { $0 = $0.map { min($0, date) } ?? date }
    }
}

/// dns-persist-01 (draft-ietf-acme-dns-persist): the CA validates a TXT record the operator
/// published once at `_validation-persist.<domain>`, naming the CA and this account, so no DNS
/// credentials are needed at all. Before answering, certctl reads the record itself (on each
/// `--dns01-check-nameserver`, else through the resolver); a record that is missing or does not
/// fit fails the certificate with the exact record to publish.
public struct DNSPersistSolver: ChallengeSolver {
    public let configuration: Issuer.DNSPersist01Solver
    /// Where the issuer came from, for messages.
    public let issuer: String
    public let checkServers: [String]?
    public let logger: Logger
    public var resolvConf = "/etc/resolv.conf"
    /// Told the `persistUntil` of each record that authorized a name.
    public var deadlines: PersistDeadlines?

    public init(
        configuration: Issuer.DNSPersist01Solver, issuer: String, checkServers: [String]?, logger: Logger,
        deadlines: PersistDeadlines? = nil
    ) {
        self.configuration = configuration
        self.issuer = issuer
        self.checkServers = checkServers
        self.logger = logger
        self.deadlines = deadlines
    }

    public var challengeType: String { "dns-persist-01" }

    public func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        throw CertctlError(.challenge, object: identifier.value, "dns-persist-01 needs the whole challenge")
    }

    /// Nothing was written: the record stays, as the method intends.
    public func cleanUp(identifier: ACMEIdentifier, token: String) async {}

    public func present(
        _ challenge: ACMEChallenge, identifier: ACMEIdentifier, wildcard: Bool, account: ChallengeAccount
    )
        async throws
    {
        let domain = (wildcard ? "*." : "") + identifier.value
        let names = challenge.issuerDomainNames ?? []
        // Draft §3.1: an empty list or more than 10 names make the challenge malformed.
        guard (1...10).contains(names.count), let issuerName = names.first,
            let accountURL = challenge.accountURI ?? account.url
        else {
            throw CertctlError(
                .challenge, object: domain,
                "the CA's dns-persist-01 challenge lists \(names.count) issuer domain names (1 to 10 allowed); it cannot be answered"
            )
        }
        let wanted = DNSPersistRecord(issuerDomainName: issuerName, accountURI: accountURL, wildcard: wildcard)
        let name = DNSPersistRecord.name(for: domain)
        var missing: [String] = []
        for server in try servers() {
            let answer: DNSMessage
            do {
                answer = try await server.query(name, .txt)
            } catch {
                missing.append("\(server.server) (\(error))")
                continue
            }
            let records = answer.answers.filter { $0.type == .txt }.compactMap(\.txtValue)
                .compactMap(DNSPersistRecord.init(parsing:))
            let now = Bounded.int(Date().timeIntervalSince1970)
            let authorizing = records.filter {
                $0.authorizes(account: accountURL, issuerDomainNames: names, wildcard: wildcard, now: now)
            }
            if authorizing.isEmpty {
                missing.append(server.server)
            } else if authorizing.allSatisfy({ $0.persistUntil != nil }),
                let until = authorizing.compactMap(\.persistUntil).max()
            {
                // The record that lasts longest is the one that counts.
                deadlines?.note(Bounded.date(secondsSince1970: until))
            }
        }
        guard missing.isEmpty else {
            throw CertctlError(
                .challenge, object: name,
                "no dns-persist-01 record for this CA and account (seen on \(missing.joined(separator: ", "))); publish once:\n  \(wanted.zoneLine(for: domain))\n(certctl dns-persist-record --issuer NAME -d \(domain) prints it)"
            )
        }
        logger.info("the dns-persist-01 record is published", metadata: ["name": "\(name)"])
    }

    private func servers() throws -> [DNSClient] {
        if let checkServers { return try checkServers.map { try DNSClient(parsing: $0) } }
        if let named = configuration.resolver {
            var resolver = try DNSClient(parsing: named)
            resolver.recursionDesired = true
            return [resolver]
        }
        let text = (try? String(contentsOfFile: resolvConf, encoding: .utf8)) ?? ""
        guard let resolver = DNSClient.resolver(fromResolvConf: text) else {
            throw CertctlError(
                .challenge, object: issuer,
                "its dnsPersist01 solver names no resolver and \(resolvConf) has none; set dnsPersist01.resolver")
        }
        return [resolver]
    }
}
