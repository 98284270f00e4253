import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Kubernetes
import Testing
import Transport

/// Nothing secret leaks: every command of a run's life, at trace level in both log formats, with
/// an EAB binding, an SMTP password, a webhook key and a bearer token in play; then every byte it
/// printed, wrote as metrics or reported is searched for the key material it generated.
@Suite("Secret hygiene: no key, token, MAC key or password in any output", .serialized)
struct SecretHygieneTests {
    /// Pieces of a secret long enough to be unmistakable: every 24-character window of its
    /// base64 text, sampled, so a key printed whole, cut or re-wrapped is still found.
    static func fingerprints(ofPEM pem: String) -> [String] {
        let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        return stride(from: 0, to: max(body.count - 24, 1), by: 16).map {
            String(body.dropFirst($0).prefix(24))
        }
    }

    @Test("run, status, notify and the exporter's metrics at trace level leak nothing")
    func noSecretInOutput() async throws {
        let port = freeLoopbackPort()
        var options = Pebble.Options()
        var random = SystemRandomNumberGenerator()
        let macBytes = (0..<48).map { _ in UInt8.random(in: 0...255, using: &random) }
        let macKey = Base64URL.encode(macBytes)
        options.externalAccountMACKeys = ["kid-1": macKey]
        let pebble = try await Pebble.start(httpPort: port, options: options)
        defer { pebble.stop() }

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("hygiene-\(UUID().uuidString)")
        let state = folder.appendingPathComponent("state")
        for directory in ["issuers", "ingress", "state/secrets/certctl"] {
            try FileManager.default.createDirectory(
                at: folder.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        func write(_ text: String, _ path: String) throws {
            try text.write(to: folder.appendingPathComponent(path), atomically: true, encoding: .utf8)
        }
        try write(
            """
            kind: ClusterIssuer
            metadata: {name: pebble}
            spec:
              acme:
                server: \(pebble.directoryURL)
                caBundle: \(Data(Pebble.caBundle).base64EncodedString())
                privateKeySecretRef: {name: pebble-account}
                externalAccountBinding:
                  keyID: kid-1
                  keySecretRef: {name: eab, key: secret}
            """, "issuers/pebble.yaml")
        try write(
            """
            apiVersion: v1
            kind: Secret
            metadata: {name: eab, namespace: certctl}
            data:
              secret: \(Data(macKey.utf8).base64EncodedString())
            """, "state/secrets/certctl/eab.yaml")
        for index in 0..<3 {
            try write(
                """
                apiVersion: networking.k8s.io/v1
                kind: Ingress
                metadata: {name: site\(index), namespace: prod, annotations: {kubernetes.io/tls-acme: "true"}}
                spec:
                  tls: [{secretName: tls-site\(index), hosts: [site\(index).mybinder.org]}]
                """, "ingress/site\(index).yaml")
        }
        let password = "pw-\(UUID().uuidString)"
        let webhookKey = "hook-\(UUID().uuidString)"
        let dead = freeLoopbackPort()
        try write(password, "smtp-password")
        try write("http://127.0.0.1:\(dead)/hooks/\(webhookKey)", "webhook-url")
        try write(
            """
            channels:
              - name: mail
                email:
                  smtp: smtp://127.0.0.1:\(dead)
                  from: certctl@mybinder.org
                  to: [ops@mybinder.org]
                  username: certctl
                  passwordFile: \(folder.path)/smtp-password
              - name: chat
                webhook: {urlFile: \(folder.path)/webhook-url, format: slack}
            """, "notify.yaml")

        let common = [
            "--manifests", "ingress", "--state", "state", "--issuers", "issuers", "--default-issuer", "pebble",
        ]
        var output = ""
        func certctl(_ arguments: [String]) async throws -> Int32 {
            let result = try await CertctlProcess.run(arguments, directory: folder)
            output += result.standardOutput + result.standardError
            return result.status
        }
        for format in ["json", "text"] {
            _ = try await certctl(
                ["run"] + common + [
                    "--http01-listen", "127.0.0.1:\(port)", "--log-level", "trace", "--log-format", format,
                    "--metrics-file", "metrics-\(format).prom", "--notify-config", "notify.yaml",
                ])
            // Renew everything again (as `kubectl annotate` would), so the second pass orders too.
            let store = LocalDirectoryStore(
                manifests: folder.appendingPathComponent("ingress").path, state: state.path)
            for index in 0..<3 {
                guard var secret = try await store.secret(namespace: "prod", name: "tls-site\(index)") else {
                    Issue.record("tls-site\(index) was not issued")
                    continue
                }
                secret.metadata.annotations?["certctl.io/renew-requested"] = "true"
                _ = try await store.update(secret)
            }
        }
        for view in [["-o", "wide"], ["-o", "json"], []] {
            _ = try await certctl(["status"] + common + view + ["--log-level", "trace"])
        }
        _ = try await certctl(["discover"] + common + ["--log-level", "trace"])
        #expect(try await certctl(["notify", "--test", "--notify-config", "notify.yaml", "--log-level", "trace"]) != 0)
        for format in ["json", "text"] {
            output +=
                (try? String(contentsOf: folder.appendingPathComponent("metrics-\(format).prom"), encoding: .utf8))
                ?? ""
        }

        // What must never appear.
        var secrets: [(String, String)] = [
            ("EAB MAC key", macKey), ("EAB MAC key (standard base64)", Data(macBytes).base64EncodedString()),
            ("SMTP password", password), ("webhook key", webhookKey),
        ]
        var keyFiles = 0
        let enumerator = FileManager.default.enumerator(atPath: state.path)
        while let relative = enumerator?.nextObject() as? String {
            let path = state.appendingPathComponent(relative).path
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
            var pems: [String] = []
            if text.contains("PRIVATE KEY") { pems.append(text) }
            // Secret manifests hold the key base64-encoded under data.tls.key.
            for line in text.split(separator: "\n") where line.contains("tls.key:") {
                let encoded = line.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
                if let decoded = Data(base64Encoded: encoded) {
                    pems.append(String(decoding: decoded, as: UTF8.self))
                    secrets.append(("\(relative) data.tls.key", String(encoded.prefix(48))))
                }
            }
            for pem in pems {
                keyFiles += 1
                secrets += Self.fingerprints(ofPEM: pem).map { ("private key in \(relative)", $0) }
                let attributes = try FileManager.default.attributesOfItem(atPath: path)
                #expect((attributes[.posixPermissions] as? Int) == 0o600, "\(relative) must be 0600")
            }
        }

        #expect(keyFiles >= 4, "three certificate keys and an account key were written")
        #expect(output.contains("trace") || output.contains("\"level\":\"trace\""), "trace logging ran")
        #expect(output.split(separator: "\n").count > 100, "the commands said enough to be worth searching")
        for (what, secret) in secrets {
            #expect(!output.contains(secret), "\(what) leaked")
        }
    }

    @Test("a bearer token and client key of the kubeconfig never reach the output")
    func noTokenInOutput() async throws {
        let token = "tok-\(UUID().uuidString)"
        let server = try await FakeAPIServer.start(tokens: [token])
        defer { Task { await server.stop() } }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: folder.appendingPathComponent("issuers"), withIntermediateDirectories: true)
        try server.kubeconfig(token: token).write(
            to: folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        var output = ""
        for command in [["status", "-A"], ["discover", "-A"], ["status", "-n", "prod", "-o", "json"]] {
            let result = try await CertctlProcess.run(
                command + ["--kubeconfig", "kubeconfig", "--issuers", "issuers", "--log-level", "trace"],
                directory: folder)
            output += result.standardOutput + result.standardError
        }
        // And with a wrong token: the 401 is reported without the token that was refused.
        try server.kubeconfig(token: token + "-wrong").write(
            to: folder.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        let refused = try await CertctlProcess.run(
            ["status", "-A", "--kubeconfig", "kubeconfig", "--issuers", "issuers", "--log-level", "trace"],
            directory: folder)
        output += refused.standardOutput + refused.standardError
        #expect(refused.status != 0)
        #expect(output.contains("401") || output.lowercased().contains("unauthorized"))
        #expect(!output.contains(token), "\(output)")
        #expect(await server.requestCounts.values.reduce(0, +) > 3, "the commands reached the API server")
    }
}
