import Foundation
import Transport

/// The storage and rules of ``FakeAPIServer``.
actor FakeAPIState {
    /// Kinds it serves, by collection (`GROUP/VERSION/PLURAL`, core as `v1/PLURAL`).
    static let kinds: [String: String] = [
        "v1/secrets": "Secret", "v1/services": "Service", "v1/configmaps": "ConfigMap",
        "networking.k8s.io/v1/ingresses": "Ingress", "coordination.k8s.io/v1/leases": "Lease",
        "events.k8s.io/v1/events": "Event",
    ]

    private struct Fault {
        var verb: String
        var collection: String
        /// The status answered instead of doing the request; 0: do it, but answer late.
        var status: Int
        var count: Int
    }

    /// What ``handle(_:)`` decided: the answer, and whether to hold it back past a client's timeout.
    struct Answer {
        var response: ServerResponse
        var late = false
    }

    private let tokens: Set<String>
    /// collection → "namespace/name" → object.
    private var store: [String: [String: [String: Any]]] = [:]
    private var resourceVersion = 1000
    private var faults: [Fault] = []
    private(set) var counts: [String: Int] = [:]
    /// Every request as "verb collection namespace/name".
    private(set) var log: [String] = []

    init(tokens: Set<String>) {
        self.tokens = tokens
    }

    var anyToken: String { tokens.first ?? "" }

    func addFault(verb: String, collection: String, status: Int, count: Int) {
        faults.append(Fault(verb: verb, collection: collection, status: status, count: count))
    }

    func objectJSON(_ collection: String, namespace: String, name: String) -> Data? {
        store[collection]?["\(namespace)/\(name)"].flatMap { try? JSONSerialization.data(withJSONObject: $0) }
    }

    func touch(_ collection: String, namespace: String, name: String) {
        guard var object = store[collection]?["\(namespace)/\(name)"] else { return }
        object = setMetadata(object, "resourceVersion", nextVersion())
        store[collection]?["\(namespace)/\(name)"] = object
    }

    private func nextVersion() -> String {
        resourceVersion += 1
        return String(resourceVersion)
    }

    // MARK: Routing

    private struct Target {
        var collection: String
        var kind: String
        var groupVersion: String
        var namespace: String?
        var name: String?
    }

    func handle(_ request: ServerRequest) -> ServerResponse {
        answer(request).response
    }

    func answer(_ request: ServerRequest) -> Answer {
        guard authenticated(request) else {
            return Answer(response: status(401, "Unauthorized", "Unauthorized"))
        }
        guard let target = parse(request.path) else {
            return Answer(response: status(404, "NotFound", "the server could not find the requested resource"))
        }
        let verb: String
        switch (request.method, target.name) {
        case ("GET", nil): verb = "list"
        case ("GET", _): verb = "get"
        case ("POST", nil): verb = "create"
        case ("PUT", _?): verb = "update"
        case ("PATCH", _?): verb = "patch"
        case ("DELETE", _?): verb = "delete"
        default:
            return Answer(
                response: status(
                    405, "MethodNotAllowed", "the server does not allow this method on the requested resource"))
        }
        counts[verb, default: 0] += 1
        log.append("\(verb) \(target.collection) \(target.namespace ?? "*")/\(target.name ?? "")")
        if let index = faults.firstIndex(where: {
            $0.verb == verb && $0.collection == target.collection && $0.count > 0
        }) {
            faults[index].count -= 1
            let code = faults[index].status
            if code != 0 {
                return Answer(
                    response: status(code, code == 409 ? "Conflict" : "InternalError", "injected failure for \(verb)"))
            }
            return Answer(response: perform(verb, target, request), late: true)
        }
        return Answer(response: perform(verb, target, request))
    }

    private func perform(_ verb: String, _ target: Target, _ request: ServerRequest) -> ServerResponse {
        switch verb {
        case "list": return list(target, query: request.query)
        case "get": return get(target)
        case "create": return create(target, body: request.body)
        case "update": return update(target, body: request.body)
        case "patch": return patch(target, request: request)
        default: return delete(target)
        }
    }

    private func authenticated(_ request: ServerRequest) -> Bool {
        if request.peerIdentity != nil { return true }
        guard let header = request.headers["Authorization"], header.hasPrefix("Bearer ") else { return false }
        return tokens.contains(String(header.dropFirst("Bearer ".count)))
    }

    private func parse(_ path: String) -> Target? {
        var parts = path.split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        let groupVersion: String
        if parts.first == "api", parts.count >= 3, parts[1] == "v1" {
            groupVersion = "v1"
            parts.removeFirst(2)
        } else if parts.first == "apis", parts.count >= 4 {
            groupVersion = "\(parts[1])/\(parts[2])"
            parts.removeFirst(3)
        } else {
            return nil
        }
        var namespace: String?
        if parts.first == "namespaces", parts.count >= 3 {
            namespace = parts[1]
            parts.removeFirst(2)
        }
        guard let plural = parts.first, parts.count <= 2 else { return nil }
        let collection = "\(groupVersion)/\(plural)"
        guard let kind = Self.kinds[collection] else { return nil }
        return Target(
            collection: collection, kind: kind, groupVersion: groupVersion, namespace: namespace,
            name: parts.count == 2 ? parts[1] : nil)
    }

    // MARK: Verbs

    private func list(_ target: Target, query: [String: String]) -> ServerResponse {
        var items = (store[target.collection] ?? [:]).sorted { $0.key < $1.key }
        if let namespace = target.namespace {
            items = items.filter { $0.key.hasPrefix(namespace + "/") }
        }
        if let selector = query["labelSelector"], !selector.isEmpty {
            guard let requirements = LabelSelector(selector) else {
                return status(400, "BadRequest", "unable to parse requirement: invalid label selector \"\(selector)\"")
            }
            items = items.filter { requirements.matches(labels(of: $0.value)) }
        }
        if let selector = query["fieldSelector"], !selector.isEmpty {
            for requirement in selector.split(separator: ",") {
                let negated = requirement.contains("!=")
                let pair = requirement.replacingOccurrences(of: "!=", with: "=").replacingOccurrences(
                    of: "==", with: "="
                ).split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2 else {
                    return status(400, "BadRequest", "invalid field selector \"\(selector)\"")
                }
                let field = pair[0]
                guard
                    ["metadata.name", "metadata.namespace"].contains(field)
                        || (target.kind == "Secret" && field == "type")
                else {
                    return status(400, "BadRequest", "field label not supported: \(field)")
                }
                items = items.filter { entry in
                    let value: String?
                    switch field {
                    case "metadata.name": value = (entry.value["metadata"] as? [String: Any])?["name"] as? String
                    case "metadata.namespace":
                        value = (entry.value["metadata"] as? [String: Any])?["namespace"] as? String
                    default: value = entry.value["type"] as? String
                    }
                    return (value == pair[1]) != negated
                }
            }
        }
        var start = 0
        if let token = query["continue"], !token.isEmpty {
            guard let decoded = Data(base64Encoded: token).map({ String(decoding: $0, as: UTF8.self) }) else {
                return status(400, "BadRequest", "continue key is not valid")
            }
            start = items.firstIndex { $0.key > decoded } ?? items.count
        }
        let limit = Int(query["limit"] ?? "") ?? 0
        var page = Array(items[start...])
        var metadata: [String: Any] = ["resourceVersion": String(resourceVersion)]
        if limit > 0, page.count > limit {
            page = Array(page.prefix(limit))
            metadata["continue"] = Data((page.last?.key ?? "").utf8).base64EncodedString()
            metadata["remainingItemCount"] = items.count - start - limit
        }
        return json(
            200,
            [
                "apiVersion": target.groupVersion, "kind": target.kind + "List", "metadata": metadata,
                "items": page.map(\.value),
            ])
    }

    private func get(_ target: Target) -> ServerResponse {
        guard let object = stored(target) else { return notFound(target) }
        return json(200, object)
    }

    private func create(_ target: Target, body: [UInt8]) -> ServerResponse {
        guard let namespace = target.namespace else {
            return status(405, "MethodNotAllowed", "create needs a namespace in the path")
        }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return status(400, "BadRequest", "the body of the request was in an unknown format")
        }
        var metadata = (object["metadata"] as? [String: Any]) ?? [:]
        if let bodyNamespace = metadata["namespace"] as? String, bodyNamespace != namespace {
            return status(
                400, "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request")
        }
        if metadata["name"] == nil, let prefix = metadata["generateName"] as? String {
            metadata["name"] = prefix + String(UUID().uuidString.lowercased().prefix(5))
        }
        guard let name = metadata["name"] as? String, !name.isEmpty else {
            return invalid(
                target, name: "", [("metadata.name", "FieldValueRequired", "name or generateName is required")])
        }
        if let problem = validate(target, name: name, object: object) { return problem }
        let key = "\(namespace)/\(name)"
        if store[target.collection]?[key] != nil {
            return status(
                409, "AlreadyExists", "\(resourceName(target)) \"\(name)\" already exists",
                details: details(target, name))
        }
        guard metadata["resourceVersion"] == nil else {
            return status(500, "InternalError", "resourceVersion should not be set on objects to be created")
        }
        metadata["namespace"] = namespace
        metadata["uid"] = UUID().uuidString.lowercased()
        metadata["creationTimestamp"] = ISO8601DateFormatter().string(from: Date())
        metadata["resourceVersion"] = nextVersion()
        object["metadata"] = metadata
        object["apiVersion"] = target.groupVersion
        object["kind"] = target.kind
        store[target.collection, default: [:]][key] = object
        return json(201, object)
    }

    private func update(_ target: Target, body: [UInt8]) -> ServerResponse {
        guard let name = target.name, let namespace = target.namespace else { return notFound(target) }
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return status(400, "BadRequest", "the body of the request was in an unknown format")
        }
        guard let existing = stored(target) else { return notFound(target) }
        var metadata = (object["metadata"] as? [String: Any]) ?? [:]
        if let bodyName = metadata["name"] as? String, bodyName != name {
            return status(
                400, "BadRequest", "the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        let current = (existing["metadata"] as? [String: Any])?["resourceVersion"] as? String
        if let sent = metadata["resourceVersion"] as? String, sent != current {
            return conflict(target, name)
        }
        if let problem = validate(target, name: name, object: object) { return problem }
        let old = (existing["metadata"] as? [String: Any]) ?? [:]
        metadata["name"] = name
        metadata["namespace"] = namespace
        metadata["uid"] = old["uid"]
        metadata["creationTimestamp"] = old["creationTimestamp"]
        metadata["resourceVersion"] = nextVersion()
        object["metadata"] = metadata
        object["apiVersion"] = target.groupVersion
        object["kind"] = target.kind
        store[target.collection]?["\(namespace)/\(name)"] = object
        return json(200, object)
    }

    private func patch(_ target: Target, request: ServerRequest) -> ServerResponse {
        guard request.headers["Content-Type"] == "application/merge-patch+json" else {
            return status(
                415, "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
            )
        }
        guard let name = target.name, let namespace = target.namespace, let existing = stored(target) else {
            return notFound(target)
        }
        guard let patch = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] else {
            return status(400, "BadRequest", "the body of the request was in an unknown format")
        }
        let current = (existing["metadata"] as? [String: Any])?["resourceVersion"] as? String
        if let sent = (patch["metadata"] as? [String: Any])?["resourceVersion"] as? String, sent != current {
            return conflict(target, name)
        }
        var merged = Self.mergePatch(existing, patch) as? [String: Any] ?? existing
        if let problem = validate(target, name: name, object: merged) { return problem }
        merged = setMetadata(merged, "resourceVersion", nextVersion())
        store[target.collection]?["\(namespace)/\(name)"] = merged
        return json(200, merged)
    }

    private func delete(_ target: Target) -> ServerResponse {
        guard let name = target.name, let namespace = target.namespace, stored(target) != nil else {
            return notFound(target)
        }
        store[target.collection]?["\(namespace)/\(name)"] = nil
        return json(200, ["apiVersion": "v1", "kind": "Status", "status": "Success", "details": details(target, name)])
    }

    // MARK: Rules

    /// What the real API server validates for the objects certctl writes.
    private func validate(_ target: Target, name: String, object: [String: Any]) -> ServerResponse? {
        var causes: [(String, String, String)] = []
        if !Self.isDNSSubdomain(name) {
            causes.append(
                (
                    "metadata.name", "FieldValueInvalid",
                    "Invalid value: \"\(name)\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.'"
                ))
        }
        if target.kind == "Secret" {
            let data = (object["data"] as? [String: Any]) ?? [:]
            for (key, value) in data where (value as? String).flatMap({ Data(base64Encoded: $0) }) == nil {
                causes.append(("data[\(key)]", "FieldValueInvalid", "Invalid value: illegal base64 data"))
            }
            if object["type"] as? String == "kubernetes.io/tls" {
                for key in ["tls.crt", "tls.key"] where data[key] == nil {
                    causes.append(("data[\(key)]", "FieldValueRequired", "Required value"))
                }
            }
        }
        guard !causes.isEmpty else { return nil }
        return invalid(target, name: name, causes)
    }

    static func isDNSSubdomain(_ name: String) -> Bool {
        guard !name.isEmpty, name.count <= 253 else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
            guard let first = label.first, let last = label.last, !label.isEmpty else { return false }
            return label.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" } && first != "-" && last != "-"
                && label.unicodeScalars.allSatisfy(\.isASCII)
        }
    }

    /// RFC 7386.
    static func mergePatch(_ target: Any, _ patch: Any) -> Any {
        guard let patchObject = patch as? [String: Any] else { return patch }
        var result = (target as? [String: Any]) ?? [:]
        for (key, value) in patchObject {
            if value is NSNull {
                result[key] = nil
            } else {
                result[key] = mergePatch(result[key] ?? [String: Any](), value)
            }
        }
        return result
    }

    private func stored(_ target: Target) -> [String: Any]? {
        guard let name = target.name, let namespace = target.namespace else { return nil }
        return store[target.collection]?["\(namespace)/\(name)"]
    }

    private func labels(of object: [String: Any]) -> [String: String] {
        ((object["metadata"] as? [String: Any])?["labels"] as? [String: String]) ?? [:]
    }

    private func setMetadata(_ object: [String: Any], _ key: String, _ value: Any) -> [String: Any] {
        var copy = object
        var metadata = (copy["metadata"] as? [String: Any]) ?? [:]
        metadata[key] = value
        copy["metadata"] = metadata
        return copy
    }

    // MARK: Status bodies

    private func resourceName(_ target: Target) -> String {
        let plural = target.collection.split(separator: "/").last.map(String.init) ?? ""
        let group =
            target.groupVersion.contains("/")
            ? "." + (target.groupVersion.split(separator: "/").first.map(String.init) ?? "") : ""
        return plural + group
    }

    private func details(_ target: Target, _ name: String) -> [String: Any] {
        let plural = target.collection.split(separator: "/").last.map(String.init) ?? ""
        var details: [String: Any] = ["name": name, "kind": plural]
        if target.groupVersion.contains("/") { details["group"] = String(target.groupVersion.split(separator: "/")[0]) }
        return details
    }

    private func notFound(_ target: Target) -> ServerResponse {
        status(
            404, "NotFound", "\(resourceName(target)) \"\(target.name ?? "")\" not found",
            details: details(target, target.name ?? ""))
    }

    private func conflict(_ target: Target, _ name: String) -> ServerResponse {
        status(
            409,
            "Conflict",
            "Operation cannot be fulfilled on \(resourceName(target)) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
            details: details(target, name)
        )
    }

    private func invalid(_ target: Target, name: String, _ causes: [(String, String, String)]) -> ServerResponse {
        var details = details(target, name)
        details["causes"] = causes.map { ["field": $0.0, "reason": $0.1, "message": $0.2] }
        let summary = causes.map { "\($0.0): \($0.2)" }.joined(separator: ", ")
        return status(422, "Invalid", "\(target.kind) \"\(name)\" is invalid: \(summary)", details: details)
    }

    private func status(_ code: Int, _ reason: String, _ message: String, details: [String: Any]? = nil)
        -> ServerResponse
    {
        var object: [String: Any] = [
            "kind": "Status", "apiVersion": "v1", "metadata": [String: Any](), "status": "Failure", "message": message,
            "reason": reason, "code": code,
        ]
        if let details { object["details"] = details }
        return json(code, object)
    }

    private func json(_ code: Int, _ object: [String: Any]) -> ServerResponse {
        ServerResponse(
            status: code,
            headers: ["Content-Type": "application/json"],
            body: Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        )
    }
}

/// Equality-based label selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`) and set-based `in`/`notin`.
struct LabelSelector {
    private var requirements: [([String: String]) -> Bool] = []

    init?(_ text: String) {
        var parts: [String] = []
        var depth = 0
        var current = ""
        for character in text {
            if character == "(" { depth += 1 }
            if character == ")" { depth -= 1 }
            if character == ",", depth == 0 {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        for raw in parts {
            let part = raw.trimmingCharacters(in: .whitespaces)
            if let range = part.range(of: " notin ") ?? part.range(of: " in ") {
                let key = part[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
                let negated = part[range].contains("notin")
                let values = Set(
                    part[range.upperBound...].trimmingCharacters(in: CharacterSet(charactersIn: "() ")).split(
                        separator: ","
                    ).map { $0.trimmingCharacters(in: .whitespaces) })
                requirements.append { labels in labels[key].map { values.contains($0) != negated } ?? negated }
            } else if part.contains("!=") {
                let pair = part.components(separatedBy: "!=")
                guard pair.count == 2 else { return nil }
                requirements.append { $0[pair[0]] != pair[1] }
            } else if part.contains("=") {
                let pair = part.replacingOccurrences(of: "==", with: "=").components(separatedBy: "=")
                guard pair.count == 2, !pair[0].isEmpty else { return nil }
                requirements.append { $0[pair[0]] == pair[1] }
            } else if part.hasPrefix("!") {
                let key = String(part.dropFirst())
                requirements.append { $0[key] == nil }
            } else if !part.isEmpty, !part.contains(" ") {
                requirements.append { $0[part] != nil }
            } else {
                return nil
            }
        }
    }

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0(labels) }
    }
}
