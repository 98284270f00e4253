import Basics
import Foundation
import Transport

/// The verbs, as the real server carries them out: decode (unknown fields, types, times),
/// default, validate, check the namespace, then store with a new resourceVersion.
extension FakeAPIState {
    // MARK: Reading bodies

    /// A value, or the answer that refuses the request.
    enum Checked<Value> {
        case success(Value)
        case failure(ServerResponse)
    }

    /// A request body decoded as `kind` in the served form, or the 400 the server answers.
    struct Decoded {
        var object: [String: JSONValue]
        var warnings: [String]
    }

    func decodeBody(_ body: [UInt8], _ target: Target) -> Checked<Decoded> {
        let kind = target.kind
        var duplicates: [String] = []
        let value: JSONValue
        do {
            value = try JSONValue.parse(body) { duplicates.append($0) }
        } catch {
            let text = String(decoding: body.prefix(100), as: UTF8.self)
            return .failure(
                Status.badRequest(
                    "the object provided is unrecognized (must be of type \(kind.kind)): couldn't get version/kind; json parse error: \(error.message) (\(text))"
                ))
        }
        guard case .object(let members) = value else {
            return .failure(
                Status.badRequest(
                    "the object provided is unrecognized (must be of type \(kind.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal \(value.typeName) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }"
                ))
        }
        let prefix = "\(kind.kind) in version \"\(kind.version)\" cannot be handled as a \(kind.kind): "
        if let bodyKind = members["kind"]?.stringValue, !bodyKind.isEmpty, bodyKind != kind.kind {
            let apiVersion = members["apiVersion"]?.stringValue ?? kind.groupVersion
            if kinds.values.contains(where: { $0.kind == bodyKind && $0.groupVersion == apiVersion }) {
                return .failure(
                    Status.badRequest(
                        "\(bodyKind) in version \"\(kind.version)\" cannot be handled as a \(kind.kind): converting (\(kind.version).\(bodyKind)) to (\(kind.group.isEmpty ? "core" : kind.group).\(kind.kind)): unknown conversion"
                    ))
            }
            return .failure(
                Status.badRequest("no kind \"\(bodyKind)\" is registered for version \"\(apiVersion)\""))
        }
        if let apiVersion = members["apiVersion"]?.stringValue, !apiVersion.isEmpty, apiVersion != kind.groupVersion {
            return .failure(
                Status.badRequest("no kind \"\(kind.kind)\" is registered for version \"\(apiVersion)\""))
        }
        var unknown: [String] = []
        var object: [String: JSONValue]
        switch kind.body {
        case .builtin(let schema):
            var decoder = SchemaDecoder()
            do {
                object = try decoder.decode(value, as: schema)
            } catch {
                return .failure(Status.badRequest(prefix + error.message))
            }
            unknown = decoder.unknownFields
        case .custom(let schema, _):
            var decoder = SchemaDecoder()
            var metadata: [String: JSONValue] = [:]
            if let given = members["metadata"], !given.isNull {
                do {
                    metadata = try decoder.decode(
                        .object(["metadata": given]), as: BuiltinSchemas.root("CustomResource", [:])
                    ).object("metadata")
                } catch {
                    return .failure(Status.badRequest(error.message))
                }
            }
            var rest = members
            rest["metadata"] = nil
            rest["apiVersion"] = nil
            rest["kind"] = nil
            object = schema.prune(.object(rest), path: "", unknown: &unknown).objectValue ?? [:]
            object["metadata"] = .object(metadata)
            unknown += decoder.unknownFields
        }
        let messages = (duplicates.map { "duplicate field \"\($0)\"" } + unknown.map { "unknown field \"\($0)\"" })
        switch target.query["fieldValidation"] ?? "Warn" {
        case "Strict" where !messages.isEmpty:
            return .failure(
                Status.badRequest(
                    (kind.isCustom ? "" : prefix) + "strict decoding error: " + messages.joined(separator: ", ")))
        case "Ignore":
            return .success(Decoded(object: kind.fromServed(object), warnings: []))
        case "Strict", "Warn":
            return .success(Decoded(object: kind.fromServed(object), warnings: messages))
        case let other:
            return .failure(
                Status.badRequest(
                    "fieldValidation: Unsupported value: \"\(other)\": supported values: \"Ignore\", \"Strict\", \"Warn\""
                ))
        }
    }

    /// `dryRun=All` validates and answers without storing; any other value is refused.
    func dryRun(_ target: Target) -> Checked<Bool> {
        guard let value = target.query["dryRun"] else { return .success(false) }
        guard value == "All" else {
            return .failure(
                Status.badRequest("dryRun: Unsupported value: \"\(value)\": supported values: \"All\""))
        }
        return .success(true)
    }

    // MARK: Writing back

    /// The stored object as the target's API serves it (`apiVersion`, `kind`, omitempty rules).
    func served(_ object: [String: JSONValue], _ kind: ResourceKind) -> [String: JSONValue] {
        var result = kind.toServed(object)
        if case .builtin(let schema) = kind.body { result = SchemaDecoder.render(result, as: schema) }
        result["apiVersion"] = .string(kind.groupVersion)
        result["kind"] = .string(kind.kind)
        return result
    }

    /// The fields the server sets on every write.
    func stamp(_ object: inout [String: JSONValue], kind: ResourceKind, userAgent: String, dryRun: Bool) {
        var metadata = object.object("metadata")
        if metadata["uid"] == nil { metadata["uid"] = .string(UUID().uuidString.lowercased()) }
        if metadata["creationTimestamp"] == nil { metadata["creationTimestamp"] = .string(Timestamp.rfc3339(Date())) }
        metadata["resourceVersion"] = dryRun ? nil : .string(nextVersion())
        let manager = userAgent.split(separator: "/").first.map(String.init) ?? "unknown"
        metadata["managedFields"] = .array([
            .object([
                "manager": .string(manager.isEmpty ? "unknown" : manager), "operation": .string("Update"),
                "apiVersion": .string(kind.groupVersion), "time": .string(Timestamp.rfc3339(Date())),
                "fieldsType": .string("FieldsV1"),
                "fieldsV1": Self.fieldSet(.object(object.filter { $0.key != "metadata" })),
            ])
        ])
        object["metadata"] = .object(metadata)
    }

    /// The fields an object sets, in `FieldsV1` shape (`{"f:spec":{"f:holderIdentity":{}}}`).
    static func fieldSet(_ value: JSONValue) -> JSONValue {
        guard case .object(let members) = value else { return .object([:]) }
        return .object(Dictionary(uniqueKeysWithValues: members.map { ("f:\($0.key)", fieldSet($0.value)) }))
    }

    /// ObjectMeta's own rules, for every kind.
    func metadataErrors(_ object: [String: JSONValue], _ old: [String: JSONValue]?, kind: ResourceKind)
        -> [FieldError]
    {
        let metadata = object.object("metadata")
        var errors: [FieldError] = []
        let name = metadata["name"]?.stringValue ?? ""
        for message in kind.nameRule(name) { errors.append(.invalid("metadata.name", name, message)) }
        for (key, value) in (metadata["labels"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            errors += BuiltinKinds.labelErrors(key, value.stringValue ?? "", field: "metadata.labels")
        }
        var size = 0
        for (key, value) in (metadata["annotations"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            for message in NameRules.qualifiedName(key.lowercased()) {
                errors.append(.invalid("metadata.annotations", key, message))
            }
            size += key.utf8.count + (value.stringValue?.utf8.count ?? 0)
        }
        if size > 256 << 10 { errors.append(.tooLong("metadata.annotations", "must have at most \(256 << 10) bytes")) }
        for (index, finalizer) in (metadata["finalizers"]?.arrayValue ?? []).enumerated() {
            let text = finalizer.stringValue ?? ""
            for message in NameRules.qualifiedName(text) {
                errors.append(.invalid("metadata.finalizers[\(index)]", text, message))
            }
        }
        let references = metadata["ownerReferences"]?.arrayValue ?? []
        for reference in references {
            for (field, words) in [("apiVersion", "version"), ("kind", "kind"), ("name", "name"), ("uid", "uid")]
            where (reference[field]?.stringValue ?? "").isEmpty {
                errors.append(.invalid("metadata.ownerReferences.\(field)", "", "\(words) must not be empty"))
            }
        }
        if references.filter({ $0["controller"]?.boolValue == true }).count > 1 {
            errors.append(
                FieldError(
                    field: "metadata.ownerReferences", kind: .invalid, value: .omitted,
                    detail: "Only one reference can have Controller set to true"))
        }
        if let old, old.object("metadata")["deletionTimestamp"] != nil {
            let before = Set(old.object("metadata")["finalizers"]?.arrayValue ?? [])
            let added = (metadata["finalizers"]?.arrayValue ?? []).filter { !before.contains($0) }
            if !added.isEmpty {
                errors.append(
                    .forbidden(
                        "metadata.finalizers",
                        "no new finalizers can be added if the object is being deleted, found new finalizers []string{\(added.map { "\"\($0.stringValue ?? "")\"" }.joined(separator: ", "))}"
                    ))
            }
        }
        return errors
    }

    /// Every rule of `kind` (ObjectMeta first, then the kind's own, or the CRD's schema).
    func validationErrors(_ object: [String: JSONValue], _ old: [String: JSONValue]?, kind: ResourceKind)
        -> [FieldError]
    {
        var errors = metadataErrors(object, old, kind: kind) + kind.validate(object, old)
        if case .custom(let schema, let hasRules) = kind.body {
            var body = object
            body["metadata"] = nil
            let schemaErrors = schema.validate(.object(body), path: "")
            errors += schemaErrors
            // As apiextensions-apiserver: a missing, unsupported or mistyped value stops the CEL
            // rules (and says so); a pattern or a bound does not.
            let blocking = schemaErrors.contains { [.required, .notSupported, .typeInvalid].contains($0.kind) }
            if !blocking {
                errors += kind.celRules(object)
            } else if hasRules {
                errors.append(
                    FieldError(
                        field: "<nil>", kind: .invalid, value: .null,
                        detail:
                            "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"
                    ))
            }
        }
        return errors
    }

    func namespaceProblem(_ target: Target) -> ServerResponse? {
        guard target.kind.namespaced, let namespace = target.namespace else { return nil }
        guard let stored = store["namespaces"]?["/\(namespace)"] else {
            return Status.failure(
                404, "NotFound", "namespaces \"\(namespace)\" not found",
                details: .object(["name": .string(namespace), "kind": .string("namespaces")]))
        }
        if stored.object("metadata")["deletionTimestamp"] != nil {
            return Status.failure(
                403, "Forbidden",
                "\(target.kind.qualifiedResource) \"\(target.name ?? "")\" is forbidden: unable to create new content in namespace \(namespace) because it is being terminated",
                details: Status.details(target.kind, name: target.name))
        }
        return nil
    }

    // MARK: Verbs

    func get(_ target: Target) -> ServerResponse {
        guard let name = target.name, let object = store[target.kind.storage]?[key(target.kind, target.namespace, name)]
        else { return Status.notFound(target.kind, target.name ?? "") }
        return Status.json(200, .object(served(object, target.kind)))
    }

    func create(_ target: Target, body: [UInt8]) -> ServerResponse {
        let kind = target.kind
        let dry: Bool
        switch dryRun(target) {
        case .success(let value): dry = value
        case .failure(let response): return response
        }
        var decoded: Decoded
        switch decodeBody(body, target) {
        case .success(let value): decoded = value
        case .failure(let response): return response
        }
        var metadata = decoded.object.object("metadata")
        if kind.namespaced {
            if let given = metadata["namespace"]?.stringValue, !given.isEmpty, given != target.namespace {
                return Status.badRequest(
                    "the namespace of the provided object does not match the namespace sent on the request")
            }
            metadata["namespace"] = target.namespace.map(JSONValue.string)
        } else {
            metadata["namespace"] = nil
        }
        if (metadata["name"]?.stringValue ?? "").isEmpty, let prefix = metadata["generateName"]?.stringValue,
            !prefix.isEmpty
        {
            let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
            metadata["name"] = .string(
                String(prefix.prefix(58)) + String((0..<5).map { _ in alphabet.randomElement() ?? "x" }))
        }
        if kind.isVirtual {
            let errors = kind.validate(decoded.object, nil)
            return errors.isEmpty ? review(decoded.object, target) : Status.invalid(kind, "", errors)
        }
        guard let name = metadata["name"]?.stringValue, !name.isEmpty else {
            return Status.invalid(kind, "", [.required("metadata.name", "name or generateName is required")])
        }
        if let version = metadata["resourceVersion"]?.stringValue, !version.isEmpty {
            return Status.failure(500, "InternalError", "resourceVersion should not be set on objects to be created")
        }
        for field in ["deletionTimestamp", "deletionGracePeriodSeconds", "uid", "creationTimestamp", "generation"] {
            metadata[field] = nil
        }
        var object = decoded.object
        object["metadata"] = .object(metadata)
        if kind.hasStatusSubresource {
            object["status"] = nil
            // A CRD's default for the whole status is what a new object's status is.
            if case .custom(let schema, _) = kind.body, let status = schema.properties["status"]?.defaultValue {
                object["status"] = status
            }
        }
        kind.defaults(&object, nil, &allocator)
        let errors = validationErrors(object, nil, kind: kind)
        guard errors.isEmpty else { return Status.invalid(kind, name, errors) }
        if let problem = namespaceProblem(target) { return problem }
        let storageKey = key(kind, target.namespace, name)
        if store[kind.storage]?[storageKey] != nil {
            return Status.failure(
                409, "AlreadyExists", "\(kind.qualifiedResource) \"\(name)\" already exists",
                details: Status.details(kind, name: name))
        }
        if kind.hasGeneration { object.set("metadata.generation", JSONValue(1)) }
        stamp(&object, kind: kind, userAgent: target.userAgent, dryRun: dry)
        if !dry { store[kind.storage, default: [:]][storageKey] = object }
        return Status.json(201, .object(served(object, kind)), warnings: decoded.warnings)
    }

    /// A SelfSubjectAccessReview: what RBAC answers for the asking user.
    private func review(_ object: [String: JSONValue], _ target: Target) -> ServerResponse {
        let attributes = object.object("spec")["resourceAttributes"]?.objectValue
        let allowed: Bool
        if let attributes {
            let resource = [attributes["resource"]?.stringValue ?? "", attributes["subresource"]?.stringValue ?? ""]
                .filter { !$0.isEmpty }.joined(separator: "/")
            allowed = target.user.allows(
                verb: attributes["verb"]?.stringValue ?? "", group: attributes["group"]?.stringValue ?? "",
                resource: resource, namespace: attributes["namespace"]?.stringValue,
                name: attributes["name"]?.stringValue)
        } else {
            allowed = target.user.isAdmin
        }
        var result = object
        result["metadata"] = nil
        result["status"] = .object(["allowed": .bool(allowed)])
        stamp(&result, kind: target.kind, userAgent: target.userAgent, dryRun: true)
        var metadata = result.object("metadata")
        metadata = metadata.filter { $0.key == "managedFields" }
        result["metadata"] = .object(metadata)
        return Status.json(201, .object(served(result, target.kind)))
    }

    func update(_ target: Target, body: [UInt8]) -> ServerResponse {
        let decoded: Decoded
        switch decodeBody(body, target) {
        case .success(let value): decoded = value
        case .failure(let response): return response
        }
        return write(decoded, target)
    }

    /// An update (PUT, or a patch's result): preconditions, kept fields, validation, store.
    private func write(_ decoded: Decoded, _ target: Target) -> ServerResponse {
        let kind = target.kind
        guard let name = target.name else { return Status.notFound(kind, "") }
        let dry: Bool
        switch dryRun(target) {
        case .success(let value): dry = value
        case .failure(let response): return response
        }
        var metadata = decoded.object.object("metadata")
        let bodyName = metadata["name"]?.stringValue ?? ""
        if bodyName != name {
            return Status.badRequest(
                "the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if kind.namespaced {
            if let given = metadata["namespace"]?.stringValue, !given.isEmpty, given != target.namespace {
                return Status.badRequest(
                    "the namespace of the provided object does not match the namespace sent on the request")
            }
            metadata["namespace"] = target.namespace.map(JSONValue.string)
        }
        let storageKey = key(kind, target.namespace, name)
        guard let old = store[kind.storage]?[storageKey] else { return Status.notFound(kind, name) }
        let oldMetadata = old.object("metadata")
        if let sent = metadata["resourceVersion"]?.stringValue, !sent.isEmpty,
            sent != oldMetadata["resourceVersion"]?.stringValue
        {
            return Status.conflict(kind, name)
        }
        if let uid = metadata["uid"]?.stringValue, !uid.isEmpty, uid != oldMetadata["uid"]?.stringValue {
            return Status.failure(
                409, "Conflict",
                "Operation cannot be fulfilled on \(kind.qualifiedResource) \"\(name)\": Precondition failed: UID in precondition: \(uid), UID in object meta: \(oldMetadata["uid"]?.stringValue ?? "")",
                details: Status.details(kind, name: name))
        }
        for field in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation"] {
            metadata[field] = oldMetadata[field]
        }
        var object = decoded.object
        object["metadata"] = .object(metadata)
        if target.subresource == "status" {
            // /status changes the status alone.
            var kept = old
            kept["status"] = object["status"]
            object = kept
        } else if kind.hasStatusSubresource {
            object["status"] = old["status"]
        }
        kind.defaults(&object, old, &allocator)
        let errors = validationErrors(object, old, kind: kind)
        guard errors.isEmpty else { return Status.invalid(kind, name, errors) }
        func withoutServerFields(_ value: [String: JSONValue]) -> [String: JSONValue] {
            var copy = value
            var meta = copy.object("metadata")
            meta["managedFields"] = nil
            meta["resourceVersion"] = nil
            copy["metadata"] = .object(meta)
            return copy
        }
        // An update that changes nothing writes nothing: the resourceVersion stays.
        if withoutServerFields(object) == withoutServerFields(old) {
            return Status.json(200, .object(served(old, kind)), warnings: decoded.warnings)
        }
        if kind.hasGeneration, target.subresource == nil {
            let changed =
                object.filter { !["metadata", "status"].contains($0.key) }
                != old.filter { !["metadata", "status"].contains($0.key) }
            if changed {
                object.set(
                    "metadata.generation", JSONValue(Int(clamping: oldMetadata["generation"]?.integerValue ?? 0) + 1))
            }
        }
        stamp(&object, kind: kind, userAgent: target.userAgent, dryRun: dry)
        if dry {
            object.set("metadata.resourceVersion", oldMetadata["resourceVersion"])
        } else if metadata["deletionTimestamp"] != nil, (metadata["finalizers"]?.arrayValue ?? []).isEmpty {
            store[kind.storage]?[storageKey] = nil  // the last finalizer is gone: so is the object
        } else {
            store[kind.storage]?[storageKey] = object
        }
        return Status.json(200, .object(served(object, kind)), warnings: decoded.warnings)
    }

    func patch(_ target: Target, body: [UInt8], contentType: String) -> ServerResponse {
        let kind = target.kind
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let patchTypes =
            ["application/merge-patch+json", "application/json-patch+json"]
            + (kind.isCustom ? [] : ["application/strategic-merge-patch+json"])
        guard patchTypes.contains(type) else {
            if type == "application/apply-patch+yaml" {
                return Status.failure(
                    415, "UnsupportedMediaType",
                    "the fake API server does not implement server-side apply; certctl does not use it",
                    details: .object([:]))
            }
            if type == "application/strategic-merge-patch+json" {
                return Status.failure(
                    415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                    details: .object([:]))
            }
            return Status.failure(415, "UnsupportedMediaType", "415: Unsupported Media Type", details: .object([:]))
        }
        guard let name = target.name, let stored = store[kind.storage]?[key(kind, target.namespace, name)] else {
            return Status.notFound(kind, target.name ?? "")
        }
        let patch: JSONValue
        do {
            patch = try JSONValue.parse(body)
        } catch {
            return Status.badRequest("error decoding patch: \(error.message)")
        }
        let current = JSONValue.object(served(stored, kind))
        let result: JSONValue
        switch type {
        case "application/json-patch+json":
            do {
                result = try Patches.jsonPatch(current, patch)
            } catch {
                return Status.failure(
                    422, "Invalid", "the server rejected our request due to an error in our request",
                    details: .object([:]))
            }
        case "application/strategic-merge-patch+json":
            result = Patches.strategicMerge(current, patch)
        default:
            result = current.merging(patch)
        }
        let decoded: Decoded
        switch decodeBody(result.serialized(), target) {
        case .success(let value): decoded = value
        case .failure(let response): return response
        }
        return write(decoded, target)
    }

    func delete(_ target: Target, body: [UInt8]) -> ServerResponse {
        let kind = target.kind
        guard let name = target.name, let stored = store[kind.storage]?[key(kind, target.namespace, name)] else {
            return Status.notFound(kind, target.name ?? "")
        }
        let dry: Bool
        switch dryRun(target) {
        case .success(let value): dry = value
        case .failure(let response): return response
        }
        let metadata = stored.object("metadata")
        if !body.isEmpty, let options = try? JSONValue.parse(body), let preconditions = options["preconditions"] {
            let kindName = kind.group.isEmpty ? kind.kind : "\(kind.kind).\(kind.group)"
            // As kube-apiserver v1.36.2 answers each (the UID case checked by hand against it).
            for (field, words, likely) in [
                ("uid", "UID", "deleted and then recreated"), ("resourceVersion", "ResourceVersion", "modified"),
            ] {
                if let wanted = preconditions[field]?.stringValue, wanted != metadata[field]?.stringValue {
                    return Status.failure(
                        409, "Conflict",
                        "Operation cannot be fulfilled on \(kindName) \"\(name)\": the \(words) in the precondition (\(wanted)) does not match the \(words) in record (\(metadata[field]?.stringValue ?? "")). The object might have been \(likely)",
                        details: Status.details(kind, name: name, kindName: kind.kind))
                }
            }
        }
        let storageKey = key(kind, target.namespace, name)
        if !(metadata["finalizers"]?.arrayValue ?? []).isEmpty {
            // Finalizers hold it: marked for deletion, still there.
            if metadata["deletionTimestamp"] != nil { return Status.json(200, .object(served(stored, kind))) }
            var marked = stored
            marked.set("metadata.deletionTimestamp", .string(Timestamp.rfc3339(Date())))
            marked.set("metadata.deletionGracePeriodSeconds", JSONValue(0))
            if !dry {
                marked.set("metadata.resourceVersion", .string(nextVersion()))
                store[kind.storage]?[storageKey] = marked
            }
            return Status.json(200, .object(served(marked, kind)))
        }
        if !dry { store[kind.storage]?[storageKey] = nil }
        if kind.deleteReturnsObject { return Status.json(200, .object(served(stored, kind))) }
        var details = Status.details(kind, name: name).objectValue ?? [:]
        details["uid"] = metadata["uid"]
        return Status.json(
            200,
            .object([
                "kind": .string("Status"), "apiVersion": .string("v1"), "metadata": .object([:]),
                "status": .string("Success"), "details": .object(details),
            ]))
    }
}
