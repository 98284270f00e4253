import Certificates
public import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
public import Transport
import X509

/// An in-process Kubernetes API server over HTTPS on loopback, held to a recording of a real
/// kube-apiserver (v1.36.2; `tests/kube-apiserver/`, replayed by `KubeAPIConformanceTests`):
/// bearer tokens and client certificates (401 for an unknown token, 403 for anonymous), RBAC per
/// user, namespaces that must exist, every body decoded as the server decodes it (unknown fields
/// warned about or refused under `fieldValidation=Strict`, `metav1.Time`/`MicroTime` formats,
/// base64), defaults and validation per kind with the server's `Status` bodies and causes,
/// `resourceVersion` preconditions, merge, JSON and strategic merge patches, finalizers and
/// `deletionTimestamp`, immutable Secrets, dry runs, paginated lists with expiring `continue`
/// tokens, selectors, and cert-manager's custom resources from their CRDs. What it refuses, a real
/// server refuses too, with the same status, reason and causes.
public final class FakeAPIServer: Sendable {
    let state: FakeAPIState
    let faults: FakeAPIFaultPlan
    private let server: HTTPServer
    public let url: String
    /// PEM of the CA that signed the server's certificate (kubeconfig `certificate-authority-data`).
    public let caBundle: [UInt8]
    public let authority: TestCertificateAuthority

    /// The namespaces a fake cluster of the tests has besides Kubernetes' own.
    public static let testNamespaces = ["prod", "staging", "certctl"]

    /// cert-manager's CRDs (`tests/cert-manager-crds/`), for a cluster that runs cert-manager.
    public static var certManagerCRDs: [URL] {
        ["certificates", "clusterissuers", "issuers"].map {
            CertctlProcess.repository.appendingPathComponent("tests/cert-manager-crds/cert-manager.io_\($0).yaml")
        }
    }

    /// The Gateway API's standard channel, v1.6.1 (`tests/gateway-api-crds/`).
    public static var gatewayAPICRDs: [URL] {
        ["gatewayclasses", "gateways", "httproutes", "listenersets", "referencegrants"].map {
            CertctlProcess.repository.appendingPathComponent(
                "tests/gateway-api-crds/gateway.networking.k8s.io_\($0).yaml")
        }
    }

    /// Serves the CRDs of `files` from now on, as `kubectl apply` of them to a running cluster does.
    public func install(customResourceDefinitions files: [URL]) async throws {
        await state.install(try CustomResources.kinds(from: files))
    }

    /// Starts on a free port with a cluster administrator for each bearer token of `tokens`.
    public static func start(tokens: [String]) async throws -> FakeAPIServer {
        try await start(users: tokens.map { .admin(token: $0) })
    }

    /// Starts on a free port. `users` authenticate by bearer token, or by a client certificate
    /// signed by `authority` whose CN is their name; `namespaces` exist besides `default`,
    /// `kube-system`, `kube-public` and `kube-node-lease`; `customResourceDefinitions` are served.
    public static func start(
        users: [FakeAPIUser] = [.admin()],
        namespaces: [String] = testNamespaces,
        customResourceDefinitions: [URL] = []
    ) async throws -> FakeAPIServer {
        let authority = try TestCertificateAuthority(name: "fake kube-apiserver CA")
        let key = try Certificates.PrivateKey(generating: .ecdsaP256)
        let now = Date()
        let leaf = try authority.issue(
            publicKey: key.publicKey,
            names: ["127.0.0.1", "localhost"],
            notBefore: now.addingTimeInterval(-3600),
            notAfter: now.addingTimeInterval(86_400)
        )
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: [
                .certificate(
                    try NIOSSLCertificate(bytes: Array(try leaf.serializeAsPEM().pemString.utf8), format: .pem))
            ],
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(try key.pemRepresentation().utf8), format: .pem))
        )
        configuration.certificateVerification = .optionalVerification
        configuration.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(authority.pem.utf8), format: .pem)]
        )
        let context = try NIOSSLContext(configuration: configuration)

        let state = FakeAPIState(
            users: users, namespaces: ["default", "kube-system", "kube-public", "kube-node-lease"] + namespaces,
            kinds: BuiltinKinds.all + (try CustomResources.kinds(from: customResourceDefinitions)))
        let port = freeLoopbackPort()
        let faults = FakeAPIFaultPlan()
        let server = try await HTTPServer.start(
            host: "127.0.0.1",
            port: port,
            configure: { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
                }
            },
            peerIdentity: { channel in
                guard let handler = try? channel.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self),
                    let peer = handler.peerCertificate, let der = try? peer.toDERBytes(),
                    let certificate = try? Certificate(derEncoded: der)
                else { return nil }
                return certificate.subject.commonName
            },
            // The real server's body limit is 3 MiB; a held answer (answerLate) is the handler's time.
            limits: .init(maximumBody: 3 << 20, requestTimeout: .seconds(60)),
            handler: { request in
                let serve: @Sendable () async -> ServerResponse = {
                    let answer = await state.answer(request)
                    if answer.late { try? await Task.sleep(for: FakeAPIServer.lateAnswer) }
                    return answer.response
                }
                guard let (injection, retryAfter) = faults.draw() else { return await serve() }
                return await faults.apply(injection, retryAfter: retryAfter, answer: serve)
            }
        )
        return FakeAPIServer(
            state: state, faults: faults, server: server, url: "https://127.0.0.1:\(port)", authority: authority)
    }

    private init(
        state: FakeAPIState, faults: FakeAPIFaultPlan, server: HTTPServer, url: String,
        authority: TestCertificateAuthority
    ) {
        self.state = state
        self.faults = faults
        self.server = server
        self.url = url
        self.authority = authority
        self.caBundle = Array(authority.pem.utf8)
    }

    public func stop() async {
        await server.stop()
    }

    /// Stores an object as the cluster's administrator creates it (JSON of any kind), creating
    /// its namespace first when there is none, as an administrator would.
    public func seed(_ path: String, _ object: [String: Any]) async throws {
        if let namespace = Self.namespace(in: path) { await state.ensureNamespace(namespace) }
        let response = await state.answer(
            ServerRequest(
                method: "POST",
                uri: path,
                headers: ["Authorization": "Bearer \(await state.adminToken)", "Content-Type": "application/json"],
                body: Array(try JSONSerialization.data(withJSONObject: object)),
                peerIdentity: nil
            )
        ).response
        guard (200..<300).contains(response.status) else {
            throw PebbleError(reason: "seeding \(path) failed: \(String(decoding: response.body, as: UTF8.self))")
        }
    }

    private static func namespace(in path: String) -> String? {
        let parts = path.split(separator: "/")
        return parts.firstIndex(of: "namespaces").flatMap {
            parts.indices.contains($0 + 1) ? String(parts[$0 + 1]) : nil
        }
    }

    /// Creates namespace `name` if it does not exist.
    public func createNamespace(_ name: String) async {
        await state.ensureNamespace(name)
    }

    /// The stored object as the server serves it, as JSON, or nil.
    public func object(_ collection: String, namespace: String, name: String) async -> [String: Any]? {
        guard let data = await state.objectJSON(collection, namespace: namespace, name: name) else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(data))) as? [String: Any]
    }

    /// One more user (a ServiceAccount's token with its Role's rules).
    public func addUser(_ user: FakeAPIUser) async {
        await state.addUser(user)
    }

    /// Expires every `continue` token handed out so far (410 Expired), as an etcd compaction does.
    public func compact() async {
        await state.compact()
    }

    /// Compacts once `pages` more list pages have been served: a list in progress then meets
    /// 410 Expired on its next page.
    public func compact(afterPages pages: Int) async {
        await state.compact(afterPages: pages)
    }

    /// Requests served, by verb (`get`, `list`, `create`, `update`, `patch`, `delete`).
    public var requestCounts: [String: Int] {
        get async { await state.counts }
    }

    /// Every request as "verb collection namespace/name user" (`create v1/services prod/x kubernetes-admin`).
    public var requestLog: [String] {
        get async { await state.log }
    }

    /// The next `count` requests of `verb` on `collection` (`v1/secrets`) fail with `status`.
    public func failNext(_ verb: String, collection: String, status: Int, count: Int = 1) async {
        await state.addFault(verb: verb, collection: collection, status: status, count: count)
    }

    /// From now on, requests meet `faults` (``FakeAPIFaults``); `FakeAPIFaults()` for none.
    public func schedule(_ faults: FakeAPIFaults) {
        self.faults.schedule(faults)
    }

    /// For `duration` from now every connection closes unanswered, as a restarting server's do.
    public func outage(for duration: Duration) {
        faults.outage(for: duration)
    }

    /// The faults injected so far, by kind (`429`, `503`, `closed before acting`, ...).
    public var faultsInjected: [String: Int] { faults.injected }

    /// How long a late answer waits: longer than a client with a short timeout waits.
    public static let lateAnswer = Duration.seconds(3)

    /// The next `count` requests of `verb` on `collection` are carried out, but answered only after
    /// ``lateAnswer``: the client times out not knowing that its write happened.
    public func answerLate(_ verb: String, collection: String, count: Int = 1) async {
        await state.addFault(verb: verb, collection: collection, status: 0, count: count)
    }

    /// Changes an object behind certctl's back (bumps its resourceVersion), to provoke a conflict.
    public func touch(_ collection: String, namespace: String, name: String) async {
        await state.touch(collection, namespace: namespace, name: name)
    }

    /// A kubeconfig for this server with a bearer token, as a file's text.
    public func kubeconfig(token: String = "test-token", context: String = "fake", namespace: String = "default")
        -> String
    {
        """
        apiVersion: v1
        kind: Config
        current-context: \(context)
        clusters:
        - name: \(context)-cluster
          cluster:
            server: \(url)
            certificate-authority-data: \(Data(caBundle).base64EncodedString())
        users:
        - name: \(context)-user
          user:
            token: \(token)
        contexts:
        - name: \(context)
          context:
            cluster: \(context)-cluster
            user: \(context)-user
            namespace: \(namespace)
        """
    }

    public var tls: TLSOptions { TLSOptions(caBundle: caBundle) }
}
