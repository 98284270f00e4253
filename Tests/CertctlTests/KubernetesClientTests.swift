import Basics
import CertctlTestSupport
import Foundation
import Kubernetes
import Synchronization
import Testing
import Transport

/// A client for `server` with a bearer token.
func fakeClient(
    _ server: FakeAPIServer, token: String = "test-token", observer: (@Sendable (String, Int?) -> Void)? = nil
) -> KubernetesClient {
    KubernetesClient(
        connection: ClusterConnection(
            name: "fake", server: server.url, tls: server.tls, credentials: .token(token), namespace: "default"),
        transport: CurlTransport(userAgent: "certctl-tests"),
        observer: observer
    )
}

func tlsSecret(_ namespace: String, _ name: String, labels: [String: String]? = nil, data: [String: Data]? = nil)
    -> Secret
{
    Secret(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        type: Secret.tlsType,
        data: data ?? ["tls.crt": Data("crt".utf8), "tls.key": Data("key".utf8)]
    )
}

@Suite("Kubernetes client against the fake API server")
struct KubernetesClientTests {
    @Test("no token or a wrong one: 401 Unauthorized with the server's Status")
    func unauthorized() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        do {
            _ = try await fakeClient(server, token: "wrong").list(Secret.self, namespace: "default")
            Issue.record("a wrong token must be refused")
        } catch let error as KubernetesError {
            #expect(error.httpStatus == 401)
            #expect(error.status?.reason == "Unauthorized")
        }
    }

    @Test("create, get, update with resourceVersion, 409 on a stale one, AlreadyExists, NotFound, delete")
    func lifecycle() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        await server.createNamespace("binder")
        let client = fakeClient(server)
        let created = try await client.create(tlsSecret("binder", "kubelego-tls-binder"))
        let version = try #require(created.metadata.resourceVersion)
        #expect(created.metadata.uid != nil)

        // The same object created again is this client's own (a create the transport repeated).
        let again = try await client.create(tlsSecret("binder", "kubelego-tls-binder"))
        #expect(again.metadata.uid == created.metadata.uid)
        do {
            _ = try await client.create(
                tlsSecret(
                    "binder", "kubelego-tls-binder", data: ["tls.crt": Data("other".utf8), "tls.key": Data("key".utf8)])
            )
            Issue.record("a second create of another object must fail")
        } catch let error as KubernetesError {
            #expect(error.isAlreadyExists)
            #expect(error.httpStatus == 409)
            #expect(error.description.contains("Secret binder/kubelego-tls-binder"))
        }

        var changed = created
        changed.data?["tls.crt"] = Data("crt2".utf8)
        let updated = try await client.update(changed)
        #expect(updated.metadata.resourceVersion != version)
        #expect(updated.metadata.uid == created.metadata.uid)

        do {
            _ = try await client.update(changed)  // still carries the old resourceVersion
            Issue.record("a stale resourceVersion must conflict")
        } catch let error as KubernetesError {
            #expect(error.isConflict)
            #expect(error.status?.message?.contains("the object has been modified") == true)
        }

        let fetched = try await client.get(Secret.self, namespace: "binder", name: "kubelego-tls-binder")
        #expect(fetched.data?["tls.crt"] == Data("crt2".utf8))

        try await client.delete(Secret.self, namespace: "binder", name: "kubelego-tls-binder")
        do {
            _ = try await client.get(Secret.self, namespace: "binder", name: "kubelego-tls-binder")
            Issue.record("a deleted Secret must be gone")
        } catch let error as KubernetesError {
            #expect(error.isNotFound)
            #expect(error.status?.details?.name == "kubelego-tls-binder")
        }
    }

    @Test("a kubernetes.io/tls Secret without tls.key is 422 Invalid with the field named")
    func invalidTLSSecret() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        do {
            _ = try await fakeClient(server).create(tlsSecret("default", "broken", data: ["tls.crt": Data("x".utf8)]))
            Issue.record("must be refused")
        } catch let error as KubernetesError {
            #expect(error.httpStatus == 422)
            #expect(error.status?.reason == "Invalid")
            #expect(error.status?.details?.causes?.first?.field == "data[tls.key]")
        }
        await #expect(throws: KubernetesError.self) {
            _ = try await fakeClient(server).create(tlsSecret("default", "Not_A_Name"))
        }
    }

    @Test("list follows continue tokens, page by page, with label and field selectors")
    func listing() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let lists = Mutex(0)
        let client = fakeClient(server, observer: { verb, _ in if verb == "list" { lists.withLock { $0 += 1 } } })
        for index in 0..<25 {
            _ = try await client.create(
                tlsSecret(
                    index < 20 ? "prod" : "staging", "cert-\(index)", labels: ["tier": index % 2 == 0 ? "even" : "odd"])
            )
        }
        _ = try await client.create(
            Secret(metadata: ObjectMeta(name: "opaque", namespace: "prod"), type: "Opaque", data: ["a": Data("b".utf8)])
        )

        let all = try await client.list(Secret.self, namespace: nil, pageSize: 10)
        #expect(all.count == 26)
        #expect(lists.withLock { $0 } == 3)
        #expect(Set(all.compactMap(\.metadata.name)).count == 26)

        let prod = try await client.list(Secret.self, namespace: "prod", fieldSelector: "type=kubernetes.io/tls")
        #expect(prod.count == 20)
        let even = try await client.list(Secret.self, namespace: nil, labelSelector: "tier=even")
        #expect(even.count == 13)
        let notEven = try await client.list(Secret.self, namespace: "staging", labelSelector: "tier!=even")
        #expect(notEven.map(\.metadata.name) == ["cert-21", "cert-23"])
        await #expect(throws: KubernetesError.self) {
            _ = try await client.list(Secret.self, namespace: nil, fieldSelector: "data.tls=x")
        }
    }

    @Test("a page of hundreds of objects is decoded in chunks on every core, in the server's order")
    func largePage() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let names = (0..<300).map { String(format: "cert-%03d", $0) }
        for name in names { _ = try await client.create(tlsSecret("prod", name, labels: ["n": name])) }
        var pages: [[String]] = []
        try await client.forEachPage(Secret.self, namespace: "prod", pageSize: 250) { page, fromStart in
            #expect(fromStart == pages.isEmpty)
            pages.append(page.compactMap(\.metadata.name))
            #expect(page.allSatisfy { $0.metadata.labels?["n"] == $0.metadata.name && $0.data?["tls.crt"] != nil })
        }
        #expect(pages.map(\.count) == [250, 50])
        #expect(pages.flatMap { $0 } == names)
    }

    @Test("a list's layout is found past strings with braces, quotes and escapes, in any member order")
    func listLayout() throws {
        let text = #"{"items":[{"a":"}{]\"["},{"b":[1,{"c":"\\"}]}, 7 ,"x"],"kind":"L","metadata":{"continue":"t,}"}}"#
        let bytes = Array(text.utf8)
        let layout = try #require(ListLayout(bytes))
        #expect(
            layout.items.map { String(decoding: bytes[$0], as: UTF8.self) } == [
                #"{"a":"}{]\"["}"#, #"{"b":[1,{"c":"\\"}]}"#, "7", #""x""#,
            ])
        #expect(layout.metadata.map { String(decoding: bytes[$0], as: UTF8.self) } == #"{"continue":"t,}"}"#)
        #expect(ListLayout(Array(#"{"items":[],"metadata":{}}"#.utf8))?.items.isEmpty == true)
        for broken in [#"{"items":[{"a":1}"#, #"[1,2]"#, #"{"items":[1 2]}"#, #"{"metadata":{"continue":"x}"#, ""] {
            #expect(ListLayout(Array(broken.utf8)) == nil, "\(broken)")
        }
    }

    @Test("a list whose continue token expires mid-way (410 Expired) restarts from the first page, and says so")
    func expiredContinue() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let warnings = Mutex<[String]>([])
        var client = fakeClient(server)
        client.onWarning = { object, warning in warnings.withLock { $0.append("\(object): \(warning)") } }
        for index in 0..<7 { _ = try await client.create(tlsSecret("prod", "cert-\(index)")) }
        // Compacted after the first page: the second page's token is too old.
        await server.compact(afterPages: 1)
        let names = try await client.list(Secret.self, namespace: "prod", pageSize: 3).compactMap(\.metadata.name)
        #expect(names == (0..<7).map { "cert-\($0)" }, "every Secret once, none twice")
        #expect(
            warnings.withLock { $0 }
                == [
                    "Secret list in namespace prod: the list's continue token expired (410 Expired); the list was restarted"
                ]
        )
        let log = await server.requestLog.filter { $0.hasPrefix("list ") }
        #expect(log.count == 5, "first page, the expired one, then the whole list again in 3 pages: \(log)")
    }

    @Test("the server's Warning headers reach the client's warnings (an unknown field)")
    func serverWarnings() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let warnings = Mutex<[String]>([])
        var client = fakeClient(server)
        client.onWarning = { _, warning in warnings.withLock { $0.append(warning) } }
        _ = try await client.create(
            ConfigMap(metadata: ObjectMeta(name: "plain", namespace: "prod"), data: ["a": "b"]))
        #expect(warnings.withLock { $0 }.isEmpty)
        let response = try await CurlTransport(userAgent: "t").send(
            HTTPRequest(
                method: .post, url: server.url + "/api/v1/namespaces/prod/configmaps",
                headers: ["Authorization": "Bearer test-token", "Content-Type": "application/json"],
                body: Array(#"{"metadata":{"name":"extra"},"bogus":1,"data":{"a":"b"}}"#.utf8), tls: server.tls))
        #expect(response.status == 201)
        #expect(response.headers.values("Warning") == [#"299 - "unknown field \"bogus\"""#])
    }

    @Test("merge patch changes annotations and honours a resourceVersion precondition")
    func mergePatch() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let created = try await client.create(tlsSecret("default", "patched"))
        let patch = try JSONValue.parse(#"{"metadata":{"annotations":{"certctl.io/failure-count":"2"}}}"#)
        let patched = try await client.mergePatch(Secret.self, namespace: "default", name: "patched", patch: patch)
        #expect(patched.metadata.annotations?["certctl.io/failure-count"] == "2")
        #expect(patched.data?["tls.key"] == Data("key".utf8))
        let stale = try JSONValue.parse(
            #"{"metadata":{"resourceVersion":"\#(created.metadata.resourceVersion ?? "")","labels":{"a":"b"}}}"#)
        await #expect(throws: KubernetesError.self) {
            _ = try await client.mergePatch(Secret.self, namespace: "default", name: "patched", patch: stale)
        }
    }

    @Test("Ingress, Service, Lease and Event round-trip through their API groups")
    func otherKinds() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        let tlsOnly = Ingress(
            metadata: ObjectMeta(name: "binder", namespace: "prod", annotations: ["kubernetes.io/tls-acme": "true"]),
            spec: .init(
                ingressClassName: "traefik", tls: [.init(hosts: ["mybinder.org"], secretName: "kubelego-tls-binder")])
        )
        await #expect(throws: KubernetesError.self, "no rules and no default backend: the server refuses it") {
            _ = try await client.create(tlsOnly)
        }
        _ = try await client.create(
            ingress("prod", "binder", tls: [(["mybinder.org"], "kubelego-tls-binder")], className: "traefik"))
        let listed = try await client.list(Ingress.self, namespace: nil)
        #expect(listed.first?.spec?.tls?.first?.secretName == "kubelego-tls-binder")
        _ = try await client.create(
            Lease(
                metadata: ObjectMeta(name: "certctl", namespace: "prod"),
                spec: .init(holderIdentity: "me", leaseDurationSeconds: 60, acquireTime: nil, renewTime: nil)))
        #expect(try await client.get(Lease.self, namespace: "prod", name: "certctl").spec?.holderIdentity == "me")
        _ = try await client.create(
            Service(
                metadata: ObjectMeta(name: "solver", namespace: "prod"),
                spec: .init(
                    selector: ["app": "certctl"], ports: [.init(name: "http", port: 80, targetPort: 8089)],
                    type: "ClusterIP")))
        #expect(try await client.list(Service.self, namespace: "prod").count == 1)
    }
}
