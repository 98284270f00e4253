import Basics
import Foundation
public import Kubernetes
import Transport

/// cert-manager's `ClusterIssuer` and `Issuer` objects of a cluster (`--issuers-from-cluster`),
/// read with the same schema and checks as the files of `--issuers` (README "Moving from
/// cert-manager").
public enum ClusterIssuers {
    public struct Found: Sendable {
        public var issuers: [Issuer]
        /// What was passed over, and why (no CRDs, issuers that are not ACME).
        public var notes: [String]
    }

    /// Every ACME ClusterIssuer, and the Issuers of `scope`. A cluster without cert-manager's
    /// CRDs has none (a note says so); any other refusal is an error.
    public static func read(client: KubernetesClient, scope: NamespaceScope) async throws -> Found {
        var found = Found(issuers: [], notes: [])
        let cluster = client.connection.name
        do {
            for object in try await client.list(ClusterIssuerObject.self, namespace: nil) {
                let name = object.metadata.name ?? ""
                try add(
                    kind: "ClusterIssuer", name: name, annotations: object.metadata.annotations, spec: object.spec,
                    place: "cluster \(cluster)", to: &found)
            }
            let namespaces: [String?] =
                switch scope {
                case .all: [nil]
                case .only(let names): names
                }
            for namespace in namespaces {
                for object in try await client.list(IssuerObject.self, namespace: namespace) {
                    let name = object.metadata.name ?? ""
                    guard let home = object.metadata.namespace ?? namespace else { continue }
                    let place = "cluster \(cluster), namespace \(home)"
                    try add(
                        kind: "Issuer", name: name, namespace: home, annotations: object.metadata.annotations,
                        spec: object.spec, place: place, to: &found)
                }
            }
        } catch let error as KubernetesError where error.isNotFound {
            found.notes.append(
                "cluster \(cluster) has no cert-manager CRDs (cert-manager.io/v1): the issuers are only those of --issuers"
            )
        }
        return found
    }

    /// `place`: where the object is (`cluster NAME`, and its namespace), as the issuer's source;
    /// `namespace`: an `Issuer`'s, which it alone serves (nil for a ClusterIssuer).
    private static func add(
        kind: String, name: String, namespace: String? = nil, annotations: [String: String]?, spec: JSONValue?,
        place: String, to found: inout Found
    ) throws {
        let object =
            spec.flatMap { try? JSONSerialization.jsonObject(with: Data($0.serialized())) as? [String: Any] } ?? [:]
        // One object certctl cannot run (a tenant's Issuer with a route53 solver, an exec hook,
        // plain http) is passed over with a note: it never stops the others' renewals.
        let read: Issuer?
        do {
            read = try IssuerLoader.issuer(
                kind: kind, name: name, annotations: annotations ?? [:], spec: object, source: place
            )
            .map { try namespace.map($0.scoped(to:)) ?? $0 }
        } catch let error as CertctlError {
            found.notes.append(
                "\(kind) \(Bounded.quoted(name)) (\(place)) is passed over: \(error.reason); its certificates are not issued until it is fixed"
            )
            return
        }
        if let issuer = read {
            if let twin = found.issuers.first(where: { $0.key == issuer.key }) {
                throw CertctlError(
                    .invalidIssuer, object: issuer.source,
                    "the \(issuer.key.named) is also \(twin.source); keep one")
            }
            found.issuers.append(issuer)
        } else {
            found.notes.append("\(kind) \(name) (\(place)) is not an ACME issuer; certctl passes it over")
        }
    }
}
