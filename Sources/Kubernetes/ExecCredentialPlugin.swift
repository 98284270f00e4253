import Basics
public import Foundation
import Synchronization
import Transport

/// A kubeconfig `users[].user.exec` credential plugin (GKE's gke-gcloud-auth-plugin, EKS's
/// aws-iam-authenticator): a command that prints an `ExecCredential` on stdout.
public struct ExecCredentialPlugin: Sendable, Equatable {
    public var apiVersion: String
    public var command: String
    public var arguments: [String]
    public var environment: [String: String]
    public var installHint: String?
    /// The kubeconfig's folder: a relative command path is resolved against it.
    public var baseDirectory: String?

    public init(
        apiVersion: String,
        command: String,
        arguments: [String] = [],
        environment: [String: String] = [:],
        installHint: String? = nil,
        baseDirectory: String? = nil
    ) {
        self.apiVersion = apiVersion
        self.command = command
        self.arguments = arguments
        self.environment = environment
        self.installHint = installHint
        self.baseDirectory = baseDirectory
    }

    /// What the plugin returned (`status` of the ExecCredential).
    public struct Credential: Sendable, Equatable {
        public var token: String?
        public var clientCertificateData: String?
        public var clientKeyData: String?
        public var expiration: Date?
    }

    static let supportedVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
    /// What is kept of the plugin's output: an ExecCredential is small; more is drained, not kept.
    static let outputLimit = 1 << 20
    static let errorLimit = 16 << 10

    /// Runs the plugin once, on a thread of its own (never on Swift's cooperative pool), and
    /// parses its answer; a plugin still running after `timeout` is terminated.
    public func run(cluster server: String, timeout: Duration = .seconds(60)) async throws -> Credential {
        guard Self.supportedVersions.contains(apiVersion) else {
            throw KubernetesError(
                .credentials,
                object: "exec plugin \(command)",
                reason: "apiVersion \(apiVersion) is not supported; use client.authentication.k8s.io/v1"
            )
        }
        var executable = command
        if command.contains("/"), !command.hasPrefix("/"), let baseDirectory {
            executable = (baseDirectory as NSString).appendingPathComponent(command)
        }
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let info: [String: Any] = [
            "apiVersion": apiVersion, "kind": "ExecCredential",
            "spec": ["interactive": false, "cluster": ["server": server]],
        ]
        if let data = try? JSONSerialization.data(withJSONObject: info) {
            env["KUBERNETES_EXEC_INFO"] = String(decoding: data, as: UTF8.self)
        }
        let result: BoundedProcess.Result
        do {
            result = try await BoundedProcess.run(
                executable, arguments: arguments, environment: env, timeout: timeout, outputLimit: Self.outputLimit,
                errorLimit: Self.errorLimit)
        } catch .cannotRun(let reason) {
            throw KubernetesError(
                .credentials, object: "exec plugin \(command)",
                reason: "cannot run it (\(reason))" + (installHint.map { "; \($0)" } ?? ""))
        } catch .timedOut(let errors) {
            throw KubernetesError(
                .credentials, object: "exec plugin \(command)",
                reason: "did not finish within \(timeout) and was stopped: \(errors.prefix(300))")
        }
        guard result.status == 0 else {
            throw KubernetesError(
                .credentials,
                object: "exec plugin \(command)",
                reason: "exited with \(result.status): \(result.errorText.prefix(300))"
            )
        }
        return try Self.parse(result.output, command: command)
    }

    static func parse(_ data: Data, command: String) throws -> Credential {
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            object["kind"] as? String == "ExecCredential", let status = object["status"] as? [String: Any]
        else {
            throw KubernetesError(
                .credentials, object: "exec plugin \(command)", reason: "did not print an ExecCredential")
        }
        let token = status["token"] as? String
        let certificate = status["clientCertificateData"] as? String
        let key = status["clientKeyData"] as? String
        guard token != nil || (certificate != nil && key != nil) else {
            throw KubernetesError(
                .credentials,
                object: "exec plugin \(command)",
                reason: "its ExecCredential has neither a token nor a client certificate and key"
            )
        }
        let expiration = (status["expirationTimestamp"] as? String).flatMap(Timestamp.rfc3339)
        return Credential(token: token, clientCertificateData: certificate, clientKeyData: key, expiration: expiration)
    }
}
