import Foundation
import Transport

/// kubeconfig files as kubectl reads them: `KUBECONFIG` may list several, merged so that the
/// first file to set a cluster, user, context or `current-context` wins.
public struct Kubeconfig: Sendable {
    struct Cluster: Sendable {
        var server: String
        var certificateAuthority: String?
        var certificateAuthorityData: String?
        var insecureSkipTLSVerify: Bool
        var directory: String
        /// The kubeconfig file it came from, for messages.
        var file: String
    }

    struct User: Sendable {
        var token: String?
        var tokenFile: String?
        var clientCertificate: String?
        var clientCertificateData: String?
        var clientKey: String?
        var clientKeyData: String?
        var exec: ExecCredentialPlugin?
        /// An auth method certctl does not speak (auth-provider, username/password).
        var unsupported: String?
        var directory: String
    }

    struct Context: Sendable {
        var cluster: String
        var user: String
        var namespace: String?
    }

    private(set) var clusters: [String: Cluster] = [:]
    private(set) var users: [String: User] = [:]
    private(set) var contexts: [String: Context] = [:]
    public private(set) var currentContext: String?
    public private(set) var files: [String] = []

    public var contextNames: [String] { contexts.keys.sorted() }

    /// An empty configuration; `merge` adds files.
    public init() {}

    /// `explicit` (`--kubeconfig`), else `KUBECONFIG` (colon-separated), else `~/.kube/config`.
    public static func load(explicit: String?, environment: [String: String]) throws -> Kubeconfig {
        let paths: [String]
        if let explicit {
            paths = [explicit]
        } else if let list = environment["KUBECONFIG"], !list.isEmpty {
            paths = list.split(separator: ":").map(String.init).filter { !$0.isEmpty }
        } else {
            paths = [(environment["HOME"] ?? NSHomeDirectory()) + "/.kube/config"]
        }
        var config = Kubeconfig()
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                if explicit != nil || paths.count == 1 {
                    let exists = FileManager.default.fileExists(atPath: path)
                    let why =
                        exists ? "cannot read the kubeconfig file (permission denied?)" : "no kubeconfig file here"
                    let from =
                        explicit != nil
                        ? "given by --kubeconfig"
                        : environment["KUBECONFIG"]?.isEmpty == false
                            ? "named by KUBECONFIG" : "the default"
                    throw KubernetesError(
                        .configuration, object: path,
                        reason:
                            "\(why) (\(from)); pass --kubeconfig FILE, set KUBECONFIG, use --manifests DIR for local mode, or run in a pod (its service account is used)"
                    )
                }
                continue  // kubectl skips missing files in a KUBECONFIG list
            }
            try config.merge(String(decoding: data, as: UTF8.self), path: path)
        }
        return config
    }

    /// Adds one file; entries already known stay as they are.
    public mutating func merge(_ text: String, path: String) throws {
        let root: [String: Any]
        do {
            root = (try YAMLText.load(text) as? [String: Any]) ?? [:]
        } catch {
            throw KubernetesError(.configuration, object: path, reason: "is not valid YAML: \(error)")
        }
        files.append(path)
        let directory = (path as NSString).deletingLastPathComponent
        if currentContext == nil, let current = root["current-context"] as? String, !current.isEmpty {
            currentContext = current
        }
        for entry in (root["clusters"] as? [[String: Any]]) ?? [] {
            guard let name = entry["name"] as? String, clusters[name] == nil,
                let cluster = entry["cluster"] as? [String: Any]
            else {
                continue
            }
            guard let server = cluster["server"] as? String else {
                throw KubernetesError(.configuration, object: "\(path): cluster \(name)", reason: "has no server")
            }
            clusters[name] = Cluster(
                server: server,
                certificateAuthority: cluster["certificate-authority"] as? String,
                certificateAuthorityData: cluster["certificate-authority-data"] as? String,
                insecureSkipTLSVerify: cluster["insecure-skip-tls-verify"] as? Bool ?? false,
                directory: directory,
                file: path
            )
        }
        for entry in (root["users"] as? [[String: Any]]) ?? [] {
            guard let name = entry["name"] as? String, users[name] == nil else { continue }
            users[name] = try Self.user(
                (entry["user"] as? [String: Any]) ?? [:], name: name, path: path, directory: directory)
        }
        for entry in (root["contexts"] as? [[String: Any]]) ?? [] {
            guard let name = entry["name"] as? String, contexts[name] == nil,
                let context = entry["context"] as? [String: Any],
                let cluster = context["cluster"] as? String
            else { continue }
            contexts[name] = Context(
                cluster: cluster,
                user: context["user"] as? String ?? "",
                namespace: context["namespace"] as? String
            )
        }
    }

    private static func user(_ user: [String: Any], name: String, path: String, directory: String) throws -> User {
        var result = User(
            token: user["token"] as? String,
            tokenFile: user["tokenFile"] as? String,
            clientCertificate: user["client-certificate"] as? String,
            clientCertificateData: user["client-certificate-data"] as? String,
            clientKey: user["client-key"] as? String,
            clientKeyData: user["client-key-data"] as? String,
            directory: directory
        )
        if let exec = user["exec"] as? [String: Any] {
            guard let command = exec["command"] as? String else {
                throw KubernetesError(.configuration, object: "\(path): user \(name)", reason: "exec has no command")
            }
            var environment: [String: String] = [:]
            for variable in (exec["env"] as? [[String: Any]]) ?? [] {
                if let key = variable["name"] as? String, let value = variable["value"] as? String {
                    environment[key] = value
                }
            }
            result.exec = ExecCredentialPlugin(
                apiVersion: exec["apiVersion"] as? String ?? "",
                command: command,
                arguments: (exec["args"] as? [Any])?.map { "\($0)" } ?? [],
                environment: environment,
                installHint: exec["installHint"] as? String,
                baseDirectory: directory
            )
        }
        if let provider = user["auth-provider"] as? [String: Any] {
            result.unsupported =
                "auth-provider \(provider["name"] as? String ?? "?") (use an exec credential plugin instead)"
        } else if user["username"] != nil || user["password"] != nil {
            result.unsupported = "username and password (basic authentication was removed from Kubernetes)"
        }
        return result
    }

    /// The connection for `context` (the current context when nil), with warnings to log.
    public func connection(context requested: String?) throws -> (connection: ClusterConnection, warnings: [String]) {
        guard let name = requested ?? currentContext else {
            throw KubernetesError(
                .configuration,
                object: files.joined(separator: ":"),
                reason: "no current-context is set; pass --context (known: \(contextNames.joined(separator: ", ")))"
            )
        }
        guard let context = contexts[name] else {
            throw KubernetesError(
                .configuration,
                object: "context \(name)",
                reason: "not found in \(files.joined(separator: ":")) (known: \(contextNames.joined(separator: ", ")))"
            )
        }
        guard let cluster = clusters[context.cluster] else {
            throw KubernetesError(
                .configuration, object: "context \(name)",
                reason: "names the cluster \(context.cluster), which is not defined")
        }
        // Checked before any request: kubectl takes only http(s) URLs with a host.
        guard let url = URL(string: cluster.server), ["https", "http"].contains(url.scheme?.lowercased() ?? ""),
            let host = url.host, !host.isEmpty
        else {
            throw KubernetesError(
                .configuration, object: "\(cluster.file): cluster \(context.cluster)",
                reason:
                    "server \"\(cluster.server)\" is not a URL like https://host:6443; correct its cluster.server field"
            )
        }
        let user = users[context.user]
        if let unsupported = user?.unsupported {
            throw KubernetesError(
                .configuration, object: "user \(context.user)",
                reason: "uses \(unsupported), which certctl does not support")
        }
        var warnings: [String] = []
        var tls = TLSOptions()
        tls.caBundle = try Self.material(
            data: cluster.certificateAuthorityData, file: cluster.certificateAuthority, directory: cluster.directory,
            what: "certificate-authority of cluster \(context.cluster)")
        if cluster.insecureSkipTLSVerify {
            tls.skipVerification = true
            warnings.append(
                "cluster \(context.cluster) sets insecure-skip-tls-verify: the API server's certificate is not checked")
        }
        let credentials = try user.map { try Self.credentials(of: $0, named: context.user, tls: &tls) } ?? .none
        let connection = ClusterConnection(
            name: name,
            server: cluster.server,
            tls: tls,
            credentials: credentials,
            namespace: context.namespace ?? "default"
        )
        return (connection, warnings)
    }

    /// A user's client certificate and key (into `tls`) and its credentials.
    private static func credentials(of user: User, named name: String, tls: inout TLSOptions) throws
        -> ClusterConnection.Credentials
    {
        tls.clientCertificate = try Self.material(
            data: user.clientCertificateData, file: user.clientCertificate, directory: user.directory,
            what: "client-certificate of user \(name)")
        tls.clientKey = try Self.material(
            data: user.clientKeyData, file: user.clientKey, directory: user.directory,
            what: "client-key of user \(name)")
        if let token = user.token {
            return .token(token)
        } else if let file = user.tokenFile {
            return .tokenFile(Self.resolve(file, in: user.directory))
        } else if let exec = user.exec {
            return .exec(exec)
        }
        return .none
    }

    /// Inline base64 data, else a file (relative to the kubeconfig's folder).
    private static func material(data: String?, file: String?, directory: String, what: String) throws -> [UInt8]? {
        if let data {
            guard let decoded = Data(base64Encoded: data.filter { !$0.isWhitespace }) else {
                throw KubernetesError(.configuration, object: what, reason: "the -data value is not base64")
            }
            return Array(decoded)
        }
        if let file {
            let path = resolve(file, in: directory)
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw KubernetesError(.configuration, object: what, reason: "cannot read \(path)")
            }
            return Array(contents)
        }
        return nil
    }

    private static func resolve(_ path: String, in directory: String) -> String {
        path.hasPrefix("/") ? path : (directory as NSString).appendingPathComponent(path)
    }
}
