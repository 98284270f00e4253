import Basics
import Foundation
import Kubernetes
import Synchronization
import Transport

/// A CustomResourceDefinition's structural schema (`openAPIV3Schema`), applied as the API server
/// applies it to custom resources: unknown fields pruned (with a warning), defaults filled in,
/// then types, `required`, `enum`, lengths, bounds, patterns and formats checked (422 Invalid).
/// The CEL rules (`x-kubernetes-validations`) are not evaluated (the Gateway API's that certctl
/// meets are written out in ``CustomRules``); as the real server does, a missing, unsupported or
/// mistyped value on a CRD that has them adds the cause "some validation rules were not checked".
final class OpenAPISchema: Sendable {
    let type: String?
    let properties: [String: OpenAPISchema]
    /// `additionalProperties`: a schema for a map's values; nil when the object is closed.
    let additionalProperties: OpenAPISchema?
    let items: OpenAPISchema?
    let required: [String]
    let enumValues: [JSONValue]?
    let defaultValue: JSONValue?
    let preservesUnknownFields: Bool
    let isIntOrString: Bool
    let nullable: Bool
    let format: String?
    let pattern: String?
    let minLength: Int?
    let maxLength: Int?
    let minimum: Double?
    let maximum: Double?
    /// Any `x-kubernetes-validations` below this node.
    let hasRules: Bool

    init(_ node: [String: Any]) {
        type = node["type"] as? String
        var properties: [String: OpenAPISchema] = [:]
        for (key, value) in (node["properties"] as? [String: Any]) ?? [:] {
            if let child = value as? [String: Any] { properties[key] = OpenAPISchema(child) }
        }
        self.properties = properties
        additionalProperties = (node["additionalProperties"] as? [String: Any]).map(OpenAPISchema.init)
        items = (node["items"] as? [String: Any]).map(OpenAPISchema.init)
        required = (node["required"] as? [String]) ?? []
        enumValues = (node["enum"] as? [Any]).map { $0.map(Self.json) }
        defaultValue = node["default"].map(Self.json)
        preservesUnknownFields = node["x-kubernetes-preserve-unknown-fields"] as? Bool == true
        isIntOrString = node["x-kubernetes-int-or-string"] as? Bool == true
        nullable = node["nullable"] as? Bool == true
        format = node["format"] as? String
        pattern = node["pattern"] as? String
        minLength = node["minLength"] as? Int
        maxLength = node["maxLength"] as? Int
        minimum = (node["minimum"] as? Int).map(Double.init) ?? node["minimum"] as? Double
        maximum = (node["maximum"] as? Int).map(Double.init) ?? node["maximum"] as? Double
        hasRules =
            node["x-kubernetes-validations"] != nil || properties.values.contains { $0.hasRules }
            || additionalProperties?.hasRules == true || items?.hasRules == true
    }

    /// A YAML value as JSON.
    static func json(_ value: Any) -> JSONValue {
        switch value {
        case let flag as Bool: .bool(flag)
        case let integer as Int: .number(String(integer))
        case let double as Double: .number(String(double))
        case let text as String: .string(text)
        case let list as [Any]: .array(list.map(json))
        case let map as [String: Any]: .object(map.mapValues(json))
        default: .null
        }
    }

    // MARK: Pruning and defaults

    /// `value` without the fields the schema does not have (their paths go to `unknown`), with
    /// the schema's defaults where a member is absent.
    func prune(_ value: JSONValue, path: String, unknown: inout [String]) -> JSONValue {
        switch value {
        case .object(let members):
            if preservesUnknownFields, properties.isEmpty, additionalProperties == nil { return value }
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if let child = properties[key] {
                    result[key] = child.prune(member, path: childPath, unknown: &unknown)
                } else if let values = additionalProperties {
                    result[key] = values.prune(member, path: childPath, unknown: &unknown)
                } else if preservesUnknownFields {
                    result[key] = member
                } else {
                    unknown.append(childPath)
                }
            }
            for (key, child) in properties where result[key] == nil {
                if let defaultValue = child.defaultValue { result[key] = defaultValue }
            }
            return .object(result)
        case .array(let elements):
            guard let items else { return value }
            return .array(
                elements.enumerated().map { items.prune($1, path: "\(path)[\($0)]", unknown: &unknown) })
        default:
            return value
        }
    }

    // MARK: Validation

    func validate(_ value: JSONValue, path: String) -> [FieldError] {
        if value.isNull {
            return nullable ? [] : [typeError(value, path: path, expected: type ?? "object")]
        }
        if isIntOrString {
            switch value {
            case .string, .number: return []
            default: return [typeError(value, path: path, expected: "integer-or-string")]
            }
        }
        var errors: [FieldError] = []
        switch (type, value) {
        case ("object", .object(let members)), (nil, .object(let members)):
            for key in required where members[key] == nil {
                errors.append(.required(path.isEmpty ? key : "\(path).\(key)"))
            }
            for (key, member) in members.sorted(by: { $0.key < $1.key }) {
                let childPath = path.isEmpty ? key : "\(path).\(key)"
                if let child = properties[key] ?? additionalProperties {
                    errors += child.validate(member, path: childPath)
                }
            }
        case ("array", .array(let elements)):
            for (index, element) in elements.enumerated() {
                errors += items?.validate(element, path: "\(path)[\(index)]") ?? []
            }
        case ("string", .string(let text)):
            if let maxLength, text.count > maxLength {
                errors.append(.tooLong(path, "may not be more than \(maxLength) bytes"))
            }
            if let minLength, text.count < minLength {
                errors.append(.invalid(path, text, "\(path) in body should be at least \(minLength) chars long"))
            }
            if let pattern, text.range(of: pattern, options: .regularExpression) == nil {
                errors.append(.invalid(path, text, "\(path) in body should match '\(pattern)'"))
            }
            if format == "date-time", Timestamp.rfc3339(text) == nil {
                errors.append(.invalid(path, text, "\(path) in body must be of type date-time: \"\(text)\""))
            }
            if format == "byte", case .failure = Base64Std.decode(text) {
                errors.append(.invalid(path, text, "\(path) in body must be of type byte: \"\(text)\""))
            }
        case ("integer", .number(let text)) where Int64(text) != nil, ("number", .number(let text)):
            let number = Double(text) ?? 0
            if let minimum, number < minimum {
                errors.append(
                    .invalid(
                        path, Int64(clamping: Bounded.int(number)),
                        "\(path) in body should be greater than or equal to \(Bounded.int(minimum))"))
            }
            if let maximum, number > maximum {
                errors.append(
                    .invalid(
                        path, Int64(clamping: Bounded.int(number)),
                        "\(path) in body should be less than or equal to \(Bounded.int(maximum))"))
            }
        case ("boolean", .bool):
            break
        default:
            return [typeError(value, path: path, expected: type ?? "object")]
        }
        if let enumValues, !enumValues.contains(value) {
            errors.append(
                .notSupported(path, value.stringValue ?? value.text, enumValues.map { $0.stringValue ?? $0.text }))
        }
        return errors
    }

    private func typeError(_ value: JSONValue, path: String, expected: String) -> FieldError {
        let actual: String =
            switch value {
            case .number(let text): Int64(text) != nil ? "integer" : "number"
            case .bool: "boolean"
            default: value.typeName
            }
        return FieldError(
            field: path, kind: .typeInvalid, value: .string(actual),
            detail: "\(path) in body must be of type \(expected): \"\(actual)\"")
    }
}

/// A CustomResourceDefinition file as the fake serves it.
enum CustomResources {
    private static let cache = Mutex<[String: [ResourceKind]]>([:])

    /// The kinds the CRDs in `files` define (their first served version), read once per process.
    static func kinds(from files: [URL]) throws -> [ResourceKind] {
        try files.flatMap { file in
            if let known = cache.withLock({ $0[file.path] }) { return known }
            let text = try String(contentsOf: file, encoding: .utf8)
            guard let crd = try YAMLText.load(text) as? [String: Any], let spec = crd["spec"] as? [String: Any],
                let names = spec["names"] as? [String: Any], let group = spec["group"] as? String,
                let kind = names["kind"] as? String, let plural = names["plural"] as? String,
                let versions = spec["versions"] as? [[String: Any]]
            else {
                throw PebbleError(reason: "\(file.path) is not a CustomResourceDefinition")
            }
            // Every served version, each with its own schema, all kept in one storage.
            let defined = try versions.enumerated().compactMap { rank, version -> ResourceKind? in
                guard version["served"] as? Bool == true else { return nil }
                guard let name = version["name"] as? String,
                    let schema = (version["schema"] as? [String: Any])?["openAPIV3Schema"] as? [String: Any]
                else { throw PebbleError(reason: "\(file.path): a served version without a schema") }
                let root = OpenAPISchema(schema)
                var defined = ResourceKind(
                    group: group, version: name, kind: kind, plural: plural,
                    namespaced: spec["scope"] as? String != "Cluster", body: .custom(root, hasRules: root.hasRules),
                    hasGeneration: true, storage: "\(group)/\(plural)",
                    hasStatusSubresource: (version["subresources"] as? [String: Any])?["status"] != nil)
                defined.versionRank = rank
                defined.celRules = CustomRules.rules(group: group, kind: kind)
                return defined
            }
            cache.withLock { $0[file.path] = defined }
            return defined
        }
    }
}
