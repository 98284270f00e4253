import Basics
import Foundation
import Transport

/// The storage and rules of ``FakeAPIServer``: authentication, RBAC, routing, and the verbs in
/// `FakeAPIVerbs.swift`. Objects are kept as the server keeps them (decoded, defaulted, with the
/// fields it sets) and written back in the served API's form.
actor FakeAPIState {
    struct Fault {
        var verb: String
        var collection: String
        /// The status answered instead of doing the request; 0: do it, but answer late.
        var status: Int
        var count: Int
    }

    /// What ``answer(_:)`` decided: the answer, and whether to hold it back past a client's timeout.
    struct Answer {
        var response: ServerResponse
        var late = false
    }

    /// One request, as routing understood it.
    struct Target {
        var kind: ResourceKind
        var namespace: String?
        var name: String?
        var subresource: String?
        var query: [String: String]
        var user: FakeAPIUser
        var userAgent: String
    }

    /// Kinds by `GROUP/VERSION/PLURAL` (core: `v1/PLURAL`).
    private(set) var kinds: [String: ResourceKind]
    private var users: [FakeAPIUser]
    /// storage → `namespace/name` (cluster-scoped: `/name`) → the stored object.
    var store: [String: [String: [String: JSONValue]]] = [:]
    var resourceVersion = 1000
    var allocator = Allocator()
    /// Lists seen by a `continue` token: the storage as it was at that resourceVersion.
    var snapshots: [(version: Int, storage: String, objects: [String: [String: JSONValue]])] = []
    /// A storage's keys in list order, as of a resourceVersion (lists of thousands of objects
    /// are paged: sorted once, not once per page).
    var sortedKeys: [String: (version: Int, keys: [String])] = [:]
    /// Each object's list item as served, by storage and key, with the resourceVersion it was
    /// made from: a page of a large list is mostly copies of these.
    var listItems: [String: (version: String, bytes: [UInt8])] = [:]
    /// Tokens older than this are expired (410), as after an etcd compaction.
    var compactedVersion = 0
    /// Compact after this many more list pages are served (a compaction in the middle of a list).
    var compactAfterPages: Int?
    private var faults: [Fault] = []
    private(set) var counts: [String: Int] = [:]
    /// Every request as "verb collection namespace/name user".
    private(set) var log: [String] = []

    init(users: [FakeAPIUser], namespaces: [String], kinds: [ResourceKind]) {
        self.users = users
        self.kinds = Dictionary(kinds.map { ($0.collection, $0) }) { first, _ in first }
        var version = resourceVersion
        var objects: [String: [String: JSONValue]] = [:]
        for namespace in namespaces {
            version += 1
            objects["/\(namespace)"] = Self.namespaceObject(namespace, version: version)
        }
        store["namespaces"] = objects
        resourceVersion = version
    }

    /// A namespace as the server creates it (labels, finalizer, phase), at `version`.
    static func namespaceObject(_ name: String, version: Int) -> [String: JSONValue] {
        var object: [String: JSONValue] = ["metadata": .object(["name": .string(name)])]
        var allocator = Allocator()
        BuiltinKinds.namespace.defaults(&object, nil, &allocator)
        object.set("metadata.uid", .string(UUID().uuidString.lowercased()))
        object.set("metadata.creationTimestamp", .string(Timestamp.rfc3339(Date())))
        object.set("metadata.resourceVersion", .string(String(version)))
        return object
    }

    /// Serves `added` from now on, as a CRD installed into a running cluster.
    func install(_ added: [ResourceKind]) {
        for kind in added where kinds[kind.collection] == nil { kinds[kind.collection] = kind }
    }

    func addUser(_ user: FakeAPIUser) {
        users.append(user)
    }

    var adminToken: String { users.first { $0.isAdmin && $0.token != nil }?.token ?? "" }

    func addFault(verb: String, collection: String, status: Int, count: Int) {
        faults.append(Fault(verb: verb, collection: collection, status: status, count: count))
    }

    func compact(afterPages pages: Int) {
        compactAfterPages = pages
    }

    /// Every outstanding `continue` token expires, as when etcd compacts.
    func compact() {
        compactedVersion = resourceVersion
        snapshots = []
    }

    func nextVersion() -> String {
        resourceVersion += 1
        return String(resourceVersion)
    }

    func ensureNamespace(_ name: String) {
        if store["namespaces"]?["/\(name)"] == nil { addNamespace(name) }
    }

    func addNamespace(_ name: String) {
        resourceVersion += 1
        store["namespaces", default: [:]]["/\(name)"] = Self.namespaceObject(name, version: resourceVersion)
    }

    func objectJSON(_ collection: String, namespace: String, name: String) -> [UInt8]? {
        guard let kind = kinds[collection], let object = store[kind.storage]?[key(kind, namespace, name)] else {
            return nil
        }
        return JSONValue.object(served(object, kind)).serialized()
    }

    func touch(_ collection: String, namespace: String, name: String) {
        guard let kind = kinds[collection], var object = store[kind.storage]?[key(kind, namespace, name)] else {
            return
        }
        object.set("metadata.resourceVersion", .string(nextVersion()))
        store[kind.storage]?[key(kind, namespace, name)] = object
    }

    func key(_ kind: ResourceKind, _ namespace: String?, _ name: String) -> String {
        kind.namespaced ? "\(namespace ?? "")/\(name)" : "/\(name)"
    }

    // MARK: Routing

    func answer(_ request: ServerRequest) -> Answer {
        let user: FakeAPIUser
        if let header = request.headers["Authorization"] {
            guard header.hasPrefix("Bearer "),
                let known = users.first(where: { $0.token == String(header.dropFirst("Bearer ".count)) })
            else {
                return Answer(response: Status.failure(401, "Unauthorized", "Unauthorized"))
            }
            user = known
        } else if let subject = request.peerIdentity {
            user = users.first { $0.name == subject } ?? FakeAPIUser(name: subject, token: nil)
        } else {
            user = .anonymous
        }
        let query = Self.parseQuery(request.uri)
        if request.method == "GET", let group = Self.discoveredGroup(request.path) {
            // system:discovery is bound to authenticated users only.
            guard user.name != FakeAPIUser.anonymous.name else {
                return Answer(
                    response: Status.failure(
                        403, "Forbidden",
                        "forbidden: User \"system:anonymous\" cannot get path \"\(request.path)\"",
                        details: .object([:])))
            }
            return Answer(response: discovery(group))
        }
        guard let route = Route(path: request.path, method: request.method, query: query) else {
            return Answer(response: Status.failure(404, "NotFound", "the server could not find the requested resource"))
        }
        // RBAC first: a request it denies learns nothing about what exists.
        let resource = route.subresource.map { "\(route.plural)/\($0)" } ?? route.plural
        guard
            user.allows(
                verb: route.verb, group: route.group, resource: resource, namespace: route.namespace, name: route.name)
        else {
            return Answer(response: Status.forbidden(route, user: user))
        }
        guard kinds.values.contains(where: { $0.groupVersion == route.groupVersion }) else {
            return Answer(
                response: ServerResponse(
                    status: 404, headers: ["Content-Type": "text/plain; charset=utf-8"],
                    body: Array("404 page not found\n".utf8)))
        }
        guard let kind = kinds["\(route.groupVersion)/\(route.plural)"],
            route.namespace == nil || kind.namespaced,
            route.subresource == nil || (route.subresource == "status" && kind.hasStatusSubresource)
        else {
            return Answer(
                response: Status.failure(
                    404, "NotFound", "the server could not find the requested resource", details: .object([:])))
        }
        let target = Target(
            kind: kind, namespace: route.namespace, name: route.name, subresource: route.subresource, query: query,
            user: user, userAgent: request.headers["User-Agent"] ?? "")
        counts[route.verb, default: 0] += 1
        log.append(
            "\(route.verb) \(kind.collection) \(route.namespace ?? "*")/\(route.name ?? "") \(user.name)")
        if let index = faults.firstIndex(where: {
            $0.verb == route.verb && $0.collection == kind.collection && $0.count > 0
        }) {
            faults[index].count -= 1
            let code = faults[index].status
            if code != 0 {
                return Answer(
                    response: Status.failure(
                        code, [403: "Forbidden", 409: "Conflict", 422: "Invalid"][code] ?? "InternalError",
                        "injected failure for \(route.verb)"))
            }
            return Answer(response: perform(route.verb, target, request), late: true)
        }
        return Answer(response: perform(route.verb, target, request))
    }

    private func perform(_ verb: String, _ target: Target, _ request: ServerRequest) -> ServerResponse {
        if target.kind.isVirtual, verb != "create" {
            return Status.failure(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        }
        switch verb {
        case "list": return list(target)
        case "get": return get(target)
        case "create": return create(target, body: request.body)
        case "update": return update(target, body: request.body)
        case "patch": return patch(target, body: request.body, contentType: request.headers["Content-Type"] ?? "")
        case "delete": return delete(target, body: request.body)
        default:
            // watch, deletecollection: not served by the fake (certctl uses neither).
            return Status.failure(
                405, "MethodNotAllowed", "the fake API server does not serve \(verb); certctl does not use it")
        }
    }

    /// Query parameters as Go's `url.ParseQuery` reads them (`+` is a space).
    static func parseQuery(_ uri: String) -> [String: String] {
        guard let mark = uri.firstIndex(of: "?") else { return [:] }
        var result: [String: String] = [:]
        for pair in uri[uri.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if result[parts[0]] == nil { result[parts[0]] = parts.count > 1 ? parts[1] : "" }
        }
        return result
    }
}

extension FakeAPIState {
    /// `GROUP` of a group discovery request (`GET /apis/GROUP`).
    static func discoveredGroup(_ path: String) -> String? {
        let parts = path.split(separator: "/")
        guard parts.count == 2, parts[0] == "apis" else { return nil }
        return String(parts[1])
    }

    /// The `APIGroup` of `group` with the versions served, preferring the first one a CRD lists;
    /// `404 page not found` (as text) for a group nothing serves.
    func discovery(_ group: String) -> ServerResponse {
        let versions = kinds.values.filter { $0.group == group }.sorted { $0.versionRank < $1.versionRank }
            .map(\.version)
        var unique: [String] = []
        for version in versions where !unique.contains(version) { unique.append(version) }
        guard let preferred = unique.first else {
            return ServerResponse(
                status: 404, headers: ["Content-Type": "text/plain; charset=utf-8"],
                body: Array("404 page not found\n".utf8))
        }
        let entry = { (version: String) -> JSONValue in
            .object(["groupVersion": .string("\(group)/\(version)"), "version": .string(version)])
        }
        return Status.json(
            200,
            .object([
                "kind": .string("APIGroup"), "apiVersion": .string("v1"), "name": .string(group),
                "versions": .array(unique.map(entry)), "preferredVersion": entry(preferred),
            ]))
    }
}

/// The parts of a resource URL (`/apis/GROUP/VERSION/namespaces/NS/PLURAL/NAME/SUB`) and its verb.
struct Route {
    var group: String
    var version: String
    var namespace: String?
    var plural: String
    var name: String?
    var subresource: String?
    var verb: String

    var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    init?(path: String, method: String, query: [String: String]) {
        var parts = path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        if parts.first == "api", parts.count >= 3 {
            group = ""
            version = parts[1]
            parts.removeFirst(2)
        } else if parts.first == "apis", parts.count >= 4 {
            group = parts[1]
            version = parts[2]
            parts.removeFirst(3)
        } else {
            return nil
        }
        if parts.first == "namespaces", parts.count >= 3 {
            namespace = parts[1]
            parts.removeFirst(2)
        }
        guard let plural = parts.first, parts.count <= 3 else { return nil }
        self.plural = plural
        name = parts.count >= 2 ? parts[1] : nil
        subresource = parts.count == 3 ? parts[2] : nil
        switch (method, name) {
        case ("GET", nil): verb = query["watch"].map { $0 == "true" || $0 == "1" } == true ? "watch" : "list"
        case ("GET", _): verb = "get"
        case ("POST", nil): verb = "create"
        case ("PUT", _?): verb = "update"
        case ("PATCH", _?): verb = "patch"
        case ("DELETE", _?): verb = "delete"
        case ("DELETE", nil): verb = "deletecollection"
        default: return nil
        }
    }
}

/// `Status` bodies, as the server writes them.
enum Status {
    static func failure(_ code: Int, _ reason: String, _ message: String, details: JSONValue? = nil)
        -> ServerResponse
    {
        var object: [String: JSONValue] = [
            "kind": .string("Status"), "apiVersion": .string("v1"), "metadata": .object([:]),
            "status": .string("Failure"), "message": .string(message), "reason": .string(reason),
            "code": JSONValue(code),
        ]
        if let details { object["details"] = details }
        return json(code, .object(object))
    }

    static func json(_ code: Int, _ value: JSONValue, warnings: [String] = []) -> ServerResponse {
        var headers: HTTPHeaders = ["Content-Type": "application/json"]
        for warning in warnings {
            headers.add("Warning", "299 - \"\(warning.replacingOccurrences(of: "\"", with: "\\\""))\"")
        }
        return ServerResponse(status: code, headers: headers, body: value.serialized())
    }

    /// `{"name":…,"group":…,"kind":…}` with the resource's plural (or another `kind`).
    static func details(_ kind: ResourceKind, name: String?, kindName: String? = nil) -> JSONValue {
        var details: [String: JSONValue] = ["kind": .string(kindName ?? kind.plural)]
        if let name { details["name"] = .string(name) }
        if !kind.group.isEmpty { details["group"] = .string(kind.group) }
        return .object(details)
    }

    static func notFound(_ kind: ResourceKind, _ name: String) -> ServerResponse {
        failure(
            404, "NotFound", "\(kind.qualifiedResource) \"\(name)\" not found", details: details(kind, name: name))
    }

    static func conflict(_ kind: ResourceKind, _ name: String) -> ServerResponse {
        failure(
            409, "Conflict",
            "Operation cannot be fulfilled on \(kind.qualifiedResource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: details(kind, name: name))
    }

    static func badRequest(_ message: String) -> ServerResponse {
        failure(400, "BadRequest", message)
    }

    /// 422 Invalid: `Kind "name" is invalid: …` with a cause per field error.
    static func invalid(_ kind: ResourceKind, _ name: String, _ errors: [FieldError]) -> ServerResponse {
        var details: [String: JSONValue] = [
            "name": .string(name), "kind": .string(kind.kind),
            "causes": .array(
                errors.map {
                    .object([
                        "reason": .string($0.kind.rawValue), "message": .string($0.body), "field": .string($0.field),
                    ])
                }),
        ]
        let group = kind.validationGroup ?? kind.group
        if !group.isEmpty { details["group"] = .string(group) }
        return failure(
            422, "Invalid", "\(kind.qualifiedKind) \"\(name)\" is invalid: \(FieldError.aggregate(errors))",
            details: .object(details))
    }

    static func forbidden(_ route: Route, user: FakeAPIUser) -> ServerResponse {
        let resource = route.group.isEmpty ? route.plural : "\(route.plural).\(route.group)"
        let subject = route.name.map { "\(resource) \"\($0)\"" } ?? resource
        let full = route.subresource.map { "\(route.plural)/\($0)" } ?? route.plural
        let scope = route.namespace.map { "in the namespace \"\($0)\"" } ?? "at the cluster scope"
        var details: [String: JSONValue] = ["kind": .string(route.plural)]
        if let name = route.name { details["name"] = .string(name) }
        if !route.group.isEmpty { details["group"] = .string(route.group) }
        return failure(
            403, "Forbidden",
            "\(subject) is forbidden: User \"\(user.name)\" cannot \(route.verb) resource \"\(full)\" in API group \"\(route.group)\" \(scope)",
            details: .object(details))
    }
}
