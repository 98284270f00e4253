public import Foundation
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

    /// Runs the plugin once and parses its answer.
    public func run(cluster server: String) throws -> Credential {
        guard Self.supportedVersions.contains(apiVersion) else {
            throw KubernetesError(
                .credentials,
                object: "exec plugin \(command)",
                reason: "apiVersion \(apiVersion) is not supported; use client.authentication.k8s.io/v1"
            )
        }
        let process = Process()
        var executable = command
        if command.contains("/"), !command.hasPrefix("/"), let baseDirectory {
            executable = (baseDirectory as NSString).appendingPathComponent(command)
        }
        if executable.contains("/") {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [executable] + arguments
        }
        var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let info: [String: Any] = [
            "apiVersion": apiVersion, "kind": "ExecCredential",
            "spec": ["interactive": false, "cluster": ["server": server]],
        ]
        if let data = try? JSONSerialization.data(withJSONObject: info) {
            env["KUBERNETES_EXEC_INFO"] = String(decoding: data, as: UTF8.self)
        }
        process.environment = env
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw KubernetesError(
                .credentials,
                object: "exec plugin \(command)",
                reason: "cannot run it (\(error.localizedDescription))" + (installHint.map { "; \($0)" } ?? "")
            )
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw KubernetesError(
                .credentials,
                object: "exec plugin \(command)",
                reason: "exited with \(process.terminationStatus): \(errorText.prefix(300))"
            )
        }
        return try Self.parse(data, command: command)
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
