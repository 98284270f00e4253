/// `networking.k8s.io/v1` Ingress (the parts that name hosts and Secrets).
public struct Ingress: KubernetesResource, Equatable {
    public static let apiVersion = "networking.k8s.io/v1"
    public static let kind = "Ingress"
    public static let plural = "ingresses"

    public struct Spec: Codable, Sendable, Equatable {
        public var ingressClassName: String?
        public var tls: [TLS]?
        public var rules: [Rule]?

        public init(ingressClassName: String? = nil, tls: [TLS]? = nil, rules: [Rule]? = nil) {
            self.ingressClassName = ingressClassName
            self.tls = tls
            self.rules = rules
        }
    }

    public struct TLS: Codable, Sendable, Equatable {
        public var hosts: [String]?
        public var secretName: String?

        public init(hosts: [String]?, secretName: String?) {
            self.hosts = hosts
            self.secretName = secretName
        }
    }

    public struct Rule: Codable, Sendable, Equatable {
        public var host: String?
        public var http: HTTP?

        public init(host: String?, http: HTTP?) {
            self.host = host
            self.http = http
        }

        private enum CodingKeys: String, CodingKey {
            case host, http
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            host = try container.decodeIfPresent(String.self, forKey: .host)
            let withoutPaths = decoder.userInfo[Ingress.rulesWithoutPaths] as? Bool == true
            http = withoutPaths ? nil : try container.decodeIfPresent(HTTP.self, forKey: .http)
        }
    }

    /// A decoder's `userInfo` key: when true, rules are read without their `http` paths. Reading
    /// certificates needs the hosts only, and the paths were a third of decoding an Ingress
    /// list; an Ingress read so must never be written back (the edit-in-place solver reads its
    /// Ingress whole).
    public static let rulesWithoutPaths = CodingUserInfoKey(rawValue: "certctl.ingress.rulesWithoutPaths")!

    public struct HTTP: Codable, Sendable, Equatable {
        public var paths: [Path]

        public init(paths: [Path]) {
            self.paths = paths
        }
    }

    public struct Path: Codable, Sendable, Equatable {
        public var path: String?
        public var pathType: String
        public var backend: Backend

        public init(path: String?, pathType: String, backend: Backend) {
            self.path = path
            self.pathType = pathType
            self.backend = backend
        }
    }

    public struct Backend: Codable, Sendable, Equatable {
        public struct Service: Codable, Sendable, Equatable {
            public struct Port: Codable, Sendable, Equatable {
                public var number: Int?
                public var name: String?

                public init(number: Int? = nil, name: String? = nil) {
                    self.number = number
                    self.name = name
                }
            }

            public var name: String
            public var port: Port

            public init(name: String, port: Port) {
                self.name = name
                self.port = port
            }
        }

        public var service: Service?

        public init(service: Service?) {
            self.service = service
        }
    }

    public var apiVersion: String? = Ingress.apiVersion
    public var kind: String? = Ingress.kind
    public var metadata: ObjectMeta
    public var spec: Spec?

    public init(metadata: ObjectMeta, spec: Spec?) {
        self.metadata = metadata
        self.spec = spec
    }
}
