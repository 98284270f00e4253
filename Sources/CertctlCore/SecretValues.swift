import Foundation
import Kubernetes

/// Reads one value of a Secret (an EAB MAC key, an SMTP password) without it ever reaching a log.
public protocol SecretValueSource: Sendable {
    func value(of reference: Issuer.SecretKeyReference) async throws -> [UInt8]
}

/// Secrets as manifests on disk: `DIR/NAMESPACE/NAME.yaml` in any of `directories`
/// (the state directory's `secrets/`, where certctl writes, and any the operator adds).
public struct LocalSecretValues: SecretValueSource {
    public var directories: [String]

    public init(directories: [String]) {
        self.directories = directories
    }

    public func value(of reference: Issuer.SecretKeyReference) async throws -> [UInt8] {
        let fileManager = FileManager.default
        for directory in directories {
            let namespaces = (try? fileManager.contentsOfDirectory(atPath: directory)) ?? []
            for namespace in namespaces.sorted() {
                let path = "\(directory)/\(namespace)/\(reference.name).yaml"
                guard let bytes = AtomicFile.read(path) else { continue }
                return try Self.value(
                    reference.key, inSecretManifest: String(decoding: bytes, as: UTF8.self), path: path)
            }
        }
        throw CertctlError(
            .invalidIssuer,
            object: "Secret \(reference.name)",
            "not found in \(directories.joined(separator: ", ")); create it with the key \"\(reference.key)\""
        )
    }

    static func value(_ key: String, inSecretManifest text: String, path: String) throws -> [UInt8] {
        let object = (try? YAMLText.load(text)) as? [String: Any]
        if let data = object?["data"] as? [String: Any], let encoded = data[key] as? String,
            let decoded = Data(base64Encoded: encoded.filter { !$0.isWhitespace })
        {
            return Array(decoded)
        }
        if let data = object?["stringData"] as? [String: Any], let value = data[key] as? String {
            return Array(value.utf8)
        }
        throw CertctlError(.invalidIssuer, object: path, "the Secret has no key \"\(key)\" in data or stringData")
    }
}
