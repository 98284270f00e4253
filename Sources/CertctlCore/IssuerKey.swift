/// Which issuer, as cert-manager tells them apart: a cluster-wide one (a `ClusterIssuer`, or a
/// file of `--issuers`) by its name, a namespaced `Issuer` by its namespace and name. An
/// `Issuer` serves only the objects of its own namespace, and two namespaces may each have an
/// `Issuer` of one name (README, "Moving from cert-manager").
public struct IssuerKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var name: String
    /// The namespace of an `Issuer`; nil for a cluster-wide issuer.
    public var namespace: String?

    public init(name: String, namespace: String? = nil) {
        self.name = name
        self.namespace = namespace
    }

    /// A cluster-wide issuer (a `ClusterIssuer`, or a file of `--issuers`).
    public static func cluster(_ name: String) -> IssuerKey { IssuerKey(name: name) }

    /// `letsencrypt-prod` for a cluster-wide issuer, `team-a/letsencrypt` for an `Issuer`.
    public var description: String { namespace.map { "\($0)/\(name)" } ?? name }

    /// "ClusterIssuer letsencrypt-prod", "Issuer team-a/letsencrypt", for messages.
    public var named: String { namespace == nil ? "ClusterIssuer \(name)" : "Issuer \(description)" }

    public static func < (lhs: IssuerKey, rhs: IssuerKey) -> Bool {
        (lhs.namespace ?? "", lhs.name) < (rhs.namespace ?? "", rhs.name)
    }

    /// `NAME` (cluster-wide) or `NAMESPACE/NAME` (an `Issuer`), as `--issuer` takes it.
    public init(parsing text: String) {
        if let slash = text.firstIndex(of: "/") {
            self.init(name: String(text[text.index(after: slash)...]), namespace: String(text[..<slash]))
        } else {
            self.init(name: text)
        }
    }
}

extension IssuerKey: ExpressibleByStringLiteral {
    /// A literal names a cluster-wide issuer (`"letsencrypt-prod"`).
    public init(stringLiteral value: String) { self.init(name: value) }
}
