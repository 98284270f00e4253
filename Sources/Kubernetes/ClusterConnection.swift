import Foundation
public import Transport

/// How to reach one API server and who to be there: from a kubeconfig context or in-cluster.
public struct ClusterConnection: Sendable {
    public enum Credentials: Sendable {
        case none
        /// A fixed bearer token (kubeconfig `token`).
        case token(String)
        /// A token file read before every request: bound service-account tokens rotate.
        case tokenFile(String)
        /// An exec credential plugin (`client.authentication.k8s.io/v1`).
        case exec(ExecCredentialPlugin)
    }

    /// The name shown in status tables (kubeconfig context, or `in-cluster`).
    public var name: String
    public var server: String
    /// CA, client certificate and key (kubeconfig data or files, read once).
    public var tls: TLSOptions
    public var credentials: Credentials
    /// The namespace of the context (or of the service account).
    public var namespace: String

    public init(name: String, server: String, tls: TLSOptions, credentials: Credentials, namespace: String) {
        self.name = name
        self.server = server.hasSuffix("/") ? String(server.dropLast()) : server
        self.tls = tls
        self.credentials = credentials
        self.namespace = namespace
    }
}

extension ClusterConnection {
    /// The pod's own service account (`/var/run/secrets/kubernetes.io/serviceaccount`) and the
    /// `KUBERNETES_SERVICE_HOST`/`_PORT` variables the kubelet sets.
    public static func inCluster(
        environment: [String: String],
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws -> ClusterConnection {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty else {
            throw KubernetesError(
                .configuration,
                object: "in-cluster configuration",
                reason: "KUBERNETES_SERVICE_HOST is not set: not in a pod; pass --kubeconfig or --manifests"
            )
        }
        let port = environment["KUBERNETES_SERVICE_PORT"] ?? "443"
        let tokenPath = serviceAccountDirectory + "/token"
        guard FileManager.default.isReadableFile(atPath: tokenPath) else {
            throw KubernetesError(
                .configuration,
                object: tokenPath,
                reason: "the service-account token is missing; set automountServiceAccountToken: true on the pod"
            )
        }
        let ca = FileManager.default.contents(atPath: serviceAccountDirectory + "/ca.crt").map(Array.init)
        let namespace = FileManager.default.contents(atPath: serviceAccountDirectory + "/namespace")
            .map { String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return ClusterConnection(
            name: "in-cluster",
            server: "https://\(bracketed):\(port)",
            tls: TLSOptions(caBundle: ca),
            credentials: .tokenFile(tokenPath),
            namespace: namespace ?? "default"
        )
    }
}
