public import Foundation
public import Kubernetes
public import Logging
public import Transport

/// The pod a cluster run is in, as the Job's environment tells it (README, "The CronJob").
public struct PodEnvironment: Sendable, Equatable {
    /// `POD_NAME` (downward API); without it no solver Service or Ingress is made, and the CA
    /// must reach the responder directly.
    public var name: String?
    /// The pod's labels, which a solver Service selects.
    public var labels: [String: String]
    /// Who holds the Lease: the pod's name, else `host-pid`.
    public var identity: String
    /// `POD_IP` (downward API): how a solver in another namespace reaches the pod.
    public var ip: String?

    public init(name: String?, labels: [String: String], identity: String, ip: String? = nil) {
        self.name = name
        self.labels = labels
        self.identity = identity
        self.ip = ip
    }

    /// `POD_NAME`, `POD_IP`, and the labels from `CERTCTL_POD_LABELS_FILE` (default `/etc/podinfo/labels`).
    public static func read(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        host: String = ProcessInfo.processInfo.hostName,
        pid: Int32 = getpid()
    ) -> PodEnvironment {
        let name = environment["POD_NAME"]
        let file = environment["CERTCTL_POD_LABELS_FILE"] ?? "/etc/podinfo/labels"
        var labels: [String: String] = [:]
        if let data = FileManager.default.contents(atPath: file) {
            labels = Self.labels(String(decoding: data, as: UTF8.self))
        }
        return PodEnvironment(
            name: name, labels: labels, identity: name ?? "\(host)-\(pid)", ip: environment["POD_IP"])
    }

    /// A downward API labels file: `key="value"` per line.
    public static func labels(_ text: String) -> [String: String] {
        var labels: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let pair = line.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            labels[String(pair[0])] = String(pair[1]).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return labels
    }
}

/// Where a run keeps its ACME accounts, the values its issuers name (EAB keys, TSIG secrets)
/// and its orders in flight: certctl's own namespace in a cluster, the state directory locally.
public struct AccountPlace: Sendable {
    public var accounts: any AccountStore
    public var secrets: any SecretValueSource
    public var orders: any OrderStore
    /// The accounts' rate ledgers, beside them.
    public var ledgers: any LedgerStore

    public static func cluster(client: KubernetesClient, namespace: String) -> AccountPlace {
        AccountPlace(
            accounts: SecretAccountStore(client: client, namespace: namespace),
            secrets: KubernetesSecretValues(client: client, namespace: namespace),
            orders: SecretOrderStore(client: client, namespace: namespace),
            ledgers: SecretOrderStore(client: client, namespace: namespace))
    }

    public static func local(state: String) -> AccountPlace {
        AccountPlace(
            accounts: LocalAccountStore(stateDirectory: state),
            secrets: LocalSecretValues(directories: [(state as NSString).appendingPathComponent("secrets")]),
            orders: LocalOrderStore(stateDirectory: state),
            ledgers: LocalOrderStore(stateDirectory: state))
    }
}

extension CertificateRun {
    /// A run against an API server: Secrets and pending records in the certificates'
    /// namespaces; accounts, orders in flight, the Lease and the run history in certctl's own
    /// `namespace`; Events on the Ingresses; and, in a pod, HTTP-01 through a Service and an
    /// Ingress per challenge that reach this pod's responder on `http01Port`. Every way of
    /// running in a cluster (the CronJob, `renew --now`, the tests) is built here.
    public static func inCluster(
        client watched: KubernetesClient,
        namespace: String,
        pod: PodEnvironment,
        issuers: [IssuerKey: Issuer],
        http01Port: Int,
        selfCheckPasses: Int = 5,
        leaseSeconds: Int = 900,
        transport: any HTTPTransport,
        logger: Logger
    ) -> CertificateRun {
        let warnings = RunWarnings(logger: logger)
        let tally = KubernetesTally()
        var watching = watched
        tally.watch(&watching)
        // No retry waits past the Lease's term (by then the run has lost its lock anyway); each
        // renewal of the Lease moves it on.
        let deadline = watching.deadline ?? RetryDeadline(.now + .seconds(leaseSeconds))
        watching.deadline = deadline
        // This run's own gate: shut when it loses its Lease, so that none of its writes follow.
        let gate = WriteGate()
        watching.writeGate = gate
        // What the API server warns about, and lists that had to restart, reach the summary.
        watching.onWarning = { object, warning in
            warnings.add("api: \(warning)", "\(object): \(warning)")
        }
        let client = watching
        let place = AccountPlace.cluster(client: client, namespace: namespace)
        var run = CertificateRun(
            store: KubernetesStore(client: client),
            accounts: place.accounts,
            secrets: place.secrets,
            lock: LeaseRunLock(client: client, namespace: namespace, identity: pod.identity, duration: leaseSeconds),
            transport: transport,
            logger: logger
        )
        run.orders = place.orders
        run.ledgers = place.ledgers
        run.kubernetes = tally
        run.history = ConfigMapRunHistory(client: client, namespace: namespace)
        run.retryDeadline = (deadline, .seconds(leaseSeconds))
        run.writeGate = gate
        run.warnings = warnings
        run.events = EventRecorder(client: client, instance: pod.identity, warnings: warnings)
        guard let podName = pod.name else {
            logger.notice(
                "not in a pod (no POD_NAME): no solver Service or Ingress is created; the CA must reach port \(http01Port) directly"
            )
            return run
        }
        let solverPod = IngressSolver.Pod(
            name: podName, namespace: namespace, labels: pod.labels, port: http01Port, ip: pod.ip)
        // Solver objects live in the certificates' namespaces: the pod's own and those about to be
        // issued in (each one the chart's Role covers; no cluster-wide list).
        run.http01 = .cluster(client: client, pod: solverPod, selfCheckPasses: selfCheckPasses)
        return run
    }

    /// A run over a directory of manifests: Secrets, accounts, orders in flight, the lock and
    /// counters under `state`; the CA reaches the responder directly.
    public static func local(
        store: any ClusterStore,
        state: String,
        transport: any HTTPTransport,
        logger: Logger
    ) -> CertificateRun {
        let place = AccountPlace.local(state: state)
        var run = CertificateRun(
            store: store,
            accounts: place.accounts,
            secrets: place.secrets,
            lock: FileRunLock(stateDirectory: state),
            transport: transport,
            logger: logger
        )
        run.orders = place.orders
        run.ledgers = place.ledgers
        run.history = FileRunHistory(stateDirectory: state)
        return run
    }
}
