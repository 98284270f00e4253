public import Basics

/// The API server's `Status` body (`kind: Status`), as it answers every failed request.
public struct KubernetesStatus: Codable, Sendable, Equatable {
    public struct Details: Codable, Sendable, Equatable {
        public struct Cause: Codable, Sendable, Equatable {
            public var reason: String?
            public var message: String?
            public var field: String?

            public init(reason: String?, message: String?, field: String?) {
                self.reason = reason
                self.message = message
                self.field = field
            }
        }

        public var name: String?
        public var group: String?
        public var kind: String?
        public var causes: [Cause]?

        public init(name: String?, group: String?, kind: String?, causes: [Cause]? = nil) {
            self.name = name
            self.group = group
            self.kind = kind
            self.causes = causes
        }
    }

    public var apiVersion: String? = "v1"
    public var kind: String? = "Status"
    public var status: String?
    public var message: String?
    /// `NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, `Unauthorized`, `Forbidden`, ...
    public var reason: String?
    public var details: Details?
    public var code: Int?

    public init(status: String = "Failure", message: String?, reason: String?, details: Details?, code: Int) {
        self.status = status
        self.message = message
        self.reason = reason
        self.details = details
        self.code = code
    }
}

/// A failed API request: the object, the verb and the server's Status.
public struct KubernetesError: ReportedError {
    public enum Code: String, Sendable {
        case status
        case transport
        case invalidResponse
        case configuration
        case credentials
        /// Not sent: the run's lock was lost (``WriteGate``).
        case writeRefused
    }

    public var code: Code
    /// `Secret default/kubelego-tls-binder`, or the URL when there is no object.
    public var object: String?
    public var reason: String
    public var status: KubernetesStatus?
    /// What the attempt that failed came to, for the client's retries; nil: not retried.
    var attemptOutcome: RequestRetry.Outcome?

    public init(_ code: Code, object: String, reason: String, status: KubernetesStatus? = nil) {
        self.code = code
        self.object = object
        self.reason = reason
        self.status = status
    }

    public var httpStatus: Int? { status?.code }
    /// The API server could not be reached or is failing (not a refusal of this request).
    public var isUnreachable: Bool { code == .transport || (httpStatus ?? 0) >= 500 }
    public var isNotFound: Bool { status?.reason == "NotFound" || status?.code == 404 }
    public var isConflict: Bool {
        status?.reason == "Conflict" || (status?.code == 409 && status?.reason != "AlreadyExists")
    }
    public var isAlreadyExists: Bool { status?.reason == "AlreadyExists" }
    /// 410: a `continue` token (or a watch) older than what the server still keeps.
    public var isExpired: Bool { status?.reason == "Expired" || status?.code == 410 }
    /// 403: RBAC does not grant the request.
    public var isForbidden: Bool { status?.reason == "Forbidden" || status?.code == 403 }

    /// The kubeconfig or the credentials need the operator.
    public var isConfigurationError: Bool { code == .configuration || code == .credentials }
}
