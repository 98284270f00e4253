import Basics
import CertctlCore
import Certificates
import Foundation
import Transport

enum DiscoverReport {
    static func table(_ inventory: Inventory, issuers: [IssuerKey: Issuer]) -> String {
        var rows = [["NAMESPACE", "INGRESS", "SECRET", "HOSTS", "ISSUER", "SOLVER", "NOT AFTER"]]
        for entry in inventory.entries {
            rows.append([
                entry.desired.namespace,
                entry.desired.objectNames.joined(separator: ","),
                entry.desired.secretName,
                entry.desired.hosts.joined(separator: ","),
                entry.desired.issuer,
                solvers(entry.desired, issuers: issuers).map {
                    Set($0.values).count == 1
                        ? $0.values.first ?? "" : $0.map { "\($0.key): \($0.value)" }.sorted().joined(separator: ", ")
                } ?? "",
                notAfter(entry),
            ])
        }
        var text = TextTable.render(rows)
        // What the Ingresses' cert-manager annotations changed, and what they ask that is not done.
        for entry in inventory.entries
        where !entry.desired.settings.effects.isEmpty || !entry.desired.settings.ignored.isEmpty {
            text += "\n\(entry.desired.id):\n"
            for effect in entry.desired.settings.effects { text += "  \(effect)\n" }
            for ignored in entry.desired.settings.ignored { text += "  warning: \(ignored)\n" }
        }
        text += "\n\(counted(inventory.entries.count, "certificate")) in \(inventory.cluster)"
        text += inventory.problems.isEmpty ? "\n" : ", \(counted(inventory.problems.count, "problem")):\n"
        for problem in inventory.problems {
            text += "  \(problem)\n"
        }
        for ingress in inventory.withoutTLS {
            text += "  note: \(ingress) is annotated for certificates but has no spec.tls\n"
        }
        return text
    }

    /// Per host, what answers its challenge.
    static func solvers(_ desired: DesiredCertificate, issuers: [IssuerKey: Issuer]) -> [String: String]? {
        guard let issuer = issuers[desired.issuerKey] else { return nil }
        return Dictionary(
            uniqueKeysWithValues: desired.hosts.map { ($0, issuer.solverDescription(for: $0, labels: desired.labels)) })
    }

    static func notAfter(_ entry: Inventory.Entry) -> String {
        guard let current = entry.current else { return "missing" }
        guard let summary = current.summary else { return "unreadable" }
        let formatted = Timestamp.rfc3339(summary.notAfter)
        return current.problems.isEmpty ? formatted : "\(formatted) (invalid)"
    }

    /// Stable JSON: one object per certificate, then problems.
    static func json(_ inventory: Inventory, issuers: [IssuerKey: Issuer]) throws -> String {
        let certificates: [[String: Any]] = inventory.entries.map { entry in
            var object: [String: Any] = [
                "namespace": entry.desired.namespace,
                "ingresses": entry.desired.ingresses,
                "secret": entry.desired.secretName,
                "hosts": entry.desired.hosts,
                "issuer": entry.desired.issuer,
                "issuerKind": entry.desired.issuerKind,
            ]
            object["ingressClass"] = entry.desired.ingressClass
            object["solvers"] = solvers(entry.desired, issuers: issuers) ?? [:]
            object["notAfter"] = entry.current?.summary.map { Timestamp.rfc3339($0.notAfter) } ?? NSNull()
            object["secretProblems"] = entry.current?.problems ?? ["missing"]
            object["annotations"] = [
                "effects": entry.desired.settings.effects, "ignored": entry.desired.settings.ignored,
            ]
            return object
        }
        let object: [String: Any] = [
            "cluster": inventory.cluster,
            "certificates": certificates,
            "problems": inventory.problems.map {
                [
                    "object": $0.object, "reason": $0.reason, "kind": $0.kind.rawValue, "field": $0.field ?? NSNull(),
                ] as [String: Any]
            },
        ]
        return try JSONText.encode(object, pretty: true) + "\n"
    }
}
