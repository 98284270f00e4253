public import Certificates
public import Foundation
public import Kubernetes

/// A typed view of a TLS Secret as found: its chain, key, validity, names, and certctl's record.
/// Secrets written by cert-manager or kube-lego read the same (adoption).
///
/// It keeps what was learnt from the key material, not the material: over thousands of Secrets
/// the bytes, parsed chains and keys were most of `certctl serve`'s memory. A write reads the
/// Secret afresh (SecretWriter), so nothing needs them afterwards.
public struct CurrentCertificate: Sendable {
    /// The Secret's metadata and type, without its `data`.
    @Boxed public var secret: Secret
    public var summary: CertificateSummary?
    /// The common name of the chain's last issuer (for the preferred-chain check and `-o wide`).
    public var chainIssuer: String?
    /// True when tls.key holds a private key certctl can read.
    public var hasKey: Bool
    public var keyMatches: Bool
    /// certctl's record on the Secret (empty when certctl never wrote one; boxed only when not).
    @BoxedUnlessEmpty public var record: RenewalRecord
    /// What is wrong with it, for the operator (wrong type, corrupt PEM, key mismatch).
    public var problems: [String]

    public init(secret: Secret) {
        var metadataOnly = secret
        metadataOnly.data = nil
        self.secret = metadataOnly
        record = RenewalRecord(annotations: secret.metadata.annotations ?? [:])
        var problems: [String] = []
        if case .otherType(let type) = SecretBlock(secret) { problems.append(SecretBlock.otherType(type).message) }
        let data = secret.data ?? [:]
        var chain: CertificateChain?
        var key: PrivateKey?
        if let crt = data["tls.crt"] {
            do {
                chain = try CertificateChain(pemBytes: crt, issuers: .shared)
            } catch {
                problems.append("tls.crt is unreadable: \(error)")
            }
        } else {
            problems.append("has no tls.crt")
        }
        if let pem = data["tls.key"] {
            do {
                key = try PrivateKey(pemBytes: pem)
            } catch {
                problems.append("tls.key is unreadable: \(error)")
            }
        } else {
            problems.append("has no tls.key")
        }
        summary = chain.map { CertificateSummary($0.leaf) }
        chainIssuer = chain?.topIssuerCommonName
        hasKey = key != nil
        if let chain, let key {
            keyMatches = key.matches(chain.leaf)
            if !keyMatches { problems.append("tls.key does not belong to the certificate in tls.crt") }
        } else {
            keyMatches = false
        }
        self.problems = problems
    }

    /// Why no certificate can be stored in it (another type, immutable, being deleted); an
    /// immutable Secret's certificate is still served, so only another type is a problem above.
    public var block: SecretBlock? { SecretBlock(secret) }

    public var name: String { "\(secret.metadata.namespace ?? "default")/\(secret.metadata.name ?? "")" }

    /// True when the Secret can be served: a readable chain, its key, and the right type.
    public var isUsable: Bool { problems.isEmpty }

    /// True when it is usable and valid at `date`.
    public func isValid(at date: Date) -> Bool {
        guard isUsable, let summary else { return false }
        return summary.notBefore <= date && date < summary.notAfter
    }

    /// The issuer that made it: certctl's record, else cert-manager's annotation.
    public var issuerName: String? {
        record.issuer ?? secret.metadata.annotations?["cert-manager.io/issuer-name"]
    }
}
