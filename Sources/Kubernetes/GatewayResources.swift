/// The Gateway API (`gateway.networking.k8s.io/v1`, v1.6): the parts of Gateways, ListenerSets
/// and ReferenceGrants that name hosts and Secrets.
public enum GatewayAPI {
    public static let group = "gateway.networking.k8s.io"

    /// A listener of a Gateway or a ListenerSet.
    public struct Listener: Codable, Sendable, Equatable {
        public var name: String
        public var hostname: String?
        public var port: Int?
        /// `HTTP`, `HTTPS`, `TLS`, `TCP`, `UDP`.
        public var `protocol`: String
        public var tls: TLSConfig?

        public init(name: String, hostname: String?, port: Int? = 443, protocol: String, tls: TLSConfig?) {
            self.name = name
            self.hostname = hostname
            self.port = port
            self.protocol = `protocol`
            self.tls = tls
        }
    }

    public struct TLSConfig: Codable, Sendable, Equatable {
        /// `Terminate` (the default) or `Passthrough`.
        public var mode: String?
        public var certificateRefs: [ObjectReference]?

        public init(mode: String? = nil, certificateRefs: [ObjectReference]?) {
            self.mode = mode
            self.certificateRefs = certificateRefs
        }
    }

    /// A reference to an object (`group` "" and `kind` Secret by default for certificateRefs).
    public struct ObjectReference: Codable, Sendable, Equatable {
        public var group: String?
        public var kind: String?
        public var name: String
        public var namespace: String?

        public init(group: String? = nil, kind: String? = nil, name: String, namespace: String? = nil) {
            self.group = group
            self.kind = kind
            self.name = name
            self.namespace = namespace
        }
    }
}

/// `gateway.networking.k8s.io/v1` Gateway.
public struct Gateway: KubernetesResource, Equatable {
    public static let apiVersion = "gateway.networking.k8s.io/v1"
    public static let kind = "Gateway"
    public static let plural = "gateways"

    public struct Spec: Codable, Sendable, Equatable {
        public var gatewayClassName: String?
        public var listeners: [GatewayAPI.Listener]?
        /// Which ListenerSets may attach (absent: none, the API's default).
        public var allowedListeners: AllowedListeners?

        public init(
            gatewayClassName: String?, listeners: [GatewayAPI.Listener]?, allowedListeners: AllowedListeners? = nil
        ) {
            self.gatewayClassName = gatewayClassName
            self.listeners = listeners
            self.allowedListeners = allowedListeners
        }
    }

    /// `spec.allowedListeners` (Gateway API v1.5+): the namespaces whose ListenerSets may attach.
    public struct AllowedListeners: Codable, Sendable, Equatable {
        public struct Namespaces: Codable, Sendable, Equatable {
            /// `None` (the default), `Same`, `All` or `Selector`.
            public var from: String?
            /// The namespaces' labels to match, with `from: Selector`.
            public var selector: LabelSelector?

            public init(from: String?, selector: LabelSelector? = nil) {
                self.from = from
                self.selector = selector
            }
        }

        public var namespaces: Namespaces?

        public init(namespaces: Namespaces?) { self.namespaces = namespaces }
    }

    public var apiVersion: String? = Gateway.apiVersion
    public var kind: String? = Gateway.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `gateway.networking.k8s.io/v1` ListenerSet: listeners attached to a Gateway (`parentRef`).
public struct ListenerSet: KubernetesResource, Equatable {
    public static let apiVersion = "gateway.networking.k8s.io/v1"
    public static let kind = "ListenerSet"
    public static let plural = "listenersets"

    public struct Spec: Codable, Sendable, Equatable {
        public var parentRef: GatewayAPI.ObjectReference
        public var listeners: [GatewayAPI.Listener]?

        public init(parentRef: GatewayAPI.ObjectReference, listeners: [GatewayAPI.Listener]?) {
            self.parentRef = parentRef
            self.listeners = listeners
        }
    }

    public var apiVersion: String? = ListenerSet.apiVersion
    public var kind: String? = ListenerSet.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `gateway.networking.k8s.io/v1` ReferenceGrant: lets objects of other namespaces refer to
/// objects of its own.
public struct ReferenceGrant: KubernetesResource, Equatable {
    public static let apiVersion = "gateway.networking.k8s.io/v1"
    public static let kind = "ReferenceGrant"
    public static let plural = "referencegrants"

    public struct From: Codable, Sendable, Equatable {
        public var group: String
        public var kind: String
        public var namespace: String

        public init(group: String, kind: String, namespace: String) {
            self.group = group
            self.kind = kind
            self.namespace = namespace
        }
    }

    public struct To: Codable, Sendable, Equatable {
        public var group: String
        public var kind: String
        public var name: String?

        public init(group: String, kind: String, name: String? = nil) {
            self.group = group
            self.kind = kind
            self.name = name
        }
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var from: [From]
        public var to: [To]

        public init(from: [From], to: [To]) {
            self.from = from
            self.to = to
        }
    }

    public var apiVersion: String? = ReferenceGrant.apiVersion
    public var kind: String? = ReferenceGrant.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }

    /// Whether it lets a `kind` (Gateway, ListenerSet) of namespace `namespace` refer to Secret
    /// `secret` of the grant's own namespace.
    public func allows(_ kind: String, from namespace: String, toSecret secret: String) -> Bool {
        guard let spec else { return false }
        let from = spec.from.contains {
            $0.group == GatewayAPI.group && $0.kind == kind && $0.namespace == namespace
        }
        let to = spec.to.contains { $0.group.isEmpty && $0.kind == "Secret" && ($0.name ?? secret) == secret }
        return from && to
    }
}

/// `gateway.networking.k8s.io/v1` HTTPRoute: what the HTTP-01 solver attaches to a Gateway (one
/// host, one `Exact` path, one Service backend).
public struct HTTPRoute: KubernetesResource, Equatable {
    public static let apiVersion = "gateway.networking.k8s.io/v1"
    public static let kind = "HTTPRoute"
    public static let plural = "httproutes"

    public struct ParentReference: Codable, Sendable, Equatable, Hashable {
        public var group: String?
        public var kind: String?
        public var name: String
        public var namespace: String?
        public var sectionName: String?
        public var port: Int?

        public init(
            group: String? = nil, kind: String? = nil, name: String, namespace: String? = nil,
            sectionName: String? = nil, port: Int? = nil
        ) {
            self.group = group
            self.kind = kind
            self.name = name
            self.namespace = namespace
            self.sectionName = sectionName
            self.port = port
        }
    }

    public struct PathMatch: Codable, Sendable, Equatable {
        public var type: String
        public var value: String
    }

    /// Only the path is read; a match of headers or a method alone has none.
    public struct Match: Codable, Sendable, Equatable {
        public var path: PathMatch?
    }

    /// A Service's port is required (a CEL rule of the CRD); another kind's may be absent.
    public struct BackendReference: Codable, Sendable, Equatable {
        public var name: String
        public var port: Int?
    }

    /// Routes certctl did not make are read too (a list, a leftover someone edited): every field
    /// the API leaves optional decodes as empty when absent (a redirect rule has no backends, a
    /// route with no hostnames takes its listeners').
    public struct Rule: Codable, Sendable, Equatable {
        public var matches: [Match]
        public var backendRefs: [BackendReference]

        init(matches: [Match], backendRefs: [BackendReference]) {
            self.matches = matches
            self.backendRefs = backendRefs
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            matches = try container.decodeIfPresent([Match].self, forKey: .matches) ?? []
            backendRefs = try container.decodeIfPresent([BackendReference].self, forKey: .backendRefs) ?? []
        }
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var parentRefs: [ParentReference]
        public var hostnames: [String]
        public var rules: [Rule]

        init(parentRefs: [ParentReference], hostnames: [String], rules: [Rule]) {
            self.parentRefs = parentRefs
            self.hostnames = hostnames
            self.rules = rules
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            parentRefs = try container.decodeIfPresent([ParentReference].self, forKey: .parentRefs) ?? []
            hostnames = try container.decodeIfPresent([String].self, forKey: .hostnames) ?? []
            rules = try container.decodeIfPresent([Rule].self, forKey: .rules) ?? []
        }
    }

    public var apiVersion: String? = HTTPRoute.apiVersion
    public var kind: String? = HTTPRoute.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    /// A route of `hostname`'s `path` (Exact) to port 80 of Service `service`, attached to `parents`.
    public init(metadata: ObjectMeta, parents: [ParentReference], hostname: String, path: String, service: String) {
        self.metadata = metadata
        spec = Spec(
            parentRefs: parents, hostnames: [hostname],
            rules: [
                Rule(
                    matches: [Match(path: PathMatch(type: "Exact", value: path))],
                    backendRefs: [BackendReference(name: service, port: 80)])
            ])
    }
}

/// A `metav1.LabelSelector`: `matchLabels` and `matchExpressions`, ANDed; an empty selector
/// matches everything.
public struct LabelSelector: Codable, Sendable, Equatable {
    public struct Requirement: Codable, Sendable, Equatable {
        public var key: String
        /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
        public var `operator`: String
        public var values: [String]?

        public init(key: String, operator: String, values: [String]? = nil) {
            self.key = key
            self.operator = `operator`
            self.values = values
        }
    }

    public var matchLabels: [String: String]?
    public var matchExpressions: [Requirement]?

    public init(matchLabels: [String: String]? = nil, matchExpressions: [Requirement]? = nil) {
        self.matchLabels = matchLabels
        self.matchExpressions = matchExpressions
    }

    /// Whether `labels` match; nil when an operator is not one of the four (nothing matches it).
    public func matches(_ labels: [String: String]) -> Bool? {
        for (key, value) in matchLabels ?? [:] where labels[key] != value { return false }
        for requirement in matchExpressions ?? [] {
            let values = requirement.values ?? []
            switch requirement.operator {
            case "In": if !(labels[requirement.key].map(values.contains) ?? false) { return false }
            case "NotIn": if labels[requirement.key].map(values.contains) ?? false { return false }
            case "Exists": if labels[requirement.key] == nil { return false }
            case "DoesNotExist": if labels[requirement.key] != nil { return false }
            default: return nil
            }
        }
        return true
    }
}
