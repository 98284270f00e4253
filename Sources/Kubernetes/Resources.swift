import Basics
public import Foundation
import Transport

/// A kind certctl reads or writes: where it lives in the API.
public protocol KubernetesResource: Codable, Sendable {
    static var apiVersion: String { get }
    static var kind: String { get }
    /// The plural resource name in URLs (`secrets`, `ingresses`).
    static var plural: String { get }
    var metadata: ObjectMeta { get set }
}

extension KubernetesResource {
    /// `/api/v1` for the core group, `/apis/GROUP/VERSION` otherwise.
    public static var apiPath: String {
        apiVersion.contains("/") ? "/apis/\(apiVersion)" : "/api/\(apiVersion)"
    }
}

/// A core/v1 Secret. `data` values are the decoded bytes (base64 on the wire).
public struct Secret: KubernetesResource, Equatable {
    public static let apiVersion = "v1"
    public static let kind = "Secret"
    public static let plural = "secrets"
    public static let tlsType = "kubernetes.io/tls"

    public var apiVersion: String? = Secret.apiVersion
    public var kind: String? = Secret.kind
    public var metadata: ObjectMeta
    public var type: String?
    public var data: [String: Data]?
    /// `true`: the API server refuses any change of `data` (only metadata may change).
    public var immutable: Bool?

    public init(metadata: ObjectMeta, type: String?, data: [String: Data]?, immutable: Bool? = nil) {
        self.metadata = metadata
        self.type = type
        self.data = data
        self.immutable = immutable
    }
}

/// A core/v1 Service (what the HTTP-01 solver creates).
public struct Service: KubernetesResource, Equatable {
    public static let apiVersion = "v1"
    public static let kind = "Service"
    public static let plural = "services"

    public struct Spec: Codable, Sendable, Equatable {
        public struct Port: Codable, Sendable, Equatable {
            public var name: String?
            public var port: Int
            public var targetPort: Int?
            public var `protocol`: String?

            public init(name: String?, port: Int, targetPort: Int?, protocol: String? = "TCP") {
                self.name = name
                self.port = port
                self.targetPort = targetPort
                self.protocol = `protocol`
            }
        }

        public var selector: [String: String]?
        public var ports: [Port]?
        public var type: String?

        public init(selector: [String: String]?, ports: [Port]?, type: String?) {
            self.selector = selector
            self.ports = ports
            self.type = type
        }
    }

    public var apiVersion: String? = Service.apiVersion
    public var kind: String? = Service.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `discovery.k8s.io/v1` EndpointSlice: the endpoints of a Service without a selector (the
/// HTTP-01 solver's way to reach certctl's pod from another namespace).
public struct EndpointSlice: KubernetesResource, Equatable {
    public static let apiVersion = "discovery.k8s.io/v1"
    public static let kind = "EndpointSlice"
    public static let plural = "endpointslices"
    /// The label that ties a slice to its Service.
    public static let serviceNameLabel = "kubernetes.io/service-name"
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"

    public struct Endpoint: Codable, Sendable, Equatable {
        public struct Conditions: Codable, Sendable, Equatable {
            public var ready: Bool?
        }

        public var addresses: [String]
        public var conditions: Conditions?

        public init(addresses: [String], ready: Bool = true) {
            self.addresses = addresses
            self.conditions = Conditions(ready: ready)
        }
    }

    public struct Port: Codable, Sendable, Equatable {
        public var name: String?
        public var port: Int?
        public var `protocol`: String?

        public init(name: String?, port: Int?, protocol: String? = "TCP") {
            self.name = name
            self.port = port
            self.protocol = `protocol`
        }
    }

    public var apiVersion: String? = EndpointSlice.apiVersion
    public var kind: String? = EndpointSlice.kind
    public var metadata: ObjectMeta
    /// `IPv4` or `IPv6`.
    public var addressType: String?
    public var endpoints: [Endpoint]?
    public var ports: [Port]?

    public init(metadata: ObjectMeta, addressType: String, endpoints: [Endpoint], ports: [Port]) {
        self.metadata = metadata
        self.addressType = addressType
        self.endpoints = endpoints
        self.ports = ports
    }
}

/// `coordination.k8s.io/v1` Lease (one run at a time).
public struct Lease: KubernetesResource, Equatable {
    public static let apiVersion = "coordination.k8s.io/v1"
    public static let kind = "Lease"
    public static let plural = "leases"

    public struct Spec: Codable, Sendable, Equatable {
        public var holderIdentity: String?
        public var leaseDurationSeconds: Int?
        public var acquireTime: MicroTime?
        public var renewTime: MicroTime?
        public var leaseTransitions: Int?

        public init(
            holderIdentity: String?, leaseDurationSeconds: Int?, acquireTime: MicroTime?, renewTime: MicroTime?
        ) {
            self.holderIdentity = holderIdentity
            self.leaseDurationSeconds = leaseDurationSeconds
            self.acquireTime = acquireTime
            self.renewTime = renewTime
        }
    }

    public var apiVersion: String? = Lease.apiVersion
    public var kind: String? = Lease.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// `events.k8s.io/v1` Event (issued, renewed, failed).
public struct Event: KubernetesResource, Equatable {
    public static let apiVersion = "events.k8s.io/v1"
    public static let kind = "Event"
    public static let plural = "events"

    public struct Reference: Codable, Sendable, Equatable {
        public var apiVersion: String?
        public var kind: String?
        public var name: String?
        public var namespace: String?
        public var uid: String?

        public init(apiVersion: String?, kind: String?, name: String?, namespace: String?, uid: String?) {
            self.apiVersion = apiVersion
            self.kind = kind
            self.name = name
            self.namespace = namespace
            self.uid = uid
        }
    }

    public var apiVersion: String? = Event.apiVersion
    public var kind: String? = Event.kind
    public var metadata: ObjectMeta
    public var eventTime: MicroTime?
    public var reportingController: String?
    public var reportingInstance: String?
    public var action: String?
    public var reason: String?
    public var regarding: Reference?
    public var note: String?
    public var type: String?

    public init(
        metadata: ObjectMeta,
        eventTime: MicroTime?,
        reportingController: String?,
        reportingInstance: String?,
        action: String?,
        reason: String?,
        regarding: Reference?,
        note: String?,
        type: String?
    ) {
        self.metadata = metadata
        self.eventTime = eventTime
        self.reportingController = reportingController
        self.reportingInstance = reportingInstance
        self.action = action
        self.reason = reason
        self.regarding = regarding
        self.note = note
        self.type = type
    }
}

/// A core/v1 ConfigMap (certctl's record for a certificate whose Secret does not exist yet).
public struct ConfigMap: KubernetesResource, Equatable {
    public static let apiVersion = "v1"
    public static let kind = "ConfigMap"
    public static let plural = "configmaps"

    public var apiVersion: String? = ConfigMap.apiVersion
    public var kind: String? = ConfigMap.kind
    public var metadata: ObjectMeta
    public var data: [String: String]?

    public init(metadata: ObjectMeta, data: [String: String]?) {
        self.metadata = metadata
        self.data = data
    }
}

/// `authorization.k8s.io/v1` SelfSubjectAccessReview: "may I do this?", answered by the API
/// server's authorizer for the caller (`certctl check`).
public struct SelfSubjectAccessReview: KubernetesResource, Equatable {
    public static let apiVersion = "authorization.k8s.io/v1"
    public static let kind = "SelfSubjectAccessReview"
    public static let plural = "selfsubjectaccessreviews"

    public struct ResourceAttributes: Codable, Sendable, Equatable {
        public var namespace: String?
        public var verb: String
        public var group: String
        public var resource: String
        /// One object (a Role's `resourceNames` allow only those).
        public var name: String?

        public init(namespace: String?, verb: String, group: String, resource: String, name: String? = nil) {
            self.namespace = namespace
            self.verb = verb
            self.group = group
            self.resource = resource
            self.name = name
        }
        enum CodingKeys: String, CodingKey { case namespace, verb, group, resource, name }

        /// The server leaves out an empty `group` (the core group) in its answer.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            namespace = try container.decodeIfPresent(String.self, forKey: .namespace)
            verb = try container.decode(String.self, forKey: .verb)
            group = try container.decodeIfPresent(String.self, forKey: .group) ?? ""
            resource = try container.decode(String.self, forKey: .resource)
            name = try container.decodeIfPresent(String.self, forKey: .name)
        }
    }

    public struct Spec: Codable, Sendable, Equatable {
        public var resourceAttributes: ResourceAttributes
    }

    public struct Status: Codable, Sendable, Equatable {
        public var allowed: Bool
        public var denied: Bool?
        public var reason: String?
        public var evaluationError: String?
    }

    public var apiVersion: String? = SelfSubjectAccessReview.apiVersion
    public var kind: String? = SelfSubjectAccessReview.kind
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?

    public init(_ attributes: ResourceAttributes) {
        metadata = ObjectMeta()
        spec = Spec(resourceAttributes: attributes)
    }
}
