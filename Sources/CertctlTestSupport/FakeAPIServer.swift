import Certificates
import Foundation
import NIOCore
import NIOSSL
import SwiftASN1
public import Transport
import X509

/// An in-process Kubernetes API server over HTTPS on loopback, faithful to the real one for what
/// certctl uses: bearer tokens and client certificates (401 without), `resourceVersion` on every
/// write and 409 `Conflict` on a stale one, `AlreadyExists`, 404 `NotFound`, 422 `Invalid` and
/// 400 `BadRequest` with real `Status` bodies, `limit`/`continue` pagination, label and field
/// selectors, `kubernetes.io/tls` validation and JSON merge patch. It is never more forgiving than
/// a real API server: what it refuses, a real one refuses too.
public final class FakeAPIServer: Sendable {
    let state: FakeAPIState
    private let server: HTTPServer
    public let url: String
    /// PEM of the CA that signed the server's certificate (kubeconfig `certificate-authority-data`).
    public let caBundle: [UInt8]
    public let authority: TestCertificateAuthority

    /// Starts on a free port. `tokens` are accepted bearer tokens; client certificates signed by
    /// `authority` are accepted too (their CN is the user).
    public static func start(tokens: Set<String> = ["test-token"]) async throws -> FakeAPIServer {
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

        let state = FakeAPIState(tokens: tokens)
        let port = freeLoopbackPort()
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
            handler: { request in
                let answer = await state.answer(request)
                if answer.late { try? await Task.sleep(for: FakeAPIServer.lateAnswer) }
                return answer.response
            }
        )
        return FakeAPIServer(state: state, server: server, url: "https://127.0.0.1:\(port)", authority: authority)
    }

    private init(state: FakeAPIState, server: HTTPServer, url: String, authority: TestCertificateAuthority) {
        self.state = state
        self.server = server
        self.url = url
        self.authority = authority
        self.caBundle = Array(authority.pem.utf8)
    }

    public func stop() async {
        await server.stop()
    }

    /// Stores an object as a client with full rights would create it (JSON of any kind).
    public func seed(_ path: String, _ object: [String: Any]) async throws {
        let data = try JSONSerialization.data(withJSONObject: object)
        let response = await state.handle(
            ServerRequest(
                method: "POST",
                uri: path,
                headers: ["Authorization": "Bearer \(await state.anyToken)", "Content-Type": "application/json"],
                body: Array(data),
                peerIdentity: nil
            )
        )
        guard (200..<300).contains(response.status) else {
            throw PebbleError(reason: "seeding \(path) failed: \(String(decoding: response.body, as: UTF8.self))")
        }
    }

    /// The stored object, as JSON, or nil.
    public func object(_ collection: String, namespace: String, name: String) async -> [String: Any]? {
        guard let data = await state.objectJSON(collection, namespace: namespace, name: name) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// Requests served, by verb (`get`, `list`, `create`, `update`, `patch`, `delete`).
    public var requestCounts: [String: Int] {
        get async { await state.counts }
    }

    /// Every request as "verb collection namespace/name" (`create v1/services prod/x`).
    public var requestLog: [String] {
        get async { await state.log }
    }

    /// The next `count` requests of `verb` on `collection` (`v1/secrets`) fail with `status`.
    public func failNext(_ verb: String, collection: String, status: Int, count: Int = 1) async {
        await state.addFault(verb: verb, collection: collection, status: status, count: count)
    }

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
