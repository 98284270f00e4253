public import Kubernetes

/// Why certctl may not write a Secret, whatever certificate it holds: until the operator acts,
/// the certificate is planned as blocked (nothing is ordered that could not be stored) and
/// the store refuses it too, with the same words.
public enum SecretBlock: Sendable, Equatable {
    /// Another `type` than `kubernetes.io/tls`: someone else's Secret under the name.
    case otherType(String)
    /// `immutable: true`: its data can never change, so no renewal can be stored in it.
    case immutable
    /// `deletionTimestamp` set: it goes once its finalizers are done.
    case deleting(finalizers: [String])

    public init?(_ secret: Secret) {
        if secret.type != Secret.tlsType {
            self = .otherType(secret.type ?? "Opaque")
        } else if secret.immutable == true {
            self = .immutable
        } else if secret.metadata.deletionTimestamp != nil {
            self = .deleting(finalizers: secret.metadata.finalizers ?? [])
        } else {
            return nil
        }
    }

    /// The plan's reason for the block.
    public var reason: PlannedAction.Reason {
        switch self {
        case .otherType: .wrongType
        case .immutable: .immutable
        case .deleting: .deleting
        }
    }

    /// What is wrong and what to do, after the Secret's name.
    public var message: String {
        switch self {
        case .otherType(let type):
            "is of type \(type), not \(Secret.tlsType); certctl will not overwrite it: delete it or choose another secretName"
        case .immutable:
            "is immutable (immutable: true), so no certificate can be stored in it; certctl orders none: delete it (the next run issues a new one) or recreate it without immutable"
        case .deleting(let finalizers):
            "is being deleted (deletionTimestamp set\(finalizers.isEmpty ? "" : ", waiting for finalizers \(finalizers.joined(separator: ", "))")); certctl orders nothing for it until it is gone, then issues it anew"
        }
    }

    /// The block of a plan's reason, as `certctl status SECRET` and `migrate` explain it.
    public static func explanation(_ reason: PlannedAction.Reason) -> String {
        switch reason {
        case .immutable:
            "the Secret is immutable, so no certificate can be stored in it; delete it (the next run issues a new one) or recreate it without immutable"
        case .deleting:
            "the Secret is being deleted; the first run after it is gone issues it anew (if it stays, look at its finalizers)"
        default:
            "the Secret has another type than kubernetes.io/tls and certctl will not overwrite it; delete it, or name another secretName in the Ingress"
        }
    }
}
