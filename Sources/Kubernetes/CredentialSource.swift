import Foundation
import Transport

/// The credentials of each request: a token file re-read before use (bound tokens rotate), an
/// exec plugin's answer cached until shortly before it expires.
actor CredentialSource {
    struct Current {
        var token: String?
        var tls: TLSOptions
    }

    private let connection: ClusterConnection
    private var cached: (credential: ExecCredentialPlugin.Credential, fetched: Date)?
    /// The plugin run under way: concurrent requests wait for the same one.
    private var running: Task<ExecCredentialPlugin.Credential, any Error>?

    init(connection: ClusterConnection) {
        self.connection = connection
    }

    func current() async throws -> Current {
        switch connection.credentials {
        case .none:
            return Current(token: nil, tls: connection.tls)
        case .token(let token):
            return Current(token: token, tls: connection.tls)
        case .tokenFile(let path):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw KubernetesError(.credentials, object: path, reason: "cannot read the token file")
            }
            return Current(
                token: String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines),
                tls: connection.tls)
        case .exec(let plugin):
            let credential = try await execCredential(plugin)
            var tls = connection.tls
            if let certificate = credential.clientCertificateData, let key = credential.clientKeyData {
                tls.clientCertificate = Array(certificate.utf8)
                tls.clientKey = Array(key.utf8)
            }
            return Current(token: credential.token, tls: tls)
        }
    }

    /// After a 401 the next request asks the plugin again.
    func invalidate() {
        cached = nil
    }

    private func execCredential(_ plugin: ExecCredentialPlugin) async throws -> ExecCredentialPlugin.Credential {
        if let cached {
            let fresh = cached.credential.expiration.map { $0.timeIntervalSinceNow > 30 } ?? true
            if fresh { return cached.credential }
        }
        if let running { return try await running.value }
        let server = connection.server
        let task = Task { try await plugin.run(cluster: server) }
        running = task
        defer { running = nil }
        let credential = try await task.value
        cached = (credential, Date())
        return credential
    }
}
