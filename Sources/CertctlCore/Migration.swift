import Basics
public import Foundation
public import Kubernetes
import Transport

/// `certctl migrate`: what certctl will do with a cluster that runs cert-manager today (README
/// "Moving from cert-manager"), from its `Certificate` objects and its Ingresses. Read only.
public struct Migration: Sendable {
    public struct Item: Sendable, Equatable {
        /// `adopt` (the Secret is kept until due), `issue` (none yet), `renew` (due at the first
        /// run), `decide` (an operator's choice is needed), `not carried`.
        public var verdict: String
        /// `Certificate prod/hub`, `Ingress prod/shouty`.
        public var object: String
        public var secret: String?
        public var message: String

        public var needsDecision: Bool { verdict == "decide" || verdict == "not carried" }
    }

    public var cluster: String
    public var items: [Item]

    public var needsDecision: Bool { items.contains(where: \.needsDecision) }

    /// The steps, in order, once the decisions are made.
    public static let steps = [
        "scale cert-manager to zero: kubectl -n cert-manager scale deployment --all --replicas=0",
        "install the chart with certctl enabled (certctl.enabled: true; certctl.issuersFromCluster: true to keep the ClusterIssuers)",
        "a first run that changes nothing: kubectl -n NAMESPACE create job certctl-first --from=cronjob/certctl --dry-run=client -o yaml, add --dry-run to the container's args, kubectl apply it, and read its log (what it would issue)",
        "then let the CronJob run; certctl status shows every certificate and when it renews",
    ]

    public static func make(
        cluster: String, certificates: [CertificateObject], inventory: Inventory, keyType: String, now: Date,
        profiles: [IssuerKey: String]
    ) -> Migration {
        var items: [Item] = []
        var covered = Set<String>()
        let entries = Dictionary(inventory.entries.map { ($0.desired.id, $0) }) { first, _ in first }
        for certificate in certificates.sorted(by: { id($0) < id($1) }) {
            let spec = certificate.spec?.objectValue ?? [:]
            let namespace = certificate.metadata.namespace ?? "default"
            let object = "Certificate \(namespace)/\(certificate.metadata.name ?? "?")"
            guard let secretName = spec["secretName"]?.stringValue else { continue }
            let secret = "\(namespace)/\(secretName)"
            covered.insert(secret)
            var notCarried: [String] = []
            if spec["keystores"].map({ !$0.isNull }) == true {
                notCarried.append("spec.keystores (JKS, PKCS#12): certctl writes tls.crt and tls.key only")
            }
            if spec["additionalOutputFormats"]?.arrayValue?.isEmpty == false {
                notCarried.append("spec.additionalOutputFormats: certctl writes tls.crt and tls.key only")
            }
            let issuerRef = spec["issuerRef"]?.objectValue ?? [:]
            let issuerName = issuerRef["name"]?.stringValue ?? "?"
            let group = issuerRef["group"]?.stringValue ?? "cert-manager.io"
            guard let entry = entries[secret] else {
                items.append(
                    unmanaged(
                        object: object, secret: secret, issuer: issuerName, group: group,
                        problem: inventory.problems.first { $0.object == "Secret \(secret)" }))
                continue
            }
            for item in notCarried {
                items.append(Item(verdict: "not carried", object: object, secret: secret, message: item))
            }
            if let message = keyDecision(spec["privateKey"]?.objectValue ?? [:], entry: entry, keyType: keyType) {
                items.append(Item(verdict: "decide", object: object, secret: secret, message: message))
            }
            if issuerName != entry.desired.issuer {
                items.append(
                    Item(
                        verdict: "decide", object: object, secret: secret,
                        message: "cert-manager used issuer \(issuerName), the Ingress names \(entry.desired.issuer)"))
            }
            items.append(plan(entry, object: object, now: now, profile: profiles[entry.desired.issuerKey]))
        }
        for entry in inventory.entries where !covered.contains(entry.desired.id) {
            let object = entry.desired.sources.first.map(\.description) ?? "Secret \(entry.desired.id)"
            var item = plan(entry, object: object, now: now, profile: profiles[entry.desired.issuerKey])
            item.message += " (no cert-manager Certificate)"
            items.append(item)
        }
        for problem in inventory.problems
        where !items.contains(where: { "Secret \($0.secret ?? "")" == problem.object }) {
            items.append(Item(verdict: "decide", object: problem.object, secret: nil, message: problem.reason))
        }
        return Migration(cluster: cluster, items: items)
    }

    /// A Certificate whose Secret certctl will not manage, and why.
    private static func unmanaged(
        object: String, secret: String, issuer: String, group: String, problem: ObjectProblem?
    ) -> Item {
        if let problem {
            return Item(
                verdict: "decide", object: object, secret: secret,
                message: "its Ingress is misconfigured: \(problem.reason)")
        }
        if group != "cert-manager.io" {
            return Item(
                verdict: "not carried", object: object, secret: secret,
                message: "its issuer \(issuer) is of group \(group), not an ACME issuer of cert-manager.io")
        }
        return Item(
            verdict: "not carried", object: object, secret: secret,
            message:
                "no managed Ingress names this Secret: certctl keeps only the certificates of Ingress spec.tls entries (annotate an Ingress, or keep cert-manager for it)"
        )
    }

    /// When cert-manager made keys of another algorithm than certctl will: what to annotate.
    private static func keyDecision(_ privateKey: [String: JSONValue], entry: Inventory.Entry, keyType: String)
        -> String?
    {
        guard let algorithm = privateKey["algorithm"]?.stringValue, entry.desired.settings.keyType == nil,
            !keyType.hasPrefix(algorithm.lowercased())
        else { return nil }
        let size = privateKey["size"]?.integerValue.map { " \($0)" } ?? ""
        return
            "cert-manager made \(algorithm)\(size) keys; certctl will make \(keyType): annotate the Ingress with cert-manager.io/private-key-algorithm: \(algorithm) to keep them"
    }

    /// What the first runs do with one certificate certctl will manage.
    static func plan(_ entry: Inventory.Entry, object: String, now: Date, profile: String?) -> Item {
        let secret = entry.desired.id
        guard let current = entry.current else {
            return Item(
                verdict: "issue", object: object, secret: secret, message: "no Secret yet: the first run issues it")
        }
        let action = RenewalPlan.decide(
            desired: entry.desired, current: current, pending: entry.pending, profile: profile, now: now)
        switch action.kind {
        case .wait(let until):
            return Item(
                verdict: "adopt", object: object, secret: secret,
                message: "the Secret is kept, no new order; renewed from \(Timestamp.minute(until))")
        case .issue, .backOff, .limited:
            return Item(
                verdict: "renew", object: object, secret: secret,
                message: "the first run renews it: \(action.reason.rawValue)")
        case .blocked:
            return Item(
                verdict: "decide", object: object, secret: secret,
                message: SecretBlock.explanation(action.reason))
        }
    }

    static func id(_ certificate: CertificateObject) -> String {
        "\(certificate.metadata.namespace ?? "")/\(certificate.metadata.name ?? "")"
    }

    /// The report as text: a line per object, the steps, and what needs deciding.
    public var text: String {
        var rows = [["VERDICT", "OBJECT", "SECRET", "WHAT HAPPENS"]]
        for item in items { rows.append([item.verdict, item.object, item.secret ?? "-", item.message]) }
        var text = TextTable.render(rows)
        let decisions = items.filter(\.needsDecision).count
        text += "\n\(counted(items.count, "line")) for cluster \(cluster): "
        text +=
            decisions == 0
            ? "everything carries over.\n" : "\(counted(decisions, "needs a decision", plural: "need a decision")).\n"
        text += "\nSteps:\n"
        for (index, step) in Self.steps.enumerated() { text += "  \(index + 1). \(step)\n" }
        return text
    }

    public func json() throws -> String {
        let object: [String: Any] = [
            "cluster": cluster,
            "needsDecision": needsDecision,
            "items": items.map { item -> [String: Any] in
                [
                    "verdict": item.verdict, "object": item.object, "secret": item.secret ?? NSNull(),
                    "message": item.message,
                ]
            },
            "steps": Self.steps,
        ]
        return try JSONText.encode(object, pretty: true) + "\n"
    }
}
