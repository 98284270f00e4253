public import ACME

/// One certificate's solvers: each name to the one the issuer selects for it (HTTP-01 through
/// `http01`, DNS-01 through one RFC 2136 solver per configuration).
public struct CertificateSolver: RoutingChallengeSolver {
    let routes: [String: any ChallengeSolver]
    let fallback: any ChallengeSolver

    public func route(_ identifier: ACMEIdentifier, wildcard: Bool) -> any ChallengeSolver {
        routes[(wildcard ? "*." : "") + identifier.value] ?? fallback
    }

    /// The solver for `desired`: `http01` alone when every name is HTTP-01, else a router.
    public static func make(
        _ desired: DesiredCertificate, issuer: Issuer, http01: any ChallengeSolver,
        dns01: (Issuer.DNS01Solver) -> any ChallengeSolver,
        dnsPersist01: (Issuer.DNSPersist01Solver) -> any ChallengeSolver
    ) -> any ChallengeSolver {
        var routes: [String: any ChallengeSolver] = [:]
        var made: [Issuer.Solver.Method: any ChallengeSolver] = [:]
        for host in desired.hosts {
            guard let method = issuer.solver(for: host, labels: desired.labels)?.method else { continue }
            let solver: any ChallengeSolver
            switch method {
            case .http01: continue
            case .dns01(let configuration): solver = made[method] ?? dns01(configuration)
            case .dnsPersist01(let configuration): solver = made[method] ?? dnsPersist01(configuration)
            }
            made[method] = solver
            routes[host] = solver
        }
        return routes.isEmpty ? http01 : CertificateSolver(routes: routes, fallback: http01)
    }
}
