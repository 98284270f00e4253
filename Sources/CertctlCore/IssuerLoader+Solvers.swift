import Basics
import Certificates
import DNS
import Foundation
import Kubernetes

/// The solvers of an issuer's `spec.acme.solvers`, as cert-manager spells them.
extension IssuerLoader {
    /// `http01.gatewayHTTPRoute` (`parentRefs`, `labels`, `serviceType`).
    static func gatewayHTTPRoute(_ route: [String: Any], fail: (String) -> CertctlError) throws
        -> Issuer.HTTP01Solver
    {
        if let type = route["serviceType"] as? String, !["ClusterIP", "NodePort"].contains(type) {
            throw fail(".http01.gatewayHTTPRoute.serviceType \"\(type)\" is not ClusterIP or NodePort")
        }
        var parents: [HTTPRoute.ParentReference] = []
        for (index, value) in ((route["parentRefs"] as? [Any]) ?? []).enumerated() {
            guard let ref = value as? [String: Any], let name = ref["name"] as? String, !name.isEmpty else {
                throw fail(".http01.gatewayHTTPRoute.parentRefs[\(index)] names no Gateway (name)")
            }
            parents.append(
                HTTPRoute.ParentReference(
                    group: ref["group"] as? String, kind: ref["kind"] as? String, name: name,
                    namespace: ref["namespace"] as? String, sectionName: ref["sectionName"] as? String,
                    port: ref["port"] as? Int))
        }
        let labels = ((route["labels"] as? [String: Any]) ?? [:]).compactMapValues { $0 as? String }
        return Issuer.HTTP01Solver(
            serviceType: route["serviceType"] as? String,
            gatewayHTTPRoute: Issuer.GatewayHTTPRoute(parentRefs: parents, labels: labels))
    }

    static func parseSolver(_ solver: [String: Any], field: String, object named: String) throws
        -> Issuer.Solver
    {
        func fail(_ reason: String) -> CertctlError {
            CertctlError(.invalidIssuer, object: named, "\(field)\(reason)")
        }
        let selector = Self.selector((solver["selector"] as? [String: Any]) ?? [:])
        if let http01 = solver["http01"] as? [String: Any] {
            return Issuer.Solver(selector: selector, method: .http01(try Self.http01(http01, fail: fail)))
        }
        if let persist = solver["dnsPersist01"] as? [String: Any] {
            let resolver = persist["resolver"] as? String
            if let resolver, (try? DNSClient(parsing: resolver)) == nil {
                throw fail(".dnsPersist01.resolver \"\(resolver)\" is not host or host:port")
            }
            return Issuer.Solver(selector: selector, method: .dnsPersist01(.init(resolver: resolver)))
        }
        guard let dns01 = solver["dns01"] as? [String: Any] else {
            throw fail(" has none of http01, dns01, dnsPersist01")
        }
        let strategy = (dns01["cnameStrategy"] as? String) ?? "None"
        guard ["None", "Follow"].contains(strategy) else {
            throw fail(".dns01.cnameStrategy \"\(strategy)\" is not None or Follow")
        }
        let provider: Issuer.DNS01Solver.Provider
        if let exec = dns01["exec"] as? [String: Any] {
            provider = .exec(try Self.exec(exec, fail: fail))
        } else if let rfc2136 = dns01["rfc2136"] as? [String: Any] {
            provider = .rfc2136(try Self.rfc2136(rfc2136, fail: fail))
        } else {
            let providers = dns01.keys.filter { $0 != "cnameStrategy" }.sorted().joined(separator: ", ")
            throw fail(
                ".dns01 uses \(providers.isEmpty ? "no provider" : providers), which certctl does not speak; use rfc2136 (dynamic updates with a TSIG key, which most DNS servers and services take) or exec (a program of yours)"
            )
        }
        return Issuer.Solver(
            selector: selector, method: .dns01(.init(provider: provider, followCNAME: strategy == "Follow")))
    }

    /// A solver's `selector`: the names, zones and labels it is for.
    static func selector(_ object: [String: Any]) -> Issuer.Solver.Selector {
        var selector = Issuer.Solver.Selector()
        selector.dnsNames = ((object["dnsNames"] as? [Any]) ?? []).compactMap { ($0 as? String)?.lowercased() }
        selector.dnsZones = ((object["dnsZones"] as? [Any]) ?? []).compactMap {
            ($0 as? String)?.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        }
        selector.matchLabels = ((object["matchLabels"] as? [String: Any]) ?? [:]).compactMapValues { $0 as? String }
        return selector
    }

    /// `http01`: a solver Ingress (its class and Service type), or a Gateway API HTTPRoute.
    static func http01(_ http01: [String: Any], fail: (String) -> CertctlError) throws -> Issuer.HTTP01Solver {
        if let route = http01["gatewayHTTPRoute"] as? [String: Any] {
            return try gatewayHTTPRoute(route, fail: fail)
        }
        let ingress = (http01["ingress"] as? [String: Any]) ?? [:]
        if let type = ingress["serviceType"] as? String, !["ClusterIP", "NodePort"].contains(type) {
            throw fail(".http01.ingress.serviceType \"\(type)\" is not ClusterIP or NodePort (cert-manager's two)")
        }
        if ingress["class"] != nil, ingress["ingressClassName"] != nil {
            throw fail(
                ".http01.ingress sets both class and ingressClassName; keep one (ingressClassName, unless the controller reads only the legacy annotation)"
            )
        }
        return Issuer.HTTP01Solver(
            ingressClass: ingress["class"] as? String, ingressClassName: ingress["ingressClassName"] as? String,
            serviceType: ingress["serviceType"] as? String)
    }

    /// `dns01.exec`: a program of the operator's that sets and removes the record.
    static func exec(_ exec: [String: Any], fail: (String) -> CertctlError) throws
        -> Issuer.DNS01Solver.Exec
    {
        guard let command = exec["command"] as? String, !command.isEmpty else {
            throw fail(".dns01.exec.command is missing; give the program to run (present|cleanup FQDN VALUE)")
        }
        let arguments = ((exec["args"] as? [Any]) ?? []).map { "\($0)" }
        let seconds = (exec["timeout"] as? Int) ?? 60
        guard (1...600).contains(seconds) else {
            throw fail(".dns01.exec.timeout \(seconds) is not 1 to 600 seconds")
        }
        let resolver = exec["resolver"] as? String
        if let resolver, (try? DNSClient(parsing: resolver)) == nil {
            throw fail(".dns01.exec.resolver \"\(resolver)\" is not host or host:port")
        }
        return Issuer.DNS01Solver.Exec(
            command: command, arguments: arguments, timeout: .seconds(seconds), resolver: resolver)
    }

    /// `dns01.rfc2136`: dynamic updates (RFC 2136) to the primary, signed with TSIG or not at all.
    static func rfc2136(_ rfc2136: [String: Any], fail: (String) -> CertctlError) throws
        -> Issuer.DNS01Solver.RFC2136
    {
        guard let nameserver = rfc2136["nameserver"] as? String, !nameserver.isEmpty else {
            throw fail(".dns01.rfc2136.nameserver is missing; give the primary server as host:port")
        }
        guard (try? DNSClient(parsing: nameserver)) != nil else {
            throw fail(".dns01.rfc2136.nameserver \"\(nameserver)\" is not host or host:port")
        }
        let algorithm = (rfc2136["tsigAlgorithm"] as? String) ?? "HMACSHA256"
        guard TSIGKey.Algorithm(name: algorithm) != nil else {
            throw fail(
                ".dns01.rfc2136.tsigAlgorithm \"\(algorithm)\" is not supported; use HMACSHA256, HMACSHA512 or HMACSHA1"
            )
        }
        let keyName = rfc2136["tsigKeyName"] as? String
        var secret: Issuer.SecretKeyReference?
        if let reference = rfc2136["tsigSecretSecretRef"] as? [String: Any] {
            guard let name = reference["name"] as? String, let key = reference["key"] as? String else {
                throw fail(".dns01.rfc2136.tsigSecretSecretRef needs name and key")
            }
            secret = .init(name: name, key: key)
        }
        guard (keyName == nil) == (secret == nil) else {
            throw fail(".dns01.rfc2136 needs both tsigKeyName and tsigSecretSecretRef, or neither (an unsigned update)")
        }
        return Issuer.DNS01Solver.RFC2136(
            nameserver: nameserver, tsigKeyName: keyName, tsigAlgorithm: algorithm, tsigSecret: secret)
    }
}
