import Certificates
import Foundation

/// Reads issuers from a directory of YAML files (`issuers/NAME.yaml`), in cert-manager's schema,
/// so an existing `cluster-issuer.yaml` works unchanged.
public enum IssuerLoader {
    /// Every `ClusterIssuer`/`Issuer` with `spec.acme` in `directory`, by name.
    public static func load(directory: String) throws -> [String: Issuer] {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }
                .sorted()
        } catch {
            throw CertctlError(
                .invalidArgument, object: directory, "cannot read the issuers directory; pass --issuers DIR")
        }
        var issuers: [String: Issuer] = [:]
        for file in files {
            let path = (directory as NSString).appendingPathComponent(file)
            for issuer in try load(file: path) {
                if let existing = issuers[issuer.name] {
                    throw CertctlError(
                        .invalidIssuer,
                        object: path,
                        "the issuer \"\(issuer.name)\" is also defined in \(existing.source); keep one"
                    )
                }
                issuers[issuer.name] = issuer
            }
        }
        return issuers
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

        var binding: Issuer.ExternalAccountBindingReference?
        if let eab = acme["externalAccountBinding"] as? [String: Any] {
            guard let keyID = eab["keyID"] as? String,
                let secretRef = eab["keySecretRef"] as? [String: Any],
                let secretName = secretRef["name"] as? String
            else {
                throw CertctlError(
                    .invalidIssuer,
                    object: named,
                    "spec.acme.externalAccountBinding needs keyID and keySecretRef.name"
                )
            }
            binding = .init(
                keyID: keyID,
                keySecret: .init(name: secretName, key: (secretRef["key"] as? String) ?? "secret")
            )
        }

        var caBundle: [UInt8]?
        if let encoded = acme["caBundle"] as? String {
            guard let decoded = Data(base64Encoded: encoded.filter { !$0.isWhitespace }) else {
                throw CertctlError(
                    .invalidIssuer, object: named,
                    "spec.acme.caBundle is not base64; encode the CA's PEM with base64 -w0")
            }
            caBundle = Array(decoded)
        }
        if acme["skipTLSVerify"] as? Bool == true {
            throw CertctlError(
                .invalidIssuer,
                object: named,
                "spec.acme.skipTLSVerify is not supported: certctl always verifies TLS; give the CA in caBundle"
            )
        }

        var solvers: [Issuer.HTTP01Solver] = []
        for (index, entry) in ((acme["solvers"] as? [Any]) ?? []).enumerated() {
            guard let solver = entry as? [String: Any] else { continue }
            let selector = solver["selector"] as? [String: Any]
            let dnsNames = (selector?["dnsNames"] as? [String]) ?? []
            if let http01 = solver["http01"] as? [String: Any] {
                let ingress = (http01["ingress"] as? [String: Any]) ?? [:]
                if let type = ingress["serviceType"] as? String, !["ClusterIP", "NodePort"].contains(type) {
                    throw CertctlError(
                        .invalidIssuer, object: named,
                        "spec.acme.solvers[\(index)].http01.ingress.serviceType \"\(type)\" is not ClusterIP or NodePort (cert-manager's two)"
                    )
                }
                if ingress["class"] != nil, ingress["ingressClassName"] != nil {
                    throw CertctlError(
                        .invalidIssuer, object: named,
                        "spec.acme.solvers[\(index)].http01.ingress sets both class and ingressClassName; keep one (ingressClassName, unless the controller reads only the legacy annotation)"
                    )
                }
                solvers.append(
                    .init(
                        ingressClass: ingress["class"] as? String,
                        ingressClassName: ingress["ingressClassName"] as? String,
                        serviceType: ingress["serviceType"] as? String,
                        dnsNames: dnsNames
                    )
                )
            } else if solver["dns01"] != nil {
                continue  // DNS-01 providers are not built yet; such a solver is skipped, not an error.
            } else {
                throw CertctlError(
                    .invalidIssuer, object: named, "spec.acme.solvers[\(index)] has neither http01 nor dns01")
            }
        }
        if solvers.isEmpty {
            solvers = [.init(ingressClass: nil, ingressClassName: nil, serviceType: nil, dnsNames: [])]
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
            solvers: solvers
        )
        try issuer.validate()
        return issuer
    }
}
