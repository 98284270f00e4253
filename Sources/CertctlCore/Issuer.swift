public import ACME
import Basics
import Certificates
import Foundation
public import Kubernetes
public import Logging
public import Transport

/// An ACME issuer, read from a cert-manager `ClusterIssuer`/`Issuer` (`cert-manager.io/v1`, `spec.acme`).
public struct Issuer: Sendable {
    public struct SecretKeyReference: Sendable, Hashable {
        public var name: String
        public var key: String
        /// Where the Secret is: the namespace of a namespaced `Issuer` (it may read no other, as
        /// in cert-manager); nil for a cluster-wide issuer (certctl's own namespace).
        public var namespace: String?
    }

    public struct ExternalAccountBindingReference: Sendable, Equatable {
        public var keyID: String
        public var keySecret: SecretKeyReference
    }

    /// HTTP-01 through an Ingress (cert-manager's `solvers[].http01.ingress`).
    public struct HTTP01Solver: Sendable, Hashable {
        public var ingressClass: String?
        public var ingressClassName: String?
        public var serviceType: String?
        /// `http01.gatewayHTTPRoute`: the challenge through an HTTPRoute instead of an Ingress.
        public var gatewayHTTPRoute: GatewayHTTPRoute?

        public init(
            ingressClass: String? = nil, ingressClassName: String? = nil, serviceType: String? = nil,
            gatewayHTTPRoute: GatewayHTTPRoute? = nil
        ) {
            self.ingressClass = ingressClass
            self.ingressClassName = ingressClassName
            self.serviceType = serviceType
            self.gatewayHTTPRoute = gatewayHTTPRoute
        }
    }

    /// cert-manager's `http01.gatewayHTTPRoute`: the Gateways (or ListenerSets) the solver's
    /// HTTPRoute attaches to (none: the object the certificate came from), its extra labels.
    public struct GatewayHTTPRoute: Sendable, Hashable {
        public var parentRefs: [HTTPRoute.ParentReference]
        public var labels: [String: String]

        public init(parentRefs: [HTTPRoute.ParentReference] = [], labels: [String: String] = [:]) {
            self.parentRefs = parentRefs
            self.labels = labels
        }
    }

    /// DNS-01 (cert-manager's `solvers[].dns01`): where the TXT record is written.
    public struct DNS01Solver: Sendable, Hashable {
        /// RFC 2136 dynamic updates (cert-manager's `dns01.rfc2136`).
        public struct RFC2136: Sendable, Hashable {
            /// `host:port` of the primary server that takes updates.
            public var nameserver: String
            public var tsigKeyName: String?
            /// `HMACSHA256` (default), `HMACSHA512`, `HMACSHA1`.
            public var tsigAlgorithm: String
            /// The Secret key holding the TSIG secret, base64 as in BIND's `key` statement.
            public var tsigSecret: SecretKeyReference?

            public init(
                nameserver: String, tsigKeyName: String?, tsigAlgorithm: String = "HMACSHA256",
                tsigSecret: SecretKeyReference?
            ) {
                self.nameserver = nameserver
                self.tsigKeyName = tsigKeyName
                self.tsigAlgorithm = tsigAlgorithm
                self.tsigSecret = tsigSecret
            }
        }

        /// Any other DNS service through a program (like lego's `exec` provider): run as
        /// `command [args...] present|cleanup FQDN. VALUE`; exit 0 means done.
        public struct Exec: Sendable, Hashable {
            public var command: String
            public var arguments: [String]
            public var timeout: Duration
            /// A resolver to find the zone and its servers with (default: /etc/resolv.conf's).
            public var resolver: String?

            public init(command: String, arguments: [String] = [], timeout: Duration = .seconds(60), resolver: String?)
            {
                self.command = command
                self.arguments = arguments
                self.timeout = timeout
                self.resolver = resolver
            }
        }

        public enum Provider: Sendable, Hashable {
            case rfc2136(RFC2136)
            case exec(Exec)
        }

        public var provider: Provider
        /// `cnameStrategy: Follow`: write the record where `_acme-challenge` points.
        public var followCNAME: Bool

        public init(provider: Provider, followCNAME: Bool = false) {
            self.provider = provider
            self.followCNAME = followCNAME
        }

        /// `rfc2136 SERVER` or `exec COMMAND`, for tables and messages.
        public var summary: String {
            switch provider {
            case .rfc2136(let settings): "rfc2136 \(settings.nameserver)"
            case .exec(let hook): "exec \(hook.command)"
            }
        }
    }

    /// certctl's `dnsPersist01` solver (draft-ietf-acme-dns-persist): nothing is written per
    /// challenge; the persistent `_validation-persist` record the operator published once is
    /// checked, then the challenge answered.
    public struct DNSPersist01Solver: Sendable, Hashable {
        /// The resolver to read the record with (default: /etc/resolv.conf's).
        public var resolver: String?

        public init(resolver: String? = nil) {
            self.resolver = resolver
        }
    }

    /// One of `spec.acme.solvers[]`: which names it is for, and how it solves them.
    public struct Solver: Sendable, Equatable {
        /// cert-manager's `selector`: all empty matches every name.
        public struct Selector: Sendable, Equatable {
            public var dnsNames: [String] = []
            public var dnsZones: [String] = []
            public var matchLabels: [String: String] = [:]

            public init(dnsNames: [String] = [], dnsZones: [String] = [], matchLabels: [String: String] = [:]) {
                self.dnsNames = dnsNames
                self.dnsZones = dnsZones
                self.matchLabels = matchLabels
            }
        }

        public enum Method: Sendable, Hashable {
            case http01(HTTP01Solver)
            case dns01(DNS01Solver)
            case dnsPersist01(DNSPersist01Solver)

            public var challengeType: String {
                switch self {
                case .http01: "http-01"
                case .dns01: "dns-01"
                case .dnsPersist01: "dns-persist-01"
                }
            }
        }

        public var selector: Selector
        public var method: Method

        public init(selector: Selector = Selector(), method: Method) {
            self.selector = selector
            self.method = method
        }

        public var http01: HTTP01Solver? {
            if case .http01(let solver) = method { return solver }
            return nil
        }
    }

    public var name: String
    public var kind: String
    /// The namespace of a namespaced `Issuer` read from the cluster: it serves only that
    /// namespace's objects, and its account and the Secrets it names live there. nil for a
    /// cluster-wide issuer (a `ClusterIssuer`, every file of `--issuers`).
    public private(set) var namespace: String?
    /// Where it was read from, for messages.
    public var source: String
    public var server: String
    public var email: String?
    /// The Secret that holds the account key (`privateKeySecretRef.name`).
    public var accountKeySecret: String
    public var externalAccountBinding: ExternalAccountBindingReference?
    public var preferredChain: String?
    public var profile: String?
    /// PEM of the CAs that sign the ACME server's TLS certificate (from base64 `caBundle`).
    public var caBundle: [UInt8]?
    public var solvers: [Solver]
    /// `certctl.io/fallback-issuers` as written: the issuers to fall back to, in order, when this
    /// one's CA cannot issue a certificate that has no time left to wait (README, "When the CA
    /// fails").
    public var fallbackReferences: [FallbackReference] = []
    /// Those references that name a defined issuer, linked by ``IssuerLoader/linkFallbacks(_:)``.
    public var fallback: [IssuerKey] = []
    /// Its CA's limits on this account's orders, which the run's budget keeps to (README, "When
    /// the CA fails"): `certctl.io/rate-limits`, else Let's Encrypt's own for its two directories,
    /// else none.
    public var rateLimits: RateLimits = .none

    /// One entry of `certctl.io/fallback-issuers`: `NAME` (an issuer of this one's scope: cluster-wide
    /// for a ClusterIssuer or a file, this namespace's `Issuer` for an `Issuer`) or
    /// `ClusterIssuer/NAME` (cluster-wide, from either).
    public struct FallbackReference: Sendable, Hashable, CustomStringConvertible {
        public var name: String
        public var clusterWide: Bool

        public init(name: String, clusterWide: Bool) {
            self.name = name
            self.clusterWide = clusterWide
        }

        public var description: String { clusterWide ? "ClusterIssuer/\(name)" : name }

        /// The issuer it names, seen from `issuer`.
        func key(from issuer: IssuerKey) -> IssuerKey {
            clusterWide ? .cluster(name) : IssuerKey(name: name, namespace: issuer.namespace)
        }
    }

    public var tls: TLSOptions { TLSOptions(caBundle: caBundle) }

    /// Its ACME account as certctl keeps it: the Secret (in its namespace, or certctl's for a
    /// cluster-wide issuer) and the CA. Issuers that share one share its orders and its limits.
    public var account: String { "\(namespace ?? "")/\(accountKeySecret) at \(server)" }

    /// The issuers a certificate of this issuer may be issued by, itself first, then its linked
    /// fallbacks in order (README, "When the CA fails"): what `certctl check` checks (CAA, the
    /// CA, the account) and `certctl caa-record` prints records for.
    public func chain(in issuers: [IssuerKey: Issuer]) -> [Issuer] {
        [self] + fallback.compactMap { issuers[$0] }
    }

    /// How certificates name it: by name when cluster-wide, by namespace and name when an `Issuer`.
    public var key: IssuerKey { IssuerKey(name: name, namespace: namespace) }

    /// This issuer as the `Issuer` of `namespace`: the Secrets it names (EAB, TSIG) are read in
    /// that namespace alone. Refused for what a tenant must not reach through certctl: an
    /// `exec` DNS-01 hook runs a program in certctl's pod.
    public func scoped(to namespace: String) throws -> Issuer {
        var scoped = self
        scoped.namespace = namespace
        scoped.externalAccountBinding?.keySecret.namespace = namespace
        for index in scoped.solvers.indices {
            guard case .dns01(var dns01) = scoped.solvers[index].method else { continue }
            switch dns01.provider {
            case .rfc2136(var settings):
                settings.tsigSecret?.namespace = namespace
                dns01.provider = .rfc2136(settings)
                scoped.solvers[index].method = .dns01(dns01)
            case .exec(let hook):
                throw CertctlError(
                    .invalidIssuer, object: source,
                    "spec.acme.solvers[\(index)].dns01.exec runs \(Bounded.quoted(hook.command)) in certctl's pod, which a namespaced Issuer may not ask; move the solver to a ClusterIssuer or an --issuers file"
                )
            }
        }
        return scoped
    }

    /// The solver for `host` of an Ingress labelled `labels`, by cert-manager's rules: of the
    /// solvers whose selector matches, one naming the host in `dnsNames` wins, then the one with
    /// the longest matching `dnsZones` entry, then the one with the most `matchLabels`, then
    /// the first. A wildcard name (`*.example.org`) takes only a DNS-01 solver (RFC 8555 §7.1.3).
    public func solver(for host: String, labels: [String: String] = [:]) -> Solver? {
        let wildcard = host.hasPrefix("*.")
        let base = wildcard ? String(host.dropFirst(2)) : host
        var best: (solver: Solver, score: (Int, Int, Int))?
        for solver in solvers {
            if wildcard, solver.http01 != nil { continue }
            let selector = solver.selector
            guard selector.matchLabels.allSatisfy({ labels[$0.key] == $0.value }) else { continue }
            let named = selector.dnsNames.contains(host)
            let zone =
                selector.dnsZones.filter { base == $0 || base.hasSuffix(".\($0)") }.map(\.count).max() ?? 0
            if !selector.dnsNames.isEmpty || !selector.dnsZones.isEmpty {
                guard named || zone > 0 else { continue }
            }
            let score = (named ? 1 : 0, zone, selector.matchLabels.count)
            if let current = best, current.score >= score { continue }
            best = (solver, score)
        }
        return best?.solver
    }

    /// What answers `host`'s challenge, for `certctl discover`: `http-01`, `dns-01 rfc2136
    /// SERVER`, or `none` when no solver selects it.
    public func solverDescription(for host: String, labels: [String: String] = [:]) -> String {
        switch solver(for: host, labels: labels)?.method {
        case .http01: "http-01"
        case .dns01(let solver): "dns-01 \(solver.summary)"
        case .dnsPersist01: "dns-persist-01"
        case nil: "none"
        }
    }

    /// Whether a solver of this issuer answers over DNS (and so may take wildcard names).
    public var solvesDNS01: Bool {
        solvers.contains { $0.http01 == nil }
    }

    /// The HTTP-01 solver for `hosts` (the Ingress the solver makes is per certificate).
    /// Whether a solver answers HTTP-01 through HTTPRoutes (`http01.gatewayHTTPRoute`).
    public var solvesThroughRoutes: Bool {
        solvers.contains {
            if case .http01(let http01) = $0.method { http01.gatewayHTTPRoute != nil } else { false }
        }
    }

    public func http01Solver(for hosts: [String], labels: [String: String] = [:]) -> HTTP01Solver? {
        hosts.lazy.compactMap { self.solver(for: $0, labels: labels)?.http01 }.first
    }
}

extension Issuer {
    /// Checks what can be checked before any request: the server URL is HTTPS (or loopback
    /// HTTP, for a local test CA), names, references.
    func validate() throws {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw CertctlError(
                .invalidIssuer,
                object: source,
                "spec.acme.server \"\(server)\" is not a URL; set it to the CA's directory URL (https://...)"
            )
        }
        switch scheme {
        case "https":
            break
        case "http" where Self.isLoopback(host):
            break
        case "http":
            throw CertctlError(
                .invalidIssuer,
                object: source,
                "spec.acme.server \"\(server)\" uses plain http off loopback; ACME needs https (RFC 8555 §6.1)"
            )
        default:
            throw CertctlError(.invalidIssuer, object: source, "spec.acme.server \"\(server)\" must be an https:// URL")
        }
        if let caBundle {
            guard (try? CertificateChain(pem: String(decoding: caBundle, as: UTF8.self))) != nil else {
                throw CertctlError(
                    .invalidIssuer,
                    object: source,
                    "spec.acme.caBundle is not base64 of PEM certificates; encode the CA's PEM with base64 -w0"
                )
            }
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare == "::1" { return true }
        if let address = IPAddress(bare), address.bytes.count == 4 { return address.bytes[0] == 127 }
        return false
    }
}

extension Issuer {
    /// An ACME client for this issuer's CA (its directory, its trusted CA bundle) signing with
    /// `key`, for the account at `url` (nil: none yet, or a certificate's own key).
    public func client(
        key: AccountKey, url: String?, transport: any HTTPTransport, logger: Logger,
        requestTimeout: Duration = .seconds(30), observer: (@Sendable (ACMERequestRecord) -> Void)? = nil
    ) -> ACMEClient {
        ACMEClient(
            configuration: .init(directoryURL: server, tls: tls, requestTimeout: requestTimeout), accountKey: key,
            accountURL: url, transport: transport, logger: logger, observer: observer)
    }
}
