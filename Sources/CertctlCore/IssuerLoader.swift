import Basics
import Certificates
import DNS
import Foundation
import Kubernetes

/// Reads issuers from a directory of YAML files (`issuers/NAME.yaml`), in cert-manager's schema,
/// so an existing `cluster-issuer.yaml` works unchanged.
public enum IssuerLoader {
    /// Every `ClusterIssuer`/`Issuer` with `spec.acme` in `directory`, by name: a file's issuer is
    /// cluster-wide whatever its kind (README, "Issuers").
    public static func load(directory: String) throws -> [IssuerKey: Issuer] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
        } catch {
            throw CertctlError(
                .invalidArgument, object: directory, "cannot read the issuers directory; pass --issuers DIR")
        }
        var issuers: [IssuerKey: Issuer] = [:]
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            for issuer in try load(file: path) {
                if let existing = issuers[issuer.key] {
                    throw CertctlError(
                        .invalidIssuer,
                        object: path,
                        "the issuer \"\(issuer.name)\" is also defined in \(existing.source); keep one"
                    )
                }
                issuers[issuer.key] = issuer
            }
        }
        return issuers
    }

    /// The issuers of `--issuers` and those read from the cluster, by key, and what was set
    /// aside. The cluster's objects are what the operator asked for: a file of the same name as a
    /// ClusterIssuer (the chart's bundled `letsencrypt-prod` beside cert-manager's ClusterIssuer
    /// of that name) is set aside with a note. A namespaced `Issuer` sets nothing aside: it
    /// lives beside the cluster-wide issuer of its name, serving its namespace alone. One key
    /// twice in the cluster is an error naming both.
    public static func merge(_ files: [IssuerKey: Issuer], cluster: [Issuer]) throws -> (
        issuers: [IssuerKey: Issuer], notes: [String]
    ) {
        var issuers = files
        var fromCluster: Set<IssuerKey> = []
        var notes: [String] = []
        for issuer in cluster {
            if let existing = issuers[issuer.key] {
                guard !fromCluster.contains(issuer.key) else {
                    throw CertctlError(
                        .invalidIssuer, object: issuer.source,
                        "the issuer \"\(issuer.name)\" is also defined in \(existing.source); keep one (rename or delete an object)"
                    )
                }
                notes.append(
                    "the issuer \"\(issuer.name)\" of \(issuer.source) is used; \(existing.source) of the same name is set aside (delete or rename the file to silence this)"
                )
            }
            fromCluster.insert(issuer.key)
            issuers[issuer.key] = issuer
        }
        return (issuers, notes)
    }

    /// An issuer from an object of the API server (a `ClusterIssuer` or `Issuer` whose `spec` is
    /// `spec`); nil when it is not an ACME issuer (CA, selfSigned, Vault: not certctl's to run).
    public static func issuer(
        kind: String, name: String, annotations: [String: String] = [:], spec: [String: Any], source: String
    ) throws -> Issuer? {
        guard spec["acme"] is [String: Any] else { return nil }
        return try issuer(
            from: ["kind": kind, "metadata": ["name": name, "annotations": annotations], "spec": spec], kind: kind,
            source: source)
    }

    /// The issuers defined in one YAML file (several documents allowed; other kinds ignored).
    public static func load(file path: String) throws -> [Issuer] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertctlError(.io, object: path, "cannot read the file")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    public static func parse(_ text: String, source: String) throws -> [Issuer] {
        var issuers: [Issuer] = []
        for document in try YAMLDocuments.parse(text, source: source, code: .invalidIssuer) {
            guard let object = document.value as? [String: Any],
                let kind = object["kind"] as? String, kind == "ClusterIssuer" || kind == "Issuer"
            else { continue }
            issuers.append(try issuer(from: object, kind: kind, source: source))
        }
        return issuers
    }

    private static func issuer(from object: [String: Any], kind: String, source: String) throws -> Issuer {
        func fail(_ reason: String) -> CertctlError {
            CertctlError(.invalidIssuer, object: source, reason)
        }
        guard let metadata = object["metadata"] as? [String: Any], let name = metadata["name"] as? String, !name.isEmpty
        else {
            throw fail("the \(kind) has no metadata.name; give it one")
        }
        let named = "\(source) (\(kind) \(name))"
        guard let spec = object["spec"] as? [String: Any], let acme = spec["acme"] as? [String: Any] else {
            throw CertctlError(.invalidIssuer, object: named, "has no spec.acme; certctl only runs ACME issuers")
        }
        guard let server = acme["server"] as? String, !server.isEmpty else {
            throw CertctlError(
                .invalidIssuer, object: named, "spec.acme.server is missing; set it to the CA's directory URL")
        }
        let keyRef = acme["privateKeySecretRef"] as? [String: Any]
        let accountKeySecret = (keyRef?["name"] as? String) ?? "\(name)-account-key"
        guard ObjectName.isDNSSubdomain(accountKeySecret) else {
            throw fail(
                "spec.acme.privateKeySecretRef.name \"\(accountKeySecret)\" is not a Secret name (\(ObjectName.subdomainRule))"
            )
        }

        let binding = try externalAccountBinding(acme["externalAccountBinding"], object: named)
        let caBundle = try caBundle(acme["caBundle"], object: named)
        if acme["skipTLSVerify"] as? Bool == true {
            throw CertctlError(
                .invalidIssuer,
                object: named,
                "spec.acme.skipTLSVerify is not supported: certctl always verifies TLS; give the CA in caBundle"
            )
        }

        var solvers = try ((acme["solvers"] as? [Any]) ?? []).enumerated().compactMap { index, entry in
            try (entry as? [String: Any]).map {
                try parseSolver($0, field: "spec.acme.solvers[\(index)]", object: named)
            }
        }
        if solvers.isEmpty {
            solvers = [.init(method: .http01(.init()))]
        }

        let issuer = Issuer(
            name: name,
            kind: kind,
            source: named,
            server: server,
            email: acme["email"] as? String,
            accountKeySecret: accountKeySecret,
            externalAccountBinding: binding,
            preferredChain: (acme["preferredChain"] as? String).flatMap { $0.isEmpty ? nil : $0 },
            profile: (acme["profile"] as? String).flatMap { $0.isEmpty ? nil : $0 },
            caBundle: caBundle,
            solvers: solvers,
            fallbackReferences: try fallbackReferences(metadata["annotations"], object: named),
            rateLimits: try rateLimits(metadata["annotations"], server: server, object: named)
        )
        try issuer.validate()
        return issuer
    }

    /// `spec.acme.externalAccountBinding`: the key ID and the Secret that holds its MAC key.
    private static func externalAccountBinding(_ value: Any?, object named: String) throws
        -> Issuer.ExternalAccountBindingReference?
    {
        guard let eab = value as? [String: Any] else { return nil }
        guard let keyID = eab["keyID"] as? String, let secretRef = eab["keySecretRef"] as? [String: Any],
            let secretName = secretRef["name"] as? String
        else {
            throw CertctlError(
                .invalidIssuer, object: named, "spec.acme.externalAccountBinding needs keyID and keySecretRef.name")
        }
        return .init(keyID: keyID, keySecret: .init(name: secretName, key: (secretRef["key"] as? String) ?? "secret"))
    }

    /// `spec.acme.caBundle`: the CA certificates to trust for the directory, base64 of PEM.
    private static func caBundle(_ value: Any?, object named: String) throws -> [UInt8]? {
        guard let encoded = value as? String else { return nil }
        guard let decoded = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) else {
            throw CertctlError(
                .invalidIssuer, object: named, "spec.acme.caBundle is not base64; encode the CA's PEM with base64 -w0")
        }
        return Array(decoded)
    }
}

extension IssuerLoader {
    /// The annotation that names an issuer's fallbacks (README, "When the CA fails").
    public static let fallbackAnnotation = "certctl.io/fallback-issuers"
    /// More fallbacks than this is a mistake, not a plan: each is asked in turn on a bad day.
    static let maximumFallbacks = 4

    /// `certctl.io/fallback-issuers` of an issuer's `metadata.annotations`: comma-separated
    /// `NAME` or `ClusterIssuer/NAME`, at most ``maximumFallbacks``.
    static func fallbackReferences(_ annotations: Any?, object named: String) throws -> [Issuer.FallbackReference] {
        guard let text = (annotations as? [String: Any])?[fallbackAnnotation] else { return [] }
        func fail(_ reason: String) -> CertctlError {
            CertctlError(.invalidIssuer, object: named, "metadata.annotations[\(fallbackAnnotation)] \(reason)")
        }
        guard let list = text as? String else { throw fail("is not a string; write NAME, ClusterIssuer/NAME, ...") }
        let entries = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard entries.count <= maximumFallbacks else {
            throw fail("names \(entries.count) issuers; name at most \(maximumFallbacks), most trusted first")
        }
        var references: [Issuer.FallbackReference] = []
        for entry in entries {
            let parts = entry.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            let reference: Issuer.FallbackReference
            switch parts.count {
            case 1: reference = .init(name: parts[0], clusterWide: false)
            case 2 where parts[0] == "ClusterIssuer": reference = .init(name: parts[1], clusterWide: true)
            default:
                throw fail("has \(Bounded.quoted(entry)), which is neither NAME nor ClusterIssuer/NAME")
            }
            guard ObjectName.isDNSSubdomain(reference.name) else {
                throw fail("has \(Bounded.quoted(entry)), whose name is not an issuer's (\(ObjectName.subdomainRule))")
            }
            if !references.contains(reference) { references.append(reference) }
        }
        return references
    }

    /// Each issuer's fallbacks linked to the issuers they name. A reference to no defined issuer
    /// or to itself is passed over with a note naming the issuer and what to do: its
    /// certificates go on with the fallbacks that are defined.
    /// Fallbacks are not followed further: a fallback's own fallbacks are its own certificates'.
    public static func linkFallbacks(_ issuers: [IssuerKey: Issuer]) -> (issuers: [IssuerKey: Issuer], notes: [String])
    {
        var linked = issuers
        var notes: [String] = []
        for (key, issuer) in issuers.sorted(by: { $0.key < $1.key }) {
            var chain: [IssuerKey] = []
            for reference in issuer.fallbackReferences {
                let target = reference.key(from: key)
                let problem: String? =
                    if target == key { "names the issuer itself" } else if issuers[target] == nil {
                        "names \(target.named), which is not defined: define it or remove it from the list"
                    } else { nil }
                if let problem {
                    notes.append(
                        "\(issuer.source): \(fallbackAnnotation) \(Bounded.quoted(reference.description)) \(problem); its certificates fall back only to the others"
                    )
                } else if !chain.contains(target) {
                    chain.append(target)
                }
            }
            linked[key]?.fallback = chain
        }
        // Issuers sharing one account share its CA's limits: one budget, the stricter of theirs.
        for sharing in Dictionary(grouping: linked.values, by: \.account).values where sharing.count > 1 {
            let ordered = sharing.sorted { $0.key < $1.key }
            let merged = ordered.dropFirst().reduce(ordered[0].rateLimits) { $0.merged(with: $1.rateLimits) }
            if Set(ordered.map { "\($0.rateLimits)" }).count > 1 {
                notes.append(
                    "issuers \(ordered.map(\.key.named).joined(separator: ", ")) share the account Secret \(ordered[0].accountKeySecret) with different \(RateLimits.annotation): each keeps \(merged), within every one of them; give them one setting (or separate accounts)"
                )
            }
            for issuer in ordered { linked[issuer.key]?.rateLimits = merged }
        }
        return (linked, notes)
    }
}
