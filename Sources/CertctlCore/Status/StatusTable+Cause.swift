import Basics
import Certificates
import Foundation
import Transport

extension StatusTable {
    /// Why a certificate is due (or not), in words.
    static func cause(_ reason: PlannedAction.Reason, _ status: CertificateStatus) -> String {
        switch reason {
        case .missing: return "there is no Secret yet"
        case .unreadable: return "the Secret's certificate or key cannot be read"
        case .keyMismatch: return "tls.key does not belong to the certificate in tls.crt"
        case .expired: return "the certificate has expired"
        case .namesChanged:
            let held = status.summary?.names ?? []
            let wanted = Set(status.desired.hosts)
            var change: [String] = []
            if !wanted.subtracting(held).isEmpty {
                change.append("adds \(wanted.subtracting(held).sorted().joined(separator: ", "))")
            }
            if !held.subtracting(wanted).isEmpty {
                change.append("drops \(held.subtracting(wanted).sorted().joined(separator: ", "))")
            }
            return "the Ingress's hosts changed (\(change.joined(separator: "; ")))"
        case .issuerChanged:
            return "the Ingress names another issuer (\(status.desired.issuer)) than the one that issued it"
        case .profileChanged:
            return
                "the issuer asks for profile \(status.issuerProfile ?? "none"), the certificate was issued under \(status.record.profile ?? "none")"
        case .renewRequested: return "a renewal was requested (certctl renew)"
        case .revoked:
            return
                "certctl revoke revoked it (\(status.record.revocationReason ?? "unspecified")\(status.record.revokedAt.map { ", \(RenewalRecord.format($0))" } ?? ""))"
        case .revocationAsked:
            return
                "certctl revoke asked for its revocation (\(Bounded.excerpt(status.record.revocationAskedReason ?? "unspecified"))) and it is not recorded as done: the next run revokes it, then replaces it"
        case .ariWindow:
            return "it is in the CA's renewal window (ARI, RFC 9773)\(ariWindow(status).map { ", \($0)" } ?? "")"
        case .lifetimeThreshold:
            return "it is past its renewal time, \(lifetimeRule(status))"
        case .renewBefore:
            return "it is within the Ingress's cert-manager.io/renew-before(-percentage) of expiry"
        case .keyChanged:
            return
                "the Ingress asks for a \(status.desired.settings.keyType?.rawValue ?? "different") key, the certificate has \(status.summary?.keyType?.rawValue ?? "another")"
        case .notDue: return "it is not due"
        case .wrongType: return "the Secret has another type"
        case .immutable: return "the Secret is immutable"
        case .deleting: return "the Secret is being deleted"
        }
    }
}
