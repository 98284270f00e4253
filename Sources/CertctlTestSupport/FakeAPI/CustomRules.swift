import Basics

/// The CEL rules (`x-kubernetes-validations`) of the Gateway API CRDs that certctl's requests
/// and its tests can meet, written out in Swift with the CRDs' own messages: the fake does not
/// evaluate CEL, and every other rule is a known difference (`KubeAPIConformanceTests`).
enum CustomRules {
    static func rules(group: String, kind: String) -> @Sendable ([String: JSONValue]) -> [FieldError] {
        switch (group, kind) {
        case ("gateway.networking.k8s.io", "Gateway"): gateway
        case ("gateway.networking.k8s.io", "ListenerSet"): listenerSet
        case ("gateway.networking.k8s.io", "HTTPRoute"): httpRoute
        default: { _ in [] }
        }
    }

    /// Listener names unique; HTTPS terminates TLS.
    static let gateway: @Sendable ([String: JSONValue]) -> [FieldError] = { object in
        listenerRules(object["spec"]?["listeners"]?.arrayValue ?? [], field: "spec.listeners", unique: "Gateway")
    }

    static let listenerSet: @Sendable ([String: JSONValue]) -> [FieldError] = { object in
        listenerRules(object["spec"]?["listeners"]?.arrayValue ?? [], field: "spec.listeners", unique: "ListenerSet")
    }

    static func listenerRules(_ listeners: [JSONValue], field: String, unique: String) -> [FieldError] {
        var errors: [FieldError] = []
        let names = listeners.compactMap { $0["name"]?.stringValue }
        // The schema's `x-kubernetes-list-type: map` keyed by name: each repeat is a duplicate.
        var seen = Set<String>()
        for (index, name) in names.enumerated() where !seen.insert(name).inserted {
            errors.append(
                FieldError(
                    field: "\(field)[\(index)]", kind: .duplicate,
                    value: .raw(JSONValue.object(["name": .string(name)]).text), detail: ""))
        }
        if Set(names).count != names.count {
            errors.append(
                FieldError(
                    field: field, kind: .invalid, value: .omitted,
                    detail: "Listener name must be unique within the \(unique)"))
        }
        let terminates = listeners.allSatisfy { listener in
            listener["protocol"]?.stringValue != "HTTPS"
                || (listener["tls"]?["mode"]?.stringValue ?? "Terminate") == "Terminate"
        }
        if !terminates {
            errors.append(
                FieldError(
                    field: field, kind: .invalid, value: .omitted,
                    detail: "tls mode must be Terminate for protocol HTTPS"))
        }
        return errors
    }

    /// A Service backendRef names its port; an Exact or PathPrefix path is absolute.
    static let httpRoute: @Sendable ([String: JSONValue]) -> [FieldError] = { object in
        var errors: [FieldError] = []
        for (ruleIndex, rule) in (object["spec"]?["rules"]?.arrayValue ?? []).enumerated() {
            for (index, match) in (rule["matches"]?.arrayValue ?? []).enumerated() {
                guard let path = match["path"], let value = path["value"]?.stringValue else { continue }
                let type = path["type"]?.stringValue ?? "PathPrefix"
                if ["Exact", "PathPrefix"].contains(type), !value.hasPrefix("/") {
                    errors.append(
                        FieldError(
                            field: "spec.rules[\(ruleIndex)].matches[\(index)].path", kind: .invalid, value: .omitted,
                            detail:
                                "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']"
                        ))
                }
            }
            for (index, backend) in (rule["backendRefs"]?.arrayValue ?? []).enumerated() {
                let isService =
                    (backend["group"]?.stringValue ?? "").isEmpty
                    && (backend["kind"]?.stringValue ?? "Service") == "Service"
                if isService, backend["port"] == nil {
                    errors.append(
                        FieldError(
                            field: "spec.rules[\(ruleIndex)].backendRefs[\(index)]", kind: .invalid, value: .omitted,
                            detail: "Must have port for Service reference"))
                }
            }
        }
        return errors
    }
}
