import ACME
import Certificates
import DNS
import Foundation
public import Kubernetes
public import Logging
public import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// `certctl check`: what a run needs, tested without making a certificate (README "certctl
/// check"): the cluster's objects read, every issuer's CA directory and account, the job's
/// permissions (SelfSubjectAccessReview), every host that HTTP-01 validates resolving, and
/// whether each name's CAA records let the issuers of its chain issue.
public struct Preflight: Sendable {
    public struct Result: Sendable, Equatable {
        public enum Outcome: String, Sendable, Comparable {
            case ok
            case warning = "warn"
            case failed = "FAIL"

            var rank: Int { self == .ok ? 0 : self == .warning ? 1 : 2 }
            public static func < (lhs: Outcome, rhs: Outcome) -> Bool { lhs.rank < rhs.rank }
        }

        public var outcome: Outcome
        /// `cluster`, `object`, `issuer`, `account`, `permissions`, `DNS`, `CAA`.
        public var check: String
        public var message: String

        public init(_ outcome: Outcome, _ check: String, _ message: String) {
            self.outcome = outcome
            self.check = check
            self.message = message
        }
    }

    /// One API request the job makes: verb, group, resource, in certctl's namespace or the certificates'.
    public struct Access: Sendable, Hashable {
        public var verb: String
        public var group: String
        public var resource: String
        /// The one object asked about, where the job names it (the Lease, the run history).
        public var name: String?

        public init(_ verb: String, _ group: String, _ resource: String, name: String? = nil) {
            self.verb = verb
            self.group = group
            self.resource = resource
            self.name = name
        }

        public var description: String {
            "\(verb) \(group.isEmpty ? "" : group + "/")\(resource)\(name.map { " \($0)" } ?? "")"
        }
    }

    /// What `certctl run` does in each namespace with certificates: the chart's Role there.
    public static let certificateNamespaceAccess: [Access] = [
        Access("list", "networking.k8s.io", "ingresses"), Access("create", "networking.k8s.io", "ingresses"),
        Access("delete", "networking.k8s.io", "ingresses"),
        Access("list", "", "services"), Access("create", "", "services"), Access("delete", "", "services"),
        Access("list", "discovery.k8s.io", "endpointslices"), Access("create", "discovery.k8s.io", "endpointslices"),
        Access("delete", "discovery.k8s.io", "endpointslices"),
        Access("get", "", "secrets"), Access("list", "", "secrets"), Access("create", "", "secrets"),
        Access("patch", "", "secrets"),
        Access("get", "", "configmaps"), Access("create", "", "configmaps"), Access("patch", "", "configmaps"),
        Access("delete", "", "configmaps"),
        Access("create", "events.k8s.io", "events"),
    ]

    /// What it does in its own namespace besides: the Lease and the run history, by name (a
    /// Role may narrow them with `resourceNames`; create cannot be), and the accounts' Secrets.
    public static let ownNamespaceAccess: [Access] = [
        Access("get", "coordination.k8s.io", "leases", name: "certctl-run"),
        Access("create", "coordination.k8s.io", "leases"),
        Access("patch", "coordination.k8s.io", "leases", name: "certctl-run"),
        Access("get", "", "configmaps", name: ConfigMapRunHistory.defaultName),
        Access("create", "", "configmaps"),
        Access("patch", "", "configmaps", name: ConfigMapRunHistory.defaultName),
        Access("get", "", "secrets"), Access("create", "", "secrets"), Access("patch", "", "secrets"),
    ]

    public var store: any ClusterStore
    public var scope: NamespaceScope
    public var issuers: [IssuerKey: Issuer]
    public var defaultIssuer: String?
    public var place: AccountPlace
    public var transport: any HTTPTransport
    /// The API client and certctl's own namespace, in a cluster.
    public var client: KubernetesClient?
    public var namespace: String?
    /// A DNS server (`host:port`) to resolve the hosts and read their CAA records with; nil: the
    /// system's resolver.
    public var resolver: String?
    public var requestTimeout: Duration
    public var logger: Logger
    /// In a pod: the HTTP-01 path through each host's Ingress to this pod's responder is probed.
    public var http01Probe: HTTP01Probe?
    /// What loading the issuers set aside (a file named like a cluster's issuer): warnings.
    public var issuerNotes: [String] = []
    /// The CronJob's schedule (`--schedule`), compared with the certificates' renewal windows.
    public var schedule: CronSchedule?

    public init(
        store: any ClusterStore, scope: NamespaceScope, issuers: [IssuerKey: Issuer], defaultIssuer: String?,
        place: AccountPlace, transport: any HTTPTransport, client: KubernetesClient?, namespace: String?,
        resolver: String?, requestTimeout: Duration, logger: Logger
    ) {
        self.store = store
        self.scope = scope
        self.issuers = issuers
        self.defaultIssuer = defaultIssuer
        self.place = place
        self.transport = transport
        self.client = client
        self.namespace = namespace
        self.resolver = resolver
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    /// Every check, in the order a run meets them. `report` is told each result as it is known.
    public func run(report: @Sendable (Result) -> Void = { _ in }) async -> [Result] {
        var results: [Result] = []
        func add(_ result: Result) {
            results.append(result)
            report(result)
        }
        let inventory: Inventory
        do {
            inventory = try await Inventory.load(
                from: store, scope: scope, issuers: issuers, defaultIssuer: defaultIssuer)
            add(
                Result(
                    .ok, "cluster",
                    "\(inventory.cluster): \(counted(inventory.entries.count, "certificate")) from the Ingresses\(inventory.problems.isEmpty ? "" : ", \(counted(inventory.problems.count, "misconfigured object"))")"
                ))
        } catch {
            add(Result(.failed, "cluster", "cannot read the Ingresses and Secrets: \(error)"))
            if let client { for result in await permissions(client, namespaces: []) { add(result) } }
            return results
        }
        for problem in inventory.problems {
            add(
                Result(
                    .warning, "object", "\(problem.object)\(problem.field.map { " \($0)" } ?? ""): \(problem.reason)"))
        }
        if client != nil { for result in gatewayAPI(inventory) { add(result) } }
        for note in issuerNotes { add(Result(.warning, "issuers", note)) }
        if let schedule { add(Self.scheduleResult(schedule, inventory: inventory, now: Date())) }
        // The issuers the certificates name, and their fallbacks: checked now, not on the bad day.
        let used = Set(inventory.entries.map(\.desired.issuerKey))
        let chained = Set(used.flatMap { issuers[$0]?.chain(in: issuers).map(\.key) ?? [$0] })
        for key in (used.isEmpty ? Set(issuers.keys) : chained).sorted() {
            guard let issuer = issuers[key] else { continue }
            for result in await check(issuer) { add(result) }
            for result in await limits(issuer, now: Date()) { add(result) }
        }
        for result in fallbackRefusals(inventory) { add(result) }
        if let client {
            let namespaces = Set(inventory.entries.map(\.desired.namespace)).sorted()
            let editing = Set(inventory.entries.filter(\.desired.settings.editInPlace).map(\.desired.namespace))
            let gateways = inventory.servesGatewayAPI
            let routes = gateways && issuers.values.contains(where: \.solvesThroughRoutes)
            for result in await permissions(
                client, namespaces: namespaces, editingIngresses: editing, gateways: gateways, routes: routes)
            {
                add(result)
            }
        }
        for result in await resolution(inventory) { add(result) }
        for result in await caa(inventory, chain: { $0.chain(in: issuers) }) { add(result) }
        if let client, let http01Probe {
            for result in await probe(inventory, client: client, with: http01Probe) { add(result) }
        }
        return results
    }

    /// The CA directory, the profile asked for, the account (found by its key, never created).
    func check(_ issuer: Issuer) async -> [Result] {
        let stored: StoredAccount?
        do {
            stored = try await place.accounts.load(for: issuer)
        } catch {
            return [Result(.failed, "account", "issuer \(issuer.name): cannot read its account key: \(error)")]
        }
        let key: AccountKey
        do {
            key = try stored?.key ?? AccountKey(generating: .ecdsaP256)
        } catch {
            return [Result(.failed, "account", "issuer \(issuer.name): \(error)")]
        }
        let client = issuer.client(
            key: key, url: stored?.url, transport: transport, logger: logger, requestTimeout: requestTimeout)
        var results: [Result] = []
        let directory: ACMEDirectory
        do {
            directory = try await client.directory()
        } catch {
            return [
                Result(.failed, "issuer", "\(issuer.name): the CA directory \(issuer.server) does not answer: \(error)")
            ]
        }
        results.append(Self.directoryLine(issuer, directory))
        if let binding = issuer.externalAccountBinding, stored?.url == nil {
            do {
                _ = try await place.secrets.value(of: binding.keySecret)
            } catch {
                results.append(
                    Result(
                        .failed, "account",
                        "issuer \(issuer.name): the External Account Binding key \(binding.keySecret.name) cannot be read: \(error)"
                    ))
            }
        }
        guard let stored else {
            let terms = directory.meta?.termsOfService.map { " under \($0)" } ?? ""
            results.append(
                Result(
                    .ok, "account",
                    "issuer \(issuer.name): no account key yet; the first run creates one (\(issuer.accountKeySecret)) and registers it\(terms)"
                ))
            return results
        }
        if stored.server != issuer.server {
            results.append(
                Result(
                    .warning, "account",
                    "issuer \(issuer.name): its key was registered at \(stored.server); the next run registers it at \(issuer.server)"
                ))
            return results
        }
        results.append(await Self.accountLine(issuer, client: client))
        return results
    }

    /// The directory's line: what the CA offers, and whether the issuer's profile is among it.
    private static func directoryLine(_ issuer: Issuer, _ directory: ACMEDirectory) -> Result {
        let profiles = directory.meta?.profiles.map { $0.keys.sorted() } ?? []
        var features = [directory.renewalInfo != nil ? "ARI" : "no ARI"]
        if !profiles.isEmpty { features.append("profiles \(profiles.joined(separator: ", "))") }
        if let profile = issuer.profile, !profiles.contains(profile) {
            return Result(
                .failed, "issuer",
                "\(issuer.name): asks for profile \(profile), which \(issuer.server) does not offer (\(profiles.isEmpty ? "it offers none" : "it offers " + profiles.joined(separator: ", "))); change spec.acme.profile"
            )
        }
        return Result(.ok, "issuer", "\(issuer.name): \(issuer.server) answers (\(features.joined(separator: "; ")))")
    }

    /// The stored account's line: found by its key at the CA, and its status.
    private static func accountLine(_ issuer: Issuer, client: ACMEClient) async -> Result {
        do {
            guard let account = try await client.lookUpAccount() else {
                return Result(
                    .warning, "account",
                    "issuer \(issuer.name): the CA does not know the stored key's account (a reset CA?); the next run registers it again"
                )
            }
            let outcome: Result.Outcome = account.status == "valid" ? .ok : .failed
            return Result(
                outcome, "account",
                "issuer \(issuer.name): \(account.url) is \(account.status)\(outcome == .ok ? "" : "; a run cannot order with it: remove \(issuer.accountKeySecret) to register a new key")"
            )
        } catch {
            return Result(.failed, "account", "issuer \(issuer.name): looking the account up failed: \(error)")
        }
    }

    /// SelfSubjectAccessReviews of everything the job does, per namespace: one line each.
    /// - Parameter editingIngresses: namespaces with an Ingress that asks for http01-edit-in-place
    ///   (the job gets and patches it).
    func permissions(
        _ client: KubernetesClient, namespaces: [String], editingIngresses: Set<String> = [], gateways: Bool = false,
        routes: Bool = false
    ) async -> [Result] {
        var places: [(String, [Access])] = namespaces.map { namespace in
            let edit = [
                Access("get", "networking.k8s.io", "ingresses"), Access("patch", "networking.k8s.io", "ingresses"),
            ]
            let group = "gateway.networking.k8s.io"
            let gatewayAccess =
                (gateways ? ["gateways", "listenersets", "referencegrants"].map { Access("list", group, $0) } : [])
                + (routes ? ["list", "create", "delete"].map { Access($0, group, "httproutes") } : [])
            return (
                namespace,
                Self.certificateNamespaceAccess + (editingIngresses.contains(namespace) ? edit : []) + gatewayAccess
            )
        }
        if let own = namespace {
            if let index = places.firstIndex(where: { $0.0 == own }) {
                places[index].1 += Self.ownNamespaceAccess.filter { !places[index].1.contains($0) }
            } else {
                places.append((own, Self.ownNamespaceAccess))
            }
        }
        var results: [Result] = []
        for (namespace, accesses) in places {
            var denied: [String] = []
            var failure: String?
            for access in accesses {
                let review = SelfSubjectAccessReview(
                    .init(
                        namespace: namespace, verb: access.verb, group: access.group, resource: access.resource,
                        name: access.name))
                do {
                    let answer = try await client.create(review)
                    if answer.status?.allowed != true { denied.append(access.description) }
                } catch {
                    failure = "\(error)"
                    break
                }
            }
            if let failure {
                results.append(Result(.failed, "permissions", "\(namespace): cannot ask the API server: \(failure)"))
            } else if denied.isEmpty {
                results.append(
                    Result(
                        .ok, "permissions",
                        "\(namespace): all \(accesses.count) kinds of request the job makes are allowed"))
            } else {
                results.append(
                    Result(
                        .failed, "permissions",
                        "\(namespace): not allowed: \(denied.joined(separator: ", ")); the chart's Roles grant them (mybinder/charts/certctl/templates/rbac.yaml)"
                    ))
            }
        }
        return results
    }

    /// Every host an HTTP-01 solver validates must resolve: the CA connects to it.
    func resolution(_ inventory: Inventory) async -> [Result] {
        var hosts: [String] = []
        for entry in inventory.entries {
            let issuer = issuers[entry.desired.issuerKey]
            for host in entry.desired.hosts where !hosts.contains(host) {
                guard issuer?.solver(for: host, labels: entry.desired.labels)?.http01 != nil else { continue }
                hosts.append(host)
            }
        }
        guard !hosts.isEmpty else { return [] }
        var results: [Result] = []
        var resolved = 0
        for host in hosts {
            if let why = await unresolved(host) {
                results.append(
                    Result(.failed, "DNS", "\(host) does not resolve (\(why)): the CA cannot reach it for HTTP-01"))
            } else {
                resolved += 1
            }
        }
        if resolved > 0 {
            results.insert(
                Result(
                    .ok, "DNS",
                    "\(resolved) of \(counted(hosts.count, "host")) HTTP-01 validates resolve\(resolver.map { " (at \($0))" } ?? "")"
                ), at: 0)
        }
        return results
    }

    /// Nil when `host` has an address, else why not.
    func unresolved(_ host: String) async -> String? {
        if let resolver {
            guard let client = try? DNSClient(parsing: resolver, timeout: requestTimeout) else {
                return "\(resolver) is not host:port"
            }
            var name = host
            for _ in 0..<8 {
                for type in [DNSType.a, .aaaa] {
                    guard let answer = try? await client.query(name, type) else { return "\(resolver) does not answer" }
                    if answer.answers.contains(where: { $0.type == type }) { return nil }
                    if let next = answer.answers.first(where: { $0.type == .cname })?.dataName {
                        name = next
                        break
                    }
                    if type == .aaaa { return answer.rcode == .noError ? "no address" : "\(answer.rcode)" }
                }
            }
            return "too many CNAMEs"
        }
        return await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var found: UnsafeMutablePointer<addrinfo>?
                var hints = addrinfo()
                hints.ai_socktype = Int32(clamping: SOCK_STREAM.rawValue)
                let status = getaddrinfo(host, nil, &hints, &found)
                if let found { freeaddrinfo(found) }
                continuation.resume(returning: status == 0 ? nil : String(cString: gai_strerror(status)))
            }
        }
    }
}
