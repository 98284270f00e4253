public import Foundation

/// A misconfigured object of one cluster: it makes no certificate, so only this shows it.
public struct ClusterProblem: Sendable, Equatable {
    public var cluster: String
    public var problem: ObjectProblem

    public init(cluster: String, problem: ObjectProblem) {
        self.cluster = cluster
        self.problem = problem
    }
}

/// What `status`, the exporter's page and its metrics show: every certificate, most urgent
/// first, and every object that is misconfigured.
public struct Overview: Sendable {
    public var certificates: [CertificateStatus]
    public var problems: [ClusterProblem]

    public init(certificates: [CertificateStatus], problems: [ClusterProblem] = []) {
        self.certificates = certificates
        self.problems = problems
    }

    /// One view over the inventories of several clusters.
    /// - Parameter ledgers: each cluster's rate ledgers by issuer (``RateLedgers/read(issuers:from:now:)``).
    public init(
        _ inventories: [Inventory], issuers: [IssuerKey: Issuer], ledgers: [String: [IssuerKey: RateLedger]] = [:],
        now: Date
    ) {
        certificates = CertificateStatus.merged(
            inventories.map {
                CertificateStatus.all(in: $0, issuers: issuers, ledgers: ledgers[$0.cluster] ?? [:], now: now)
            }, now: now)
        problems = inventories.flatMap { inventory in
            inventory.problems.map { ClusterProblem(cluster: inventory.cluster, problem: $0) }
        }
    }
}
