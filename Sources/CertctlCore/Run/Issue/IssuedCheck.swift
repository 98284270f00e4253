public import ACME
public import Certificates
public import Foundation

/// The checks a new certificate passes before it may replace anything (never store worse than
/// what is there): the chain parses, the leaf certifies our key, covers every name, and is valid now.
public enum IssuedCheck {
    public static func verify(_ issued: IssuedCertificate, key: PrivateKey, names: [String], now: Date) throws {
        let leaf = issued.chain.leaf
        guard key.matches(leaf) else {
            throw CertctlError(.issuance, "the CA returned a certificate for another key; nothing was stored")
        }
        let summary = CertificateSummary(leaf)
        let missing = Set(names.map { $0.lowercased() }).subtracting(summary.names)
        guard missing.isEmpty else {
            throw CertctlError(
                .issuance,
                "the CA's certificate lacks \(missing.sorted().joined(separator: ", ")); nothing was stored"
            )
        }
        guard summary.notAfter > now else {
            throw CertctlError(.issuance, "the CA's certificate is already expired; nothing was stored")
        }
    }
}
