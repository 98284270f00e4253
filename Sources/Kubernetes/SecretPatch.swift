public import Basics
public import Foundation
import Transport

/// A change to a Secret's labels, annotations and data, sent as a JSON merge patch (RFC 7386)
/// with a `resourceVersion` precondition: only the keys named change, so nothing another writer
/// put on the object (finalizers, ownerReferences, `immutable`, other keys, fields certctl does
/// not model) is lost, and a write based on a stale read fails with 409 Conflict.
public struct SecretPatch: Sendable, Equatable {
    /// The version the change was computed from; nil for an unconditional change.
    public var resourceVersion: String?
    /// New values; nil removes the key.
    public var labels: [String: String?] = [:]
    public var annotations: [String: String?] = [:]
    public var data: [String: Data?] = [:]

    public init(resourceVersion: String?) {
        self.resourceVersion = resourceVersion
    }

    /// The annotation changes that turn `old` into `new` (keys only in `old` are removed).
    public static func delta(from old: [String: String], to new: [String: String]) -> [String: String?] {
        var changes: [String: String?] = [:]
        for (key, value) in new where old[key] != value { changes[key] = .some(value) }
        for key in old.keys where new[key] == nil { changes[key] = .some(nil) }
        return changes
    }

    public var isEmpty: Bool { labels.isEmpty && annotations.isEmpty && data.isEmpty }

    /// `{"metadata":{"resourceVersion":…,"labels":{…},"annotations":{…}},"data":{…}}`.
    public var mergePatch: JSONValue {
        func object(_ changes: [String: String?]) -> JSONValue {
            .object(changes.mapValues { $0.map(JSONValue.string) ?? .null })
        }
        var metadata: [String: JSONValue] = [:]
        if let resourceVersion { metadata["resourceVersion"] = .string(resourceVersion) }
        if !labels.isEmpty { metadata["labels"] = object(labels) }
        if !annotations.isEmpty { metadata["annotations"] = object(annotations) }
        var patch: [String: JSONValue] = ["metadata": .object(metadata)]
        if !data.isEmpty { patch["data"] = object(data.mapValues { $0?.base64EncodedString() }) }
        return .object(patch)
    }

    /// The same change applied to a Secret held in memory (the local store's twin of the server).
    public func applied(to secret: Secret) -> Secret {
        var result = secret
        func apply<V>(_ changes: [String: V?], to map: [String: V]?) -> [String: V]? {
            var map = map ?? [:]
            for (key, value) in changes { map[key] = value }
            return map.isEmpty ? nil : map
        }
        result.metadata.labels = apply(labels, to: secret.metadata.labels)
        result.metadata.annotations = apply(annotations, to: secret.metadata.annotations)
        result.data = apply(data, to: secret.data)
        return result
    }
}
