import ArgumentParser
import CertctlCore
import Foundation
import Kubernetes
import Logging
import Transport

/// How every command chooses its cluster: a manifests directory (local), a kubeconfig context,
/// or the pod's service account when neither is given.
struct ClusterOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp("Local mode: read Ingress manifests from this directory.", valueName: "dir"),
        completion: .file(extensions: ["yaml", "yml"]))
    var manifests: String?

    @Option(
        name: .customLong("state"),
        help: ArgumentHelp("State directory (local Secrets and ACME accounts; default .certctl).", valueName: "dir"),
        completion: .directory)
    var stateOption: String?

    /// The local state directory.
    var state: String { stateOption ?? ".certctl" }

    /// `--state` without `--manifests` and without a cluster option: local mode is meant, but
    /// there are no manifests to read.
    var stateWithoutManifests: Bool { stateOption != nil && manifests == nil && kubeconfig == nil && contexts.isEmpty }

    @Option(
        help: ArgumentHelp("kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).", valueName: "path"),
        completion: .file())
    var kubeconfig: String?

    @Option(
        name: .customLong("context"),
        help: ArgumentHelp(
            "kubeconfig context (default: its current-context); status takes several.", valueName: "name"),
        completion: .custom { arguments, _, _ in ClusterOptions.contextNames(arguments) }
    )
    var contexts: [String] = []

    /// The contexts of the kubeconfig the command line names (or the default one), for shell completion.
    static func contextNames(_ arguments: [String]) -> [String] {
        let explicit = arguments.firstIndex(of: "--kubeconfig").flatMap { index in
            index + 1 < arguments.count ? arguments[index + 1] : nil
        }
        let config = try? Kubeconfig.load(explicit: explicit, environment: ProcessInfo.processInfo.environment)
        return config?.contextNames ?? []
    }

    /// The one context of commands that work on one cluster.
    var context: String? { contexts.first }

    @Option(
        name: [.customShort("n"), .customLong("namespace")],
        help: ArgumentHelp("A namespace to look at; repeat for more.", valueName: "name"))
    var namespaces: [String] = []

    @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "Look at every namespace.")
    var allNamespaces = false

    @Option(
        name: .customLong("certctl-namespace"),
        help: ArgumentHelp(
            "certctl's own namespace: its Lease, ACME accounts and run history (default: $CERTCTL_NAMESPACE, $POD_NAMESPACE in a pod, else where its Lease or run history is).",
            valueName: "name"))
    var certctlNamespace: String?

    @Option(help: ArgumentHelp("Directory of issuer YAML files.", valueName: "dir"), completion: .directory)
    var issuers = "issuers"

    @Flag(
        name: .customLong("issuers-from-cluster"),
        help: "Also read cert-manager's ClusterIssuer and Issuer objects (cert-manager.io/v1) from the cluster.")
    var issuersFromCluster = false

    @Option(
        name: .customLong("default-issuer"),
        help: ArgumentHelp("Issuer for kubernetes.io/tls-acme Ingresses.", valueName: "name"))
    var defaultIssuer: String?

    func validate() throws {
        if manifests != nil, kubeconfig != nil || !contexts.isEmpty {
            throw ValidationError("--manifests (local) and --kubeconfig/--context (cluster) exclude each other")
        }
        if allNamespaces, !namespaces.isEmpty {
            throw ValidationError("--all-namespaces and --namespace exclude each other")
        }
        // A mistyped --state would silently mean a new account and every certificate again.
        let parent = ((state as NSString).standardizingPath as NSString).deletingLastPathComponent
        var isDirectory: ObjCBool = false
        if manifests != nil || stateWithoutManifests, !parent.isEmpty,
            !FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) || !isDirectory.boolValue
        {
            throw ValidationError(
                "--state \(state): its parent directory \(parent) does not exist; create it, or check the path")
        }
    }

    /// Everything a run needs from the cluster (or the state directory).
    struct Context {
        var store: any ClusterStore
        var scope: NamespaceScope
        /// The API client, in cluster mode.
        var client: KubernetesClient?
        /// certctl's own namespace (accounts, the Lease), in cluster mode.
        var namespace: String?
        /// Whether it was named (`--certctl-namespace`, `CERTCTL_NAMESPACE`, `POD_NAMESPACE`)
        /// rather than taken from the kubeconfig context, which ``ownNamespace(_:_:logger:)``
        /// replaces with the one certctl's objects are in.
        var namespaceNamed = true
    }

    /// What a command may do where certctl has never run: `run` and `account` start there
    /// (the kubeconfig context's namespace); the others refuse.
    enum Fresh {
        case mayStart, refuse
    }

    /// The context with certctl's own namespace named, never guessed: `--certctl-namespace`,
    /// `CERTCTL_NAMESPACE` or `POD_NAMESPACE`. Off the cluster with none of them, what certctl
    /// left in the cluster (the `certctl-run` Lease, the `certctl-run-history` ConfigMap) is
    /// looked for, but never taken on its own: a tenant can create objects of those names in
    /// its namespace, and a namespace taken from them would receive the account. Found in one
    /// or more namespaces, the command refuses and names them; found nowhere, with every
    /// namespace searched, `run` and `account` start in the kubeconfig context's namespace (a
    /// first run from a laptop) and say so; the other commands refuse.
    func ownNamespace(_ context: Context, _ fresh: Fresh, logger: Logger) async throws -> Context {
        guard let client = context.client, !context.namespaceNamed else { return context }
        var found: Set<String> = []
        var unsearched: [String] = []
        func look<R: KubernetesResource>(for name: String, _ type: R.Type) async throws {
            do {
                let objects = try await client.list(type, namespace: nil, fieldSelector: "metadata.name=\(name)")
                found.formUnion(objects.compactMap(\.metadata.namespace))
            } catch let error as KubernetesError where error.isForbidden {
                unsearched.append(R.plural)
            }
        }
        try await look(for: LeaseRunLock.defaultName, Lease.self)
        try await look(for: ConfigMapRunHistory.defaultName, ConfigMap.self)
        let how =
            "name it with --certctl-namespace NAME (or CERTCTL_NAMESPACE): the namespace the CronJob runs in"
        if !found.isEmpty {
            throw CertctlError(
                .invalidArgument, object: "certctl's own namespace",
                "is not named: certctl's Lease or run history is in \(found.sorted().joined(separator: ", ")), which certctl does not take on its own (anyone who may create a Lease or ConfigMap in a namespace can make one); \(how)"
            )
        }
        guard fresh == .mayStart, unsearched.isEmpty else {
            let searched =
                unsearched.isEmpty
                ? "no Lease \(LeaseRunLock.defaultName) or ConfigMap \(ConfigMapRunHistory.defaultName) in the cluster"
                : "this kubeconfig may not list \(unsearched.joined(separator: " or ")) in every namespace"
            throw CertctlError(
                .invalidArgument, object: "certctl's own namespace", "is not named (\(searched)); \(how)")
        }
        logger.notice(
            "certctl's own namespace: \(context.namespace ?? "default") (the kubeconfig context's; certctl has no Lease or run history in the cluster yet); --certctl-namespace names another"
        )
        var settled = context
        settled.namespaceNamed = true
        return settled
    }

    func makeContext(logger: Logger) throws -> Context {
        try makeContext(logger: logger, contextName: context)
    }

    /// Refuses several --context for commands that work on one cluster.
    func requireSingleCluster() throws {
        if contexts.count > 1 {
            throw CertctlError(
                .invalidArgument, object: "--context",
                "this command works on one cluster; only certctl status takes several")
        }
    }

    func makeContext(logger: Logger, contextName: String?) throws -> Context {
        let environment = ProcessInfo.processInfo.environment
        if let manifests {
            let scope: NamespaceScope = namespaces.isEmpty ? .all : .only(namespaces)
            return Context(store: LocalDirectoryStore(manifests: manifests, state: state), scope: scope)
        }
        if stateWithoutManifests {
            throw CertctlError(
                .invalidArgument, object: "--state \(state)",
                "local mode reads Ingress manifests too: add --manifests DIR (the embedded default is --manifests ingress/), or leave --state out to use the cluster of your kubeconfig"
            )
        }
        let connection: ClusterConnection
        if kubeconfig != nil || contextName != nil || environment["KUBERNETES_SERVICE_HOST"] == nil {
            let config = try Kubeconfig.load(explicit: kubeconfig, environment: environment)
            let (found, warnings) = try config.connection(context: contextName)
            for warning in warnings { logger.warning("\(warning)") }
            connection = found
        } else {
            connection = try ClusterConnection.inCluster(environment: environment)
        }
        var client = KubernetesClient(
            connection: connection, transport: CurlTransport(userAgent: CertctlVersion.userAgent))
        // Shut by `underRunLock` when a command's lock is lost: no write of it follows.
        client.writeGate = WriteGate()
        let scope: NamespaceScope =
            allNamespaces ? .all : .only(namespaces.isEmpty ? [connection.namespace] : namespaces)
        let named = certctlNamespace ?? environment["CERTCTL_NAMESPACE"] ?? environment["POD_NAMESPACE"]
        return Context(
            store: KubernetesStore(client: client), scope: scope, client: client,
            namespace: named ?? connection.namespace, namespaceNamed: named != nil)
    }

    /// The issuers by name, and the default issuer for `kubernetes.io/tls-acme`: the one given,
    /// else `pebble` in local mode (the embedded default never reaches a public CA by surprise),
    /// else `letsencrypt-prod`, else the only issuer defined.
    func loadIssuers() throws -> (issuers: [IssuerKey: Issuer], defaultIssuer: String?) {
        try chooseDefault(IssuerLoader.linkFallbacks(try IssuerLoader.load(directory: issuers)).issuers)
    }

    /// The issuers of `--issuers`, and with `--issuers-from-cluster` those of `context`'s cluster
    /// (a file named like one of them set aside: `setAside` says which, for warnings).
    func loadIssuers(_ context: Context, logger: Logger) async throws -> (
        issuers: [IssuerKey: Issuer], defaultIssuer: String?, setAside: [String]
    ) {
        let files = try IssuerLoader.load(directory: issuers)
        guard issuersFromCluster else {
            let linked = IssuerLoader.linkFallbacks(files)
            let (issuers, defaultIssuer) = try chooseDefault(linked.issuers)
            return (issuers, defaultIssuer, linked.notes)
        }
        guard let client = context.client else {
            throw CertctlError(
                .invalidArgument, object: "--issuers-from-cluster", "reads a cluster's issuers; local mode has none")
        }
        let found = try await ClusterIssuers.read(client: client, scope: context.scope)
        for note in found.notes { logger.notice("\(note)") }
        let merged = try IssuerLoader.merge(files, cluster: found.issuers)
        let linked = IssuerLoader.linkFallbacks(merged.issuers)
        let (issuers, defaultIssuer) = try chooseDefault(linked.issuers)
        return (issuers, defaultIssuer, merged.notes + linked.notes)
    }

    /// The issuer named by `option` (`--issuer NAME` for a cluster-wide one, `NAMESPACE/NAME`
    /// for an `Issuer`), or an error listing the known ones.
    func issuer(_ name: String, option: String = "--issuer", in loaded: [IssuerKey: Issuer]) throws -> Issuer {
        guard let found = loaded[IssuerKey(parsing: name)] else {
            let known = loaded.keys.sorted().map(\.description).joined(separator: ", ")
            throw CertctlError(
                .unknownIssuer, object: "\(option) \(name)",
                "no such issuer in \(issuers) (known: \(known); an Issuer as NAMESPACE/NAME)")
        }
        return found
    }

    /// The default issuer of `kubernetes.io/tls-acme` is cluster-wide, as ingress-shim's is.
    private func chooseDefault(_ loaded: [IssuerKey: Issuer]) throws -> (
        issuers: [IssuerKey: Issuer], defaultIssuer: String?
    ) {
        let clusterWide = loaded.keys.filter { $0.namespace == nil }.map(\.name).sorted()
        if let defaultIssuer, loaded[.cluster(defaultIssuer)] == nil {
            throw CertctlError(
                .unknownIssuer,
                object: "--default-issuer \(defaultIssuer)",
                "no such cluster-wide issuer in \(issuers) (known: \(clusterWide.joined(separator: ", ")))"
            )
        }
        let fallback = manifests != nil ? "pebble" : "letsencrypt-prod"
        let chosen =
            defaultIssuer
            ?? (loaded[.cluster(fallback)] != nil ? fallback : (clusterWide.count == 1 ? clusterWide.first : nil))
        return (loaded, chosen)
    }

    /// What every command that works on a cluster opens first: the cluster (its context) and
    /// the issuers, from which it reads the inventory when it needs one.
    struct Opened {
        var context: Context
        var issuers: [IssuerKey: Issuer]
        var defaultIssuer: String?
        /// Issuer files set aside for the cluster's and fallback notes, for the warnings.
        var issuerNotes: [String]

        /// The desired certificates and their Secrets as they are now.
        func inventory() async throws -> Inventory {
            try await Inventory.load(
                from: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer)
        }
    }

    /// The commands' shared preamble: the cluster of the options (with certctl's own namespace
    /// settled by ``ownNamespace(_:_:logger:)`` when `ownNamespace` is given), then its issuers.
    /// `accepting` refuses a context the command cannot work with, before the issuers are read.
    func open(
        logger: Logger, ownNamespace fresh: Fresh? = nil, accepting: (Context) throws -> Void = { _ in }
    ) async throws -> Opened {
        var context = try makeContext(logger: logger)
        try accepting(context)
        if let fresh { context = try await ownNamespace(context, fresh, logger: logger) }
        let (issuers, defaultIssuer, notes) = try await loadIssuers(context, logger: logger)
        return Opened(context: context, issuers: issuers, defaultIssuer: defaultIssuer, issuerNotes: notes)
    }

    /// What a command that names certificates reads first: the cluster, its issuers and the
    /// inventory (the run reads it again under its lock before it writes).
    func inventory(logger: Logger) async throws -> (
        context: Context, issuers: [IssuerKey: Issuer], defaultIssuer: String?, inventory: Inventory
    ) {
        try requireSingleCluster()
        let opened = try await open(logger: logger)
        return (opened.context, opened.issuers, opened.defaultIssuer, try await opened.inventory())
    }

    /// Where a run keeps its accounts: certctl's namespace in a cluster, the state directory locally.
    func accountPlace(_ context: Context) -> AccountPlace {
        if let client = context.client, let namespace = context.namespace {
            .cluster(client: client, namespace: namespace)
        } else {
            .local(state: state)
        }
    }

    /// Runs `body` holding the run's lock (the Lease in a cluster, the state directory's lock
    /// locally), so that no run works beside it; refused while another run holds it.
    func underRunLock<T: Sendable>(_ context: Context, _ body: (LockKeeper) async throws -> T) async throws -> T {
        let lock: any RunLock =
            if let client = context.client, let namespace = context.namespace {
                LeaseRunLock(
                    client: client, namespace: namespace, identity: PodEnvironment.read().identity, duration: 300)
            } else {
                FileRunLock(stateDirectory: state)
            }
        let held = try await LockKeeper.holding(
            lock, gate: context.client?.writeGate, deadline: nil, logger: Logger(label: "certctl")
        ) { keeper in try await body(keeper) }
        guard let held else {
            let holder = await lock.holder() ?? "another run"
            throw CertctlError(
                .lockHeld, object: "the run's lock", "is held by \(holder); try again when that run has finished")
        }
        return held
    }
}
