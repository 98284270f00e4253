import Basics
import Foundation
public import Kubernetes
import Transport

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The cluster seam with no cluster (the embedded default): Ingress manifests from a directory,
/// Secrets as `kubernetes.io/tls` Secret manifests in `STATE/secrets/NAMESPACE/NAME.yaml`
/// (atomic writes, mode 0600), so that `kubectl apply -R -f STATE/secrets` would install them.
/// Writes carry a `resourceVersion` and conflict like the API server's.
public struct LocalDirectoryStore: ClusterStore {
    public let manifests: String
    public let secretsDirectory: String

    public init(manifests: String, state: String) {
        self.manifests = manifests
        self.secretsDirectory = (state as NSString).appendingPathComponent("secrets")
    }

    public var name: String { "local" }

    // MARK: Ingresses

    public func ingresses(in scope: NamespaceScope) async throws -> (items: [Ingress], problems: [ObjectProblem]) {
        let sources = try await certificateSources(in: scope)
        return (sources.ingresses, sources.problems)
    }

    public func gatewayObjects(in scope: NamespaceScope) async throws -> (objects: GatewayObjects, notes: [String]) {
        (try await certificateSources(in: scope).gateways, [])
    }

    /// Ingresses, Gateways, ListenerSets and ReferenceGrants from the manifests, in one reading.
    public func certificateSources(in scope: NamespaceScope) async throws -> CertificateSources {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: manifests, isDirectory: &isDirectory) else {
            throw CertctlError(.invalidArgument, object: manifests, "no such manifests directory; pass --manifests DIR")
        }
        let files = isDirectory.boolValue ? Self.yamlFiles(under: manifests) : [manifests]
        var found = ManifestObjects()
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                found.problems.append(ObjectProblem(object: file, reason: "cannot read the file"))
                continue
            }
            found.add(Self.objects(inManifest: String(decoding: data, as: UTF8.self), file: file))
        }
        let inScope = { (metadata: ObjectMeta) in scope.contains(metadata.namespace ?? "default") }
        return CertificateSources(
            ingresses: found.ingresses.filter { inScope($0.metadata) },
            gateways: GatewayObjects(
                gateways: found.gateways.filter { inScope($0.metadata) },
                listenerSets: found.listenerSets.filter { inScope($0.metadata) },
                // A grant is read wherever it is: it speaks for the Secrets of its namespace.
                referenceGrants: found.referenceGrants),
            problems: found.problems)
    }

    /// The objects of manifests that ask for certificates.
    public struct ManifestObjects: Sendable {
        public var ingresses: [Ingress] = []
        public var gateways: [Gateway] = []
        public var listenerSets: [ListenerSet] = []
        public var referenceGrants: [ReferenceGrant] = []
        public var problems: [ObjectProblem] = []

        mutating func add(_ other: ManifestObjects) {
            ingresses += other.ingresses
            gateways += other.gateways
            listenerSets += other.listenerSets
            referenceGrants += other.referenceGrants
            problems += other.problems
        }
    }

    /// The Ingress objects of one manifest file's text (other kinds are skipped), and what is
    /// wrong with the rest, each named by `file:line`.
    public static func ingresses(inManifest text: String, file: String) -> (
        items: [Ingress], problems: [ObjectProblem]
    ) {
        let found = objects(inManifest: text, file: file)
        return (found.ingresses, found.problems)
    }

    /// The Ingresses, Gateways, ListenerSets and ReferenceGrants of one manifest file's text
    /// (other kinds are skipped), and what is wrong with them, each named by `file:line`.
    public static func objects(inManifest text: String, file: String) -> ManifestObjects {
        var found = ManifestObjects()
        let documents: [YAMLDocuments.Document]
        do {
            documents = try YAMLDocuments.parse(text, source: file, code: .invalidManifest)
        } catch {
            found.problems.append(ObjectProblem(object: file, reason: (error as? CertctlError)?.reason ?? "\(error)"))
            return found
        }
        for document in documents {
            guard let object = document.value as? [String: Any], let kind = object["kind"] as? String else { continue }
            let place = "\(file):\(document.line)"
            do {
                switch kind {
                case Ingress.kind: found.ingresses.append(try decodeObject(Ingress.self, from: object, place: place))
                case Gateway.kind: found.gateways.append(try decodeObject(Gateway.self, from: object, place: place))
                case ListenerSet.kind:
                    found.listenerSets.append(try decodeObject(ListenerSet.self, from: object, place: place))
                case ReferenceGrant.kind:
                    found.referenceGrants.append(try decodeObject(ReferenceGrant.self, from: object, place: place))
                default: continue
                }
            } catch {
                found.problems.append(
                    ObjectProblem(object: place, reason: (error as? CertctlError)?.reason ?? "\(error)"))
            }
        }
        return found
    }

    /// An object of a manifest, in namespace `default` when it names none.
    private static func decodeObject<R: KubernetesResource>(_ type: R.Type, from object: [String: Any], place: String)
        throws -> R
    {
        var decoded = try decode(R.self, from: object, place: place)
        if decoded.metadata.namespace == nil { decoded.metadata.namespace = "default" }
        return decoded
    }

    static func yamlFiles(under directory: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: directory) else { return [] }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            if relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") {
                files.append((directory as NSString).appendingPathComponent(relative))
            }
        }
        return files.sorted()
    }

    /// Through JSON, as the API server would: a value of the wrong type is an error, not a guess.
    static func decode<T: Decodable>(_ type: T.Type, from object: [String: Any], place: String) throws -> T {
        do {
            let data = Data(try JSONText.data(object))  // JSONSerialization took a third of reading a directory
            return try JSONDecoder().decode(type, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw CertctlError(
                .invalidManifest, object: place,
                "\(path) has the wrong type (annotations and labels must be quoted strings)")
        } catch {
            throw CertctlError(.invalidManifest, object: place, "is not a valid \(T.self): \(error)")
        }
    }

    // MARK: Secrets

    /// The file of Secret `namespace/name`; names that are not object names never reach the
    /// file system (no `../`).
    private func path(_ namespace: String, _ name: String) throws -> String {
        guard ObjectName.isDNSLabel(namespace), ObjectName.isDNSSubdomain(name) else {
            throw CertctlError(
                .invalidName, object: "Secret \(namespace)/\(name)",
                "is not a valid namespace and Secret name (\(ObjectName.labelRule); \(ObjectName.subdomainRule))")
        }
        return "\(secretsDirectory)/\(namespace)/\(name).yaml"
    }

    public func tlsSecrets<T: Sendable>(
        in scope: NamespaceScope, keeping: @Sendable (Secret) throws -> T?
    ) async throws -> (items: [T], problems: [ObjectProblem]) {
        var items: [T] = []
        var problems: [ObjectProblem] = []
        let namespaces = (try? FileManager.default.contentsOfDirectory(atPath: secretsDirectory)) ?? []
        for namespace in namespaces.sorted() where scope.contains(namespace) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(secretsDirectory)/\(namespace)")) ?? []
            for file in names.sorted() where file.hasSuffix(".yaml") {
                let name = String(file.dropLast(5))
                do {
                    if let secret = try read(namespace, name), secret.type == Secret.tlsType,
                        let item = try keeping(secret)
                    {
                        items.append(item)
                    }
                } catch let error as CertctlError {
                    problems.append(
                        ObjectProblem(object: "Secret \(namespace)/\(name)", reason: error.reason, namespace: namespace)
                    )
                }
            }
        }
        return (items, problems)
    }

    public func secret(namespace: String, name: String) async throws -> Secret? {
        try read(namespace, name)
    }

    private func read(_ namespace: String, _ name: String) throws -> Secret? {
        let file = try path(namespace, name)
        guard let object = try rawManifest(file) else { return nil }
        var secret = try Self.decode(Secret.self, from: object, place: file)
        secret.metadata.namespace = secret.metadata.namespace ?? namespace
        secret.metadata.resourceVersion = secret.metadata.annotations?[Self.revisionAnnotation]
        secret.metadata.annotations?[Self.revisionAnnotation] = nil
        return secret
    }

    public func deleteSecret(_ secret: Secret) async throws {
        let namespace = secret.metadata.namespace ?? "default"
        let name = secret.metadata.name ?? ""
        try withLock {
            let file = try path(namespace, name)
            guard let object = try rawManifest(file) else { return }
            let annotations = (object["metadata"] as? [String: Any])?["annotations"] as? [String: Any]
            let currentVersion = (annotations?[Self.revisionAnnotation] as? String) ?? "0"
            if currentVersion != (secret.metadata.resourceVersion ?? "0") {
                throw Self.status(
                    409, "Conflict",
                    "Operation cannot be fulfilled on Secret \"\(name)\": the ResourceVersion in the precondition (\(secret.metadata.resourceVersion ?? "0")) does not match the ResourceVersion in record (\(currentVersion)). The object might have been modified",
                    secret)
            }
            try FileManager.default.removeItem(atPath: file)
        }
    }

    public func create(_ secret: Secret) async throws -> Secret {
        try withLock {
            let (namespace, name) = try Self.identity(secret)
            if FileManager.default.fileExists(atPath: try path(namespace, name)) {
                throw Self.status(409, "AlreadyExists", "secrets \"\(name)\" already exists", secret)
            }
            return try write(secret, namespace: namespace, name: name, version: 1)
        }
    }

    /// Changes the keys the patch names in the manifest as it is on disk: whatever else the file
    /// holds (finalizers, ownerReferences, fields certctl does not model) stays.
    public func patch(_ patch: SecretPatch, namespace: String, name: String) async throws -> Secret {
        try withLock {
            let file = try path(namespace, name)
            let described = Secret(metadata: ObjectMeta(name: name, namespace: namespace), type: nil, data: nil)
            guard var object = try rawManifest(file) else {
                throw Self.status(404, "NotFound", "secrets \"\(name)\" not found", described)
            }
            var metadata = (object["metadata"] as? [String: Any]) ?? [:]
            var annotations = (metadata["annotations"] as? [String: Any]) ?? [:]
            let currentVersion = (annotations[Self.revisionAnnotation] as? String) ?? "0"
            if let sent = patch.resourceVersion, sent != currentVersion {
                throw Self.status(
                    409,
                    "Conflict",
                    "Operation cannot be fulfilled on secrets \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
                    described
                )
            }
            func apply(_ changes: [String: String?], to map: inout [String: Any]) {
                for (key, value) in changes { map[key] = value }
            }
            var labels = (metadata["labels"] as? [String: Any]) ?? [:]
            apply(patch.labels, to: &labels)
            metadata["labels"] = labels.isEmpty ? nil : labels
            apply(patch.annotations, to: &annotations)
            let revision = Bounded.integer(currentVersion, in: 0...(Int.max - 1)) ?? 0
            annotations[Self.revisionAnnotation] = String(revision + 1)
            metadata["annotations"] = annotations
            object["metadata"] = metadata
            var data = (object["data"] as? [String: Any]) ?? [:]
            apply(patch.data.mapValues { $0?.base64EncodedString() }, to: &data)
            object["data"] = data.isEmpty ? nil : data
            try AtomicFile.write(YAMLText.block(object), to: file, mode: 0o600)
            guard let stored = try read(namespace, name) else {
                throw CertctlError(.io, object: file, "disappeared while it was written")
            }
            return stored
        }
    }

    /// The manifest at `file` as read, `stringData` merged into `data` as the API server does.
    private func rawManifest(_ file: String) throws -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        let documents = try YAMLDocuments.parse(
            String(decoding: data, as: UTF8.self), source: file, code: .invalidManifest)
        guard var object = documents.first?.value as? [String: Any] else {
            throw CertctlError(.invalidManifest, object: file, "is not a Secret manifest")
        }
        if let strings = object["stringData"] as? [String: Any] {
            var merged = (object["data"] as? [String: Any]) ?? [:]
            for (key, value) in strings { merged[key] = Data("\(value)".utf8).base64EncodedString() }
            object["data"] = merged
            object["stringData"] = nil
        }
        return object
    }

    private func pendingPath(_ namespace: String, _ name: String) throws -> String {
        _ = try path(namespace, name)  // the same names only
        return ((secretsDirectory as NSString).deletingLastPathComponent as NSString).appendingPathComponent(
            "pending/\(namespace)/\(name).json")
    }

    public func pendingRecord(namespace: String, secretName: String) async throws -> [String: String]? {
        guard let data = AtomicFile.read(try pendingPath(namespace, secretName)) else { return nil }
        return (try? JSONDecoder().decode([String: String].self, from: Data(data))) ?? [:]
    }

    public func savePendingRecord(_ annotations: [String: String]?, namespace: String, secretName: String) async throws
    {
        let path = try pendingPath(namespace, secretName)
        guard let annotations else {
            try? FileManager.default.removeItem(atPath: path)
            return
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(annotations)), to: path, mode: 0o600)
    }

    private func write(_ secret: Secret, namespace: String, name: String, version: Int) throws -> Secret {
        if secret.type == Secret.tlsType {
            let missing = ["tls.crt", "tls.key"].filter { secret.data?[$0] == nil }
            guard missing.isEmpty else {
                throw Self.status(
                    422, "Invalid", "Secret \"\(name)\" is invalid: data[\(missing[0])]: Required value", secret)
            }
        }
        var stored = secret
        stored.metadata.namespace = namespace
        stored.metadata.resourceVersion = String(version)
        try AtomicFile.write(try Self.manifest(stored), to: try path(namespace, name), mode: 0o600)
        return stored
    }

    /// The local stand-in for `metadata.resourceVersion`, which a manifest must not carry
    /// (the API server refuses to create an object that has one).
    static let revisionAnnotation = "certctl.io/local-revision"

    /// The Secret as a manifest that `kubectl apply` takes.
    static func manifest(_ secret: Secret) throws -> String {
        var metadata: [String: Any] = [
            "name": secret.metadata.name ?? "", "namespace": secret.metadata.namespace ?? "default",
        ]
        if let labels = secret.metadata.labels, !labels.isEmpty { metadata["labels"] = labels }
        var annotations = secret.metadata.annotations ?? [:]
        if let version = secret.metadata.resourceVersion { annotations[revisionAnnotation] = version }
        if !annotations.isEmpty { metadata["annotations"] = annotations }
        var object: [String: Any] = ["apiVersion": "v1", "kind": "Secret", "metadata": metadata]
        if let type = secret.type { object["type"] = type }
        if let data = secret.data { object["data"] = data.mapValues { $0.base64EncodedString() } }
        return YAMLText.block(object)
    }

    private static func identity(_ secret: Secret) throws -> (String, String) {
        guard let name = secret.metadata.name, !name.isEmpty else {
            throw status(422, "Invalid", "Secret is invalid: metadata.name: Required value", secret)
        }
        return (secret.metadata.namespace ?? "default", name)
    }

    private static func status(_ code: Int, _ reason: String, _ message: String, _ secret: Secret) -> KubernetesError {
        KubernetesError(
            .status,
            object: "Secret \(secret.metadata.namespace ?? "default")/\(secret.metadata.name ?? "")",
            reason: "\(reason): \(message)",
            status: KubernetesStatus(message: message, reason: reason, details: nil, code: code)
        )
    }

    /// One writer at a time across processes (two runs on one state directory).
    private func withLock<T>(_ body: () throws -> T) throws -> T {
        try AtomicFile.createDirectory(secretsDirectory)
        let descriptor = open("\(secretsDirectory)/.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw CertctlError(.io, object: secretsDirectory, "cannot open the lock file")
        }
        defer { close(descriptor) }
        flock(descriptor, LOCK_EX)
        defer { flock(descriptor, LOCK_UN) }
        return try body()
    }
}
