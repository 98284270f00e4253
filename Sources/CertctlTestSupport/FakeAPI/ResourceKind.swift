import Basics
import Transport

/// A kind the fake serves, with the rules the real API server applies to it.
struct ResourceKind: Sendable {
    var group: String
    var version: String
    var kind: String
    var plural: String
    var namespaced: Bool
    /// How bodies are read: a built-in kind's Go type, or a CRD's OpenAPI schema.
    var body: Body
    /// `metadata.name`'s rule (`NameIsDNSSubdomain`, `NameIsDNSLabel`).
    var nameRule: @Sendable (String) -> [String] = NameRules.dns1123Subdomain
    /// Whether writes bump `metadata.generation` when anything but metadata and status changes.
    var hasGeneration = false
    /// Services answer a delete with the object, most kinds with a `Status`.
    var deleteReturnsObject = false
    /// Field selectors beyond `metadata.name` and `metadata.namespace`.
    var fieldSelectors: Set<String> = []
    /// Where objects are kept: kinds served by two APIs (Events) share one store.
    var storage: String
    /// Where its version stands in its CRD's list (group discovery prefers the first).
    var versionRank = 0
    /// A `status` subresource: the main resource ignores status, `/status` changes only it.
    var hasStatusSubresource = false
    /// Only `create` (reviews): nothing is stored.
    var isVirtual = false
    /// The group its 422 Invalid names: Events of `events.k8s.io` are validated as core Events.
    var validationGroup: String?
    /// Server-set defaults applied on create (and on update, with the old object).
    var defaults: @Sendable (inout [String: JSONValue], _ old: [String: JSONValue]?, inout Allocator) -> Void = {
        _, _, _ in
    }
    /// A CRD's `x-kubernetes-validations` (CEL) that the fake evaluates (``CustomRules``), run as
    /// the real server runs them: only when the schema found nothing.
    var celRules: @Sendable (_ new: [String: JSONValue]) -> [FieldError] = { _ in [] }
    /// The kind's own validation (ObjectMeta is checked for every kind).
    var validate: @Sendable (_ new: [String: JSONValue], _ old: [String: JSONValue]?) -> [FieldError] = { _, _ in [] }
    /// The form of a stored object this API serves (Events are kept in `events.k8s.io/v1` form
    /// and shown by `core/v1` in its own).
    var toServed: @Sendable ([String: JSONValue]) -> [String: JSONValue] = { $0 }
    var fromServed: @Sendable ([String: JSONValue]) -> [String: JSONValue] = { $0 }

    enum Body: Sendable {
        case builtin(ObjectSchema)
        case custom(OpenAPISchema, hasRules: Bool)
    }

    var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// `secrets`, `leases.coordination.k8s.io`.
    var qualifiedResource: String { group.isEmpty ? plural : "\(plural).\(group)" }
    /// `Secret`, `Lease.coordination.k8s.io`, as a 422 Invalid names it.
    var qualifiedKind: String {
        let group = validationGroup ?? group
        return group.isEmpty ? kind : "\(kind).\(group)"
    }
    /// `v1/secrets`, `coordination.k8s.io/v1/leases`: the key tests use for faults and logs.
    var collection: String { "\(groupVersion)/\(plural)" }
    var isCustom: Bool {
        if case .custom = body { true } else { false }
    }
}

/// Values the server allocates: cluster IPs and node ports.
struct Allocator: Sendable {
    private var nextIP = 1
    private var nextNodePort = 30000

    mutating func clusterIP() -> String {
        defer { nextIP += 1 }
        return "10.96.\(nextIP / 250).\(nextIP % 250 + 2)"
    }

    mutating func nodePort() -> Int {
        defer { nextNodePort += 1 }
        return nextNodePort
    }
}

extension [String: JSONValue] {
    /// The value at a dotted path of object members (`spec.holderIdentity`).
    func at(_ path: String) -> JSONValue? {
        var current: JSONValue? = .object(self)
        for key in path.split(separator: ".") { current = current?[String(key)] }
        return current
    }

    func string(_ path: String) -> String? { at(path)?.stringValue }
    func object(_ path: String) -> [String: JSONValue] { at(path)?.objectValue ?? [:] }
    func array(_ path: String) -> [JSONValue] { at(path)?.arrayValue ?? [] }

    /// Sets the value at a dotted path, creating the objects on the way.
    mutating func set(_ path: String, _ value: JSONValue?) {
        let keys = path.split(separator: ".").map(String.init)
        func assign(_ object: inout [String: JSONValue], _ keys: ArraySlice<String>) {
            guard let key = keys.first else { return }
            if keys.count == 1 {
                object[key] = value
            } else {
                var child = object[key]?.objectValue ?? [:]
                assign(&child, keys.dropFirst())
                object[key] = .object(child)
            }
        }
        assign(&self, keys[...])
    }
}
