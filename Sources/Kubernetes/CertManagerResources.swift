public import Basics

/// cert-manager's `ClusterIssuer` (`cert-manager.io/v1`), read as it is: its `spec` goes to the
/// same reader as an issuer file's.
public struct ClusterIssuerObject: KubernetesResource {
    public static let apiVersion = "cert-manager.io/v1"
    public static let kind = "ClusterIssuer"
    public static let plural = "clusterissuers"

    public var apiVersion: String? = ClusterIssuerObject.apiVersion
    public var kind: String? = ClusterIssuerObject.kind
    public var metadata: ObjectMeta
    public var spec: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// cert-manager's namespaced `Issuer` (`cert-manager.io/v1`).
public struct IssuerObject: KubernetesResource {
    public static let apiVersion = "cert-manager.io/v1"
    public static let kind = "Issuer"
    public static let plural = "issuers"

    public var apiVersion: String? = IssuerObject.apiVersion
    public var kind: String? = IssuerObject.kind
    public var metadata: ObjectMeta
    public var spec: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue?) {
        self.metadata = metadata
        self.spec = spec
    }
}

/// cert-manager's `Certificate` (`cert-manager.io/v1`), read for `certctl migrate`.
public struct CertificateObject: KubernetesResource {
    public static let apiVersion = "cert-manager.io/v1"
    public static let kind = "Certificate"
    public static let plural = "certificates"

    public var apiVersion: String? = CertificateObject.apiVersion
    public var kind: String? = CertificateObject.kind
    public var metadata: ObjectMeta
    public var spec: JSONValue?
    public var status: JSONValue?

    public init(metadata: ObjectMeta, spec: JSONValue?) {
        self.metadata = metadata
        self.spec = spec
    }
}
