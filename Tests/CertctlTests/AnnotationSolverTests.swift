import ACME
import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Logging
import Testing
import Transport

/// The annotations as discover shows them and as the HTTP-01 solver acts on them (class, edit-in-place).
@Suite("cert-manager annotations in discover and the solver")
struct AnnotationDiscoverTests {
    @Test("the Ingress's http01-ingress-* annotations choose the solver Ingress's class over the issuer's")
    func solverClass() {
        var desired = DesiredCertificate(
            namespace: "prod", secretName: "s", hosts: ["a.mybinder.org"], issuer: "i", issuerKind: "ClusterIssuer",
            ingresses: ["a"], ingressClass: "traefik")
        let issuer = Issuer.HTTP01Solver(ingressClass: nil, ingressClassName: "nginx", serviceType: nil)
        desired.settings.http01IngressClassName = "public"
        #expect(IngressSolver.IngressClass.choose(solver: issuer, desired: desired) == .name("public"))
        desired.settings.http01IngressClassName = nil
        desired.settings.http01IngressClass = "legacy"
        #expect(IngressSolver.IngressClass.choose(solver: issuer, desired: desired) == .legacyAnnotation("legacy"))
    }

    @Test("certctl discover says what each annotation changed and warns of those it does not honour")
    func discover() async throws {
        let project = try LocalProject.make(server: "https://127.0.0.1:1/dir", sites: [])
        try """
        apiVersion: networking.k8s.io/v1
        kind: Ingress
        metadata:
          name: hub
          namespace: prod
          annotations:
            kubernetes.io/tls-acme: "true"
            cert-manager.io/private-key-algorithm: RSA
            cert-manager.io/private-key-size: "4096"
            cert-manager.io/renew-before: 720h
            cert-manager.io/usages: server auth
        spec:
          tls: [{hosts: [hub.mybinder.org], secretName: tls-hub}]
        """.write(to: project.directory.appendingPathComponent("ingress/hub.yaml"), atomically: true, encoding: .utf8)
        let result = try await CertctlProcess.run(["discover"] + LocalProject.flags, directory: project.directory)
        #expect(result.status == 0, "\(result.standardError)")
        #expect(
            result.standardOutput.contains(
                """
                prod/tls-hub:
                  key rsa-4096 (private-key-algorithm/-size)
                  renews 720h before expiry at the latest (renew-before)
                  warning: cert-manager.io/usages: server auth is not requested; the ACME CA sets the key usages
                """), "\(result.standardOutput)")
        let json = try await CertctlProcess.run(
            ["discover", "-o", "json"] + LocalProject.flags, directory: project.directory)
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(json.standardOutput.utf8)) as? [String: Any])
        let annotations = (object["certificates"] as? [[String: Any]])?.first?["annotations"] as? [String: [String]]
        #expect(annotations?["effects"]?.count == 2)
        #expect(annotations?["ignored"]?.count == 1)
    }
}

@Suite("http01-edit-in-place against the fake API server", .serialized)
struct EditInPlaceTests {
    /// The Ingress as stored, less what the server changes on every write.
    static func stored(_ server: FakeAPIServer, _ name: String) async throws -> String {
        var object = try #require(await server.object("networking.k8s.io/v1/ingresses", namespace: "prod", name: name))
        var metadata = object["metadata"] as? [String: Any] ?? [:]
        for key in ["resourceVersion", "managedFields", "generation"] { metadata[key] = nil }
        object["metadata"] = metadata
        return String(
            decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    @Test(
        "the challenge path is added to the Ingress itself (its host's rule, else a rule of its own) and removed exactly"
    )
    func editInPlace() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        var hub = ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")])
        hub.metadata.annotations?["acme.cert-manager.io/http01-edit-in-place"] = "true"
        _ = try await client.create(hub)
        // An Ingress whose rules name another host only: the path comes in a rule of its own.
        var bare = ingress("prod", "bare", tls: [(["bare.mybinder.org"], "tls-bare")])
        bare.spec?.rules?[0].host = "other.mybinder.org"
        _ = try await client.create(bare)
        let responder = try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "t"))
        defer { Task { await responder.stop() } }
        let pod = IngressSolver.Pod(name: "certctl-1", namespace: "prod", labels: ["job-name": "certctl-1"], port: 8089)
        for (name, host) in [("hub", "hub.mybinder.org"), ("bare", "bare.mybinder.org")] {
            let before = try await Self.stored(server, name)
            var solver = IngressSolver(
                client: client, responder: responder, pod: pod, namespace: "prod", ingressClass: .none,
                selfCheckPasses: 0, transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"))
            solver.editInPlace = [name]
            try await solver.present(identifier: .dns(host), token: "tok-\(name)", keyAuthorization: "k")
            let edited = try await client.get(Ingress.self, namespace: "prod", name: name)
            let rule = try #require(edited.spec?.rules?.first { $0.host == host })
            let path = try #require(rule.http?.paths.first)
            #expect(path.path == "/.well-known/acme-challenge/tok-\(name)" && path.pathType == "Exact")
            #expect(path.backend.service?.name.hasPrefix("certctl-http01-") == true)
            #expect(try await client.list(Ingress.self, namespace: "prod").count == 2, "no solver Ingress of its own")
            await solver.cleanUp(identifier: .dns(host), token: "tok-\(name)")
            #expect(try await Self.stored(server, name) == before, "\(name) is as it was, byte for byte")
        }
        #expect(try await client.list(Service.self, namespace: "prod").isEmpty)
    }

    @Test("a path someone else added meanwhile stays")
    func othersEditsStay() async throws {
        let server = try await FakeAPIServer.start()
        defer { Task { await server.stop() } }
        let client = fakeClient(server)
        _ = try await client.create(ingress("prod", "hub", tls: [(["hub.mybinder.org"], "tls-hub")]))
        let responder = try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "t"))
        defer { Task { await responder.stop() } }
        let pod = IngressSolver.Pod(name: "certctl-1", namespace: "prod", labels: ["job-name": "certctl-1"], port: 8089)
        var solver = IngressSolver(
            client: client, responder: responder, pod: pod, namespace: "prod", ingressClass: .none,
            selfCheckPasses: 0, transport: CurlTransport(userAgent: "t"), logger: Logger(label: "t"))
        solver.editInPlace = ["hub"]
        try await solver.present(identifier: .dns("hub.mybinder.org"), token: "tok", keyAuthorization: "k")
        // Another writer puts a path in front of certctl's.
        var changed = try await client.get(Ingress.self, namespace: "prod", name: "hub")
        let theirs = Ingress.Path(
            path: "/theirs", pathType: "Prefix", backend: .init(service: .init(name: "web", port: .init(number: 80))))
        changed.spec?.rules?[0].http?.paths.insert(theirs, at: 0)
        _ = try await client.update(changed)
        await solver.cleanUp(identifier: .dns("hub.mybinder.org"), token: "tok")
        let after = try await client.get(Ingress.self, namespace: "prod", name: "hub")
        #expect(after.spec?.rules?[0].http?.paths.map(\.path) == ["/theirs", "/"])
    }
}
