import Basics
import Transport

/// The built-in kinds certctl reads and writes, with the defaults and validation of
/// `k8s.io/kubernetes/pkg/apis/*/validation` that the recording shows.
enum BuiltinKinds {
    static let all: [ResourceKind] = [
        secret, configMap, service, ingress, lease, event, coreEvent, endpointSlice, namespace, accessReview,
    ]

    // MARK: Secret and ConfigMap

    static let secret = ResourceKind(
        group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true,
        body: .builtin(BuiltinSchemas.secret), fieldSelectors: ["type"], storage: "secrets",
        defaults: { object, _, _ in
            // stringData is write-only: merged into data, as the server does.
            var data = object.object("data")
            for (key, value) in object.object("stringData") {
                data[key] = .string(Array((value.stringValue ?? "").utf8).base64)
            }
            object["stringData"] = nil
            object["data"] = data.isEmpty ? nil : .object(data)
            if (object.string("type") ?? "").isEmpty { object["type"] = .string("Opaque") }
        },
        validate: { new, old in
            var errors = configData(new, binaryKey: nil)
            let data = new.object("data")
            let type = new.string("type") ?? "Opaque"
            let required: [String: [String]] = [
                "kubernetes.io/tls": ["tls.crt", "tls.key"], "kubernetes.io/ssh-auth": ["ssh-privatekey"],
                "kubernetes.io/dockerconfigjson": [".dockerconfigjson"], "kubernetes.io/dockercfg": [".dockercfg"],
            ]
            for key in required[type] ?? [] where data[key] == nil {
                errors.append(.required("data[\(key)]"))
            }
            if type == "kubernetes.io/basic-auth", data["username"] == nil, data["password"] == nil {
                errors.append(.required("data[username]"))
                errors.append(.required("data[password]"))
            }
            guard let old else { return errors }
            if let oldType = old.string("type"), oldType != type {
                errors.append(.invalid("type", type, "field is immutable"))
            }
            errors += immutableData(new, old)
            return errors
        })

    static let configMap = ResourceKind(
        group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true,
        body: .builtin(BuiltinSchemas.configMap), storage: "configmaps",
        validate: { new, old in
            var errors = configData(new, binaryKey: "binaryData")
            if let old { errors += immutableData(new, old) }
            return errors
        })

    /// Data keys are config keys; Secrets and ConfigMaps hold at most 1 MiB.
    static func configData(_ object: [String: JSONValue], binaryKey: String?) -> [FieldError] {
        var errors: [FieldError] = []
        var size = 0
        for field in ["data", "stringData", binaryKey].compactMap({ $0 }) {
            for (key, value) in object.object(field).sorted(by: { $0.key < $1.key }) {
                for message in NameRules.configKey(key) {
                    errors.append(.invalid("\(field)[\(key)]", key, message))
                }
                size += key.utf8.count + (value.stringValue?.utf8.count ?? 0) * 3 / 4
            }
        }
        if let binaryKey {
            for key in object.object(binaryKey).keys.sorted() where object.object("data")[key] != nil {
                errors.append(FieldError(field: "data[\(key)]", kind: .duplicate, value: .string(key), detail: ""))
            }
        }
        if size > 1 << 20 { errors.append(.tooLong("data", "must have at most \(1 << 20) bytes")) }
        return errors
    }

    static func immutableData(_ new: [String: JSONValue], _ old: [String: JSONValue]) -> [FieldError] {
        guard old["immutable"]?.boolValue == true else { return [] }
        var errors: [FieldError] = []
        let message = "field is immutable when `immutable` is set"
        if new["data"] != old["data"] { errors.append(.forbidden("data", message)) }
        if new["binaryData"] != old["binaryData"] { errors.append(.forbidden("binaryData", message)) }
        if new["immutable"]?.boolValue != true { errors.append(.forbidden("immutable", message)) }
        return errors
    }

    // MARK: Service

    static let service = ResourceKind(
        group: "", version: "v1", kind: "Service", plural: "services", namespaced: true,
        body: .builtin(BuiltinSchemas.service), nameRule: NameRules.dns1123Label, deleteReturnsObject: true,
        storage: "services",
        defaults: { object, old, allocator in
            var spec = object.object("spec")
            let type = spec["type"]?.stringValue ?? "ClusterIP"
            spec["type"] = .string(type)
            if spec["sessionAffinity"] == nil { spec["sessionAffinity"] = .string("None") }
            var ports = spec["ports"]?.arrayValue ?? []
            for index in ports.indices {
                guard var port = ports[index].objectValue else { continue }
                if port["protocol"] == nil { port["protocol"] = .string("TCP") }
                if port["targetPort"] == nil { port["targetPort"] = port["port"] }
                if type == "NodePort" || type == "LoadBalancer", port["nodePort"] == nil {
                    port["nodePort"] = JSONValue(allocator.nodePort())
                }
                ports[index] = .object(port)
            }
            if !ports.isEmpty { spec["ports"] = .array(ports) }
            if type != "ExternalName" {
                if let kept = old?.object("spec")["clusterIP"], spec["clusterIP"] == nil { spec["clusterIP"] = kept }
                if spec["clusterIP"] == nil { spec["clusterIP"] = .string(allocator.clusterIP()) }
                if spec["clusterIPs"] == nil, let ip = spec["clusterIP"] { spec["clusterIPs"] = .array([ip]) }
                if spec["ipFamilies"] == nil { spec["ipFamilies"] = .array([.string("IPv4")]) }
                if spec["ipFamilyPolicy"] == nil { spec["ipFamilyPolicy"] = .string("SingleStack") }
                if spec["internalTrafficPolicy"] == nil { spec["internalTrafficPolicy"] = .string("Cluster") }
            }
            if type == "NodePort" || type == "LoadBalancer", spec["externalTrafficPolicy"] == nil {
                spec["externalTrafficPolicy"] = .string("Cluster")
            }
            if type == "LoadBalancer", spec["allocateLoadBalancerNodePorts"] == nil {
                spec["allocateLoadBalancerNodePorts"] = .bool(true)
            }
            object["spec"] = .object(spec)
        },
        validate: { new, old in
            var errors: [FieldError] = []
            let spec = new.object("spec")
            let type = spec["type"]?.stringValue ?? "ClusterIP"
            let types = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]
            if !types.contains(type) { errors.append(.notSupported("spec.type", type, types)) }
            let ports = spec["ports"]?.arrayValue ?? []
            if ports.isEmpty, type != "ExternalName" { errors.append(.required("spec.ports")) }
            for (index, value) in ports.enumerated() {
                let port = value.objectValue ?? [:]
                let path = "spec.ports[\(index)]"
                let name = port["name"]?.stringValue ?? ""
                if ports.count > 1, name.isEmpty { errors.append(.required("\(path).name")) }
                if !name.isEmpty {
                    for message in NameRules.dns1123Label(name) {
                        errors.append(.invalid("\(path).name", name, message))
                    }
                }
                let number = port["port"]?.integerValue ?? 0
                if !(1...65535).contains(number) {
                    errors.append(.invalid("\(path).port", number, "must be between 1 and 65535, inclusive"))
                }
                let proto = port["protocol"]?.stringValue ?? "TCP"
                if !["TCP", "UDP", "SCTP"].contains(proto) {
                    errors.append(.notSupported("\(path).protocol", proto, ["SCTP", "TCP", "UDP"]))
                }
                if let target = port["targetPort"]?.integerValue, !(1...65535).contains(target) {
                    errors.append(.invalid("\(path).targetPort", target, "must be between 1 and 65535, inclusive"))
                }
            }
            for (key, value) in spec["selector"]?.objectValue ?? [:] {
                errors += labelErrors(key, value.stringValue ?? "", field: "spec.selector")
            }
            if let affinity = spec["sessionAffinity"]?.stringValue, !["None", "ClientIP"].contains(affinity) {
                errors.append(.notSupported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
            }
            if let old, let before = old.object("spec")["clusterIP"]?.stringValue,
                let after = spec["clusterIP"]?.stringValue, before != after
            {
                errors.append(.invalid("spec.clusterIPs[0]", after, "may not change once set"))
            }
            return errors
        })

    // MARK: Ingress

    static let ingress = ResourceKind(
        group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", namespaced: true,
        body: .builtin(BuiltinSchemas.ingress), hasGeneration: true, storage: "ingresses",
        validate: { new, old in
            var errors: [FieldError] = []
            let spec = new.object("spec")
            let rules = spec["rules"]?.arrayValue ?? []
            if spec["defaultBackend"] == nil, rules.isEmpty {
                errors.append(
                    FieldError(
                        field: "spec", kind: .invalid, value: .omitted,
                        detail: "either `defaultBackend` or `rules` must be specified"))
            }
            if let backend = spec["defaultBackend"]?.objectValue {
                errors += backendErrors(backend, path: "spec.defaultBackend")
            }
            for (index, value) in rules.enumerated() {
                let rule = value.objectValue ?? [:]
                let path = "spec.rules[\(index)]"
                if let host = rule["host"]?.stringValue, !host.isEmpty {
                    errors += hostErrors(host, field: "\(path).host")
                }
                guard let http = rule["http"]?.objectValue else { continue }
                let paths = http["paths"]?.arrayValue ?? []
                if paths.isEmpty { errors.append(.required("\(path).http.paths")) }
                for (pathIndex, entry) in paths.enumerated() {
                    let item = entry.objectValue ?? [:]
                    let itemPath = "\(path).http.paths[\(pathIndex)]"
                    let pathType = item["pathType"]?.stringValue
                    let text = item["path"]?.stringValue ?? ""
                    switch pathType {
                    case nil:
                        errors.append(.required("\(itemPath).pathType", "pathType must be specified"))
                    case "Exact", "Prefix":
                        if !text.hasPrefix("/") {
                            errors.append(.invalid("\(itemPath).path", text, "must be an absolute path"))
                        }
                        for bad in ["//", "/./", "/../", "%2f", "%2F"] where text.contains(bad) {
                            errors.append(.invalid("\(itemPath).path", text, "must not contain '\(bad)'"))
                        }
                    case "ImplementationSpecific":
                        if !text.isEmpty, !text.hasPrefix("/") {
                            errors.append(.invalid("\(itemPath).path", text, "must be an absolute path"))
                        }
                    case let other?:
                        errors.append(
                            .notSupported("\(itemPath).pathType", other, ["Exact", "ImplementationSpecific", "Prefix"]))
                    }
                    errors += backendErrors(item["backend"]?.objectValue ?? [:], path: "\(itemPath).backend")
                }
            }
            for (index, value) in (spec["tls"]?.arrayValue ?? []).enumerated() {
                let tls = value.objectValue ?? [:]
                for (hostIndex, host) in (tls["hosts"]?.arrayValue ?? []).enumerated() {
                    errors += hostErrors(host.stringValue ?? "", field: "spec.tls[\(index)].hosts[\(hostIndex)]")
                }
                if let secret = tls["secretName"]?.stringValue, !secret.isEmpty {
                    for message in NameRules.dns1123Subdomain(secret) {
                        errors.append(.invalid("spec.tls[\(index)].secretName", secret, message))
                    }
                }
            }
            if let className = spec["ingressClassName"]?.stringValue {
                for message in NameRules.dns1123Subdomain(className) {
                    errors.append(.invalid("spec.ingressClassName", className, message))
                }
                let annotation = new.object("metadata")["annotations"]?["kubernetes.io/ingress.class"]?.stringValue
                let before = old?.object("metadata")["annotations"]?["kubernetes.io/ingress.class"]?.stringValue
                if let annotation, old == nil || annotation != before {
                    errors.append(
                        .invalid(
                            "annotations.kubernetes.io/ingress.class", annotation,
                            "can not be set when the class field is also set"))
                }
            }
            return errors
        })

    /// An Ingress host: a DNS subdomain or a wildcard one, never an IP address.
    static func hostErrors(_ host: String, field: String) -> [FieldError] {
        if NameRules.isIPv4(host) || NameRules.isIPv6(host) {
            return [.invalid(field, host, "must be a DNS name, not an IP address")]
        }
        let messages = host.contains("*") ? NameRules.wildcardSubdomain(host) : NameRules.dns1123Subdomain(host)
        return messages.map { .invalid(field, host, $0) }
    }

    static func backendErrors(_ backend: [String: JSONValue], path: String) -> [FieldError] {
        let service = backend["service"]?.objectValue
        let resource = backend["resource"]?.objectValue
        if service != nil, resource != nil {
            return [
                FieldError(
                    field: path, kind: .invalid, value: .omitted,
                    detail: "cannot set both resource and service backends")
            ]
        }
        guard let service else {
            return resource == nil
                ? [
                    FieldError(
                        field: path, kind: .invalid, value: .omitted, detail: "resource or service must be specified")
                ]
                : []
        }
        var errors: [FieldError] = []
        let name = service["name"]?.stringValue ?? ""
        for message in NameRules.dns1123Label(name) {
            errors.append(.invalid("\(path).service.name", name, message))
        }
        let port = service["port"]?.objectValue ?? [:]
        let portName = port["name"]?.stringValue ?? ""
        let number = port["number"]?.integerValue ?? 0
        if !portName.isEmpty, number != 0 {
            errors.append(
                FieldError(
                    field: "\(path).service.port", kind: .invalid, value: .omitted,
                    detail: "cannot set both port name & port number"))
        } else if portName.isEmpty, number == 0 {
            errors.append(
                FieldError(
                    field: "\(path).service.port", kind: .invalid, value: .omitted,
                    detail: "port name or number is required"))
        } else if number != 0, !(1...65535).contains(number) {
            errors.append(.invalid("\(path).service.port.number", number, "must be between 1 and 65535, inclusive"))
        }
        return errors
    }

    // MARK: Lease

    static let lease = ResourceKind(
        group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true,
        body: .builtin(BuiltinSchemas.lease), storage: "leases",
        validate: { new, _ in
            var errors: [FieldError] = []
            let spec = new.object("spec")
            if let duration = spec["leaseDurationSeconds"]?.integerValue, duration <= 0 {
                errors.append(.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0"))
            }
            if let transitions = spec["leaseTransitions"]?.integerValue, transitions < 0 {
                errors.append(.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0"))
            }
            if spec["preferredHolder"] != nil, spec["strategy"] == nil {
                errors.append(
                    FieldError(
                        field: "spec.strategy", kind: .forbidden, value: .omitted,
                        detail: "strategy must be set when preferredHolder is set"))
            }
            return errors
        })

    // MARK: Events

    /// `events.k8s.io/v1`: the strict validation of new-style Events.
    static let event = ResourceKind(
        group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", namespaced: true,
        body: .builtin(BuiltinSchemas.event),
        fieldSelectors: ["regarding.kind", "regarding.name", "regarding.namespace", "reason", "type"],
        storage: "events", validationGroup: "",
        validate: { new, _ in eventErrors(new, strict: true) })

    /// `core/v1`: the same store, in the old field names, with the legacy validation.
    static let coreEvent = ResourceKind(
        group: "", version: "v1", kind: "Event", plural: "events", namespaced: true,
        body: .builtin(BuiltinSchemas.coreEvent),
        fieldSelectors: [
            "involvedObject.kind", "involvedObject.name", "involvedObject.namespace", "involvedObject.uid", "reason",
            "reportingComponent", "source", "type",
        ],
        storage: "events",
        validate: { new, _ in eventErrors(fromCoreEvent(new), strict: false) },
        toServed: toCoreEvent,
        fromServed: fromCoreEvent)

    /// The pairs of names: `events.k8s.io/v1` and `core/v1`.
    static let eventFields = [
        ("regarding", "involvedObject"), ("note", "message"), ("deprecatedSource", "source"),
        ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
        ("deprecatedCount", "count"), ("reportingController", "reportingComponent"),
    ]

    @Sendable static func toCoreEvent(_ object: [String: JSONValue]) -> [String: JSONValue] {
        var result = object
        for (new, old) in eventFields {
            result[old] = object[new]
            result[new] = nil
        }
        return result
    }

    @Sendable static func fromCoreEvent(_ object: [String: JSONValue]) -> [String: JSONValue] {
        var result = object
        for (new, old) in eventFields {
            result[new] = object[old]
            result[old] = nil
        }
        return result
    }

    /// `ValidateEventCreate` (events.k8s.io/v1) and its legacy part for core/v1.
    static func eventErrors(_ event: [String: JSONValue], strict: Bool) -> [FieldError] {
        var errors: [FieldError] = []
        let controllerField = strict ? "reportingController" : "reportingComponent"
        let namespace = event.object("metadata")["namespace"]?.stringValue ?? ""
        let regardingNamespace = event.object("regarding")["namespace"]?.stringValue ?? ""
        if event["eventTime"] == nil {
            if !regardingNamespace.isEmpty, regardingNamespace != namespace {
                errors.append(
                    .invalid("involvedObject.namespace", regardingNamespace, "does not match event.namespace"))
            }
        } else {
            if regardingNamespace.isEmpty, namespace != "default", namespace != "kube-system" {
                errors.append(
                    .invalid("involvedObject.namespace", regardingNamespace, "does not match event.namespace"))
            }
            let controller = event["reportingController"]?.stringValue ?? ""
            if controller.isEmpty { errors.append(.required(controllerField)) }
            for message in NameRules.qualifiedName(controller) {
                errors.append(.invalid(controllerField, controller, message))
            }
            let limits = [
                ("reportingInstance", "reportingInstance", 128), ("action", "action", 128), ("reason", "reason", 128),
            ]
            for (key, field, limit) in limits {
                let value = event[key]?.stringValue ?? ""
                if value.isEmpty { errors.append(.required(field)) }
                if value.utf8.count > limit {
                    errors.append(.invalid(field, "", "can have at most \(limit) characters"))
                }
            }
            if (event["note"]?.stringValue ?? "").utf8.count > 1024 {
                errors.append(.invalid("message", "", "can have at most 1024 characters"))
            }
        }
        guard strict else { return errors }
        if event["eventTime"] == nil { errors.append(.required("eventTime")) }
        let type = event["type"]?.stringValue ?? ""
        if type != "Normal", type != "Warning" {
            errors.append(.invalid("type", "", "has invalid value: \(type)"))
        }
        for (key, field) in [
            ("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
        ]
        where event[key] != nil {
            errors.append(.invalid(field, "", "needs to be unset"))
        }
        if let count = event["deprecatedCount"]?.integerValue, count != 0 {
            errors.append(.invalid("count", "", "needs to be unset"))
        }
        if !(event["deprecatedSource"]?.objectValue ?? [:]).isEmpty {
            errors.append(.invalid("source", "", "needs to be unset"))
        }
        return errors
    }

    // MARK: EndpointSlice, Namespace, SelfSubjectAccessReview

    static let endpointSlice = ResourceKind(
        group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true,
        body: .builtin(BuiltinSchemas.endpointSlice), hasGeneration: true, storage: "endpointslices",
        defaults: { object, _, _ in
            var ports = object["ports"]?.arrayValue ?? []
            for index in ports.indices {
                guard var port = ports[index].objectValue else { continue }
                if port["protocol"] == nil { port["protocol"] = .string("TCP") }
                ports[index] = .object(port)
            }
            if object["ports"] != nil { object["ports"] = .array(ports) }
        },
        validate: { new, _ in
            var errors: [FieldError] = []
            let types = ["IPv4", "IPv6", "FQDN"]
            let type = new["addressType"]?.stringValue ?? ""
            if type.isEmpty {
                errors.append(.required("addressType"))
            } else if !types.contains(type) {
                errors.append(.notSupported("addressType", type, types))
            }
            for (index, value) in (new["endpoints"]?.arrayValue ?? []).enumerated() {
                let addresses = value["addresses"]?.arrayValue ?? []
                if addresses.isEmpty { errors.append(.required("endpoints[\(index)].addresses")) }
                for (addressIndex, address) in addresses.enumerated() {
                    let text = address.stringValue ?? ""
                    let field = "endpoints[\(index)].addresses[\(addressIndex)]"
                    switch type {
                    case "IPv4", "IPv6":
                        if !NameRules.isIPv4(text), !NameRules.isIPv6(text) {
                            errors.append(
                                .invalid(field, text, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
                        } else if type == "IPv4", !NameRules.isIPv4(text) {
                            errors.append(.invalid(field, text, "must be an IPv4 address"))
                        }
                    case "FQDN":
                        for message in NameRules.dns1123Subdomain(text) {
                            errors.append(.invalid(field, text, message))
                        }
                    default: break
                    }
                }
            }
            for (index, value) in (new["ports"]?.arrayValue ?? []).enumerated() {
                if let name = value["name"]?.stringValue, !name.isEmpty {
                    for message in NameRules.dns1123Label(name) {
                        errors.append(.invalid("ports[\(index)].name", name, message))
                    }
                }
                if let proto = value["protocol"]?.stringValue, !["TCP", "UDP", "SCTP"].contains(proto) {
                    errors.append(.notSupported("ports[\(index)].protocol", proto, ["SCTP", "TCP", "UDP"]))
                }
            }
            return errors
        })

    static let namespace = ResourceKind(
        group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false,
        body: .builtin(BuiltinSchemas.namespace), nameRule: NameRules.dns1123Label, storage: "namespaces",
        defaults: { object, _, _ in
            var metadata = object.object("metadata")
            var labels = metadata["labels"]?.objectValue ?? [:]
            labels["kubernetes.io/metadata.name"] = metadata["name"]
            metadata["labels"] = .object(labels)
            object["metadata"] = .object(metadata)
            if object.object("spec")["finalizers"] == nil {
                object.set("spec.finalizers", .array([.string("kubernetes")]))
            }
            if object.object("status")["phase"] == nil { object.set("status.phase", .string("Active")) }
        })

    static let accessReview = ResourceKind(
        group: "authorization.k8s.io", version: "v1", kind: "SelfSubjectAccessReview",
        plural: "selfsubjectaccessreviews", namespaced: false, body: .builtin(BuiltinSchemas.selfSubjectAccessReview),
        storage: "selfsubjectaccessreviews", isVirtual: true,
        validate: { new, _ in
            let spec = new.object("spec")
            if (spec["resourceAttributes"] == nil) == (spec["nonResourceAttributes"] == nil) {
                return [
                    FieldError(
                        field: "spec.resourceAttributes", kind: .invalid, value: .omitted,
                        detail: "exactly one of nonResourceAttributes or resourceAttributes must be specified")
                ]
            }
            return []
        })

    /// A label's key and value, checked as `ValidateLabels` does, reported at `field`.
    static func labelErrors(_ key: String, _ value: String, field: String) -> [FieldError] {
        NameRules.qualifiedName(key).map { .invalid(field, key, $0) }
            + NameRules.labelValue(value).map { .invalid(field, value, $0) }
    }
}

extension [UInt8] {
    var base64: String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < count {
            let chunk = self[index..<Swift.min(index + 3, count)]
            var bits: UInt32 = 0
            for (offset, byte) in chunk.enumerated() { bits |= UInt32(clamping: byte) << (16 - 8 * offset) }
            for position in 0..<4 {
                output.append(
                    position <= chunk.count
                        ? alphabet[Int(clamping: bits >> (18 - 6 * position) & 0x3f)] : UInt8(ascii: "="))
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
