import Basics
public import Certificates
public import Foundation

/// What a managed Ingress's cert-manager annotations (ingress-shim's set, README "Moving from
/// cert-manager") ask of its certificates. Each annotation is honoured, or refused by name: a
/// value certctl cannot honour is a problem of the Ingress (it makes no certificate until fixed,
/// rather than one other than asked for); one that has no meaning for an ACME CA is a warning.
public struct CertificateSettings: Sendable, Equatable {
    /// How `tls.key` is written: PKCS#1 (`RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`) or PKCS#8.
    public enum KeyEncoding: String, Sendable, Equatable {
        case pkcs1 = "PKCS1"
        case pkcs8 = "PKCS8"
    }

    /// The key to make; nil: the run's `--key-type`.
    public var keyType: KeyType?
    public var keyEncoding: KeyEncoding = .pkcs1
    /// `private-key-rotation-policy: Never`: a renewal keeps the Secret's key.
    public var keepsKey = false
    /// The subject CN (one of the hosts); nil: the first host.
    public var commonName: String?
    /// Renew this long before expiry at the latest (`renew-before`).
    public var renewBefore: TimeInterval?
    /// Renew when this share of the lifetime is left at the latest (`renew-before-percentage`).
    public var renewBeforeShare: Double?
    /// The solver Ingress's class for this Ingress (`acme.cert-manager.io/http01-ingress-*`).
    public var http01IngressClassName: String?
    public var http01IngressClass: String?
    /// `acme.cert-manager.io/http01-edit-in-place`: the challenge path goes into the Ingress itself.
    public var editInPlace = false
    /// What each annotation changed, for `certctl discover`.
    public var effects: [String] = []
    /// Annotations with no meaning here, and why (warned once per run).
    public var ignored: [String] = []

    public init() {}

    /// A Go duration (`720h`, `1h30m`, `90s`) in seconds; nil when it is not one or is longer
    /// than ten years (``Bounded/longestDuration``).
    public static func parseDuration(_ text: String) -> TimeInterval? {
        if case .seconds(let seconds) = Bounded.goDuration(text) { return seconds }
        return nil
    }

    public static let prefix = "cert-manager.io/"
    public static let acmePrefix = "acme.cert-manager.io/"

    /// Read by Discovery for choosing the issuer, not here.
    static let issuerAnnotations: Set<String> = [
        "cert-manager.io/cluster-issuer", "cert-manager.io/issuer", "cert-manager.io/issuer-kind",
        "cert-manager.io/issuer-group",
    ]

    /// The `cert-manager.io/` annotations the settings read (past the prefix).
    static let settingsAnnotations: Set<String> = [
        "private-key-algorithm", "private-key-size", "private-key-encoding", "private-key-rotation-policy",
        "common-name", "renew-before", "renew-before-percentage", "duration", "usages", "revision-history-limit",
    ]

    /// The `acme.cert-manager.io/` annotations the solver settings read (past the prefix).
    static let solverAnnotations: Set<String> = [
        "http01-ingress-ingressclassname", "http01-ingress-class", "http01-edit-in-place",
    ]

    /// Every annotation of an Ingress, Gateway or ListenerSet that the settings read, in full.
    public static var annotationsRead: Set<String> {
        Set(settingsAnnotations.union(subjectAnnotations).map { prefix + $0 })
            .union(solverAnnotations.map { acmePrefix + $0 })
    }

    /// Whether the annotation `key` is one `read` looks at (every `cert-manager.io/` one but the
    /// issuer's, every `acme.cert-manager.io/` one).
    static func readsSettings(_ key: String) -> Bool {
        key.hasPrefix(acmePrefix) || (key.hasPrefix(prefix) && !issuerAnnotations.contains(key))
    }

    /// The subject annotations in order, and every `cert-manager.io/` annotation (past the
    /// prefix) certctl knows, for ``SettingsReader/ignored()``.
    static let sortedSubjectAnnotations = subjectAnnotations.sorted()
    static let knownAnnotations = settingsAnnotations.union(subjectAnnotations)

    /// Subject fields and e-mail SANs: an ACME CA puts only the validated names in a certificate.
    static let subjectAnnotations: Set<String> = [
        "email-sans", "uri-sans", "ip-sans", "subject-organizations", "subject-organizationalunits",
        "subject-countries", "subject-provinces", "subject-localities", "subject-postalcodes",
        "subject-streetaddresses", "subject-serialnumber",
    ]

    /// The settings of an Ingress with `annotations`, for certificates of `hosts`; or why not.
    /// - Returns: the settings, or the problem (field, message) that refuses them.
    public static func read(_ annotations: [String: String], hosts: [String]) -> Result<
        CertificateSettings, SettingsProblem
    > {
        // Most objects carry none of these (an issuer's name at most): nothing to read.
        guard annotations.keys.contains(where: readsSettings) else { return .success(CertificateSettings()) }
        var reader = SettingsReader(annotations: annotations)
        do {
            try reader.key()
            try reader.keyHandling()
            try reader.commonName(hosts: hosts)
            try reader.renewal()
            reader.ignored()
            try reader.solverIngress()
        } catch {
            return .failure(error)
        }
        return .success(reader.settings)
    }
}

/// One reading of an object's cert-manager annotations into ``CertificateSettings``, one group
/// of annotations at a time; the first refused one ends it.
private struct SettingsReader {
    let annotations: [String: String]
    var settings = CertificateSettings()
    private let prefix = CertificateSettings.prefix
    private let acmePrefix = CertificateSettings.acmePrefix

    init(annotations: [String: String]) { self.annotations = annotations }

    private func value(_ name: String) -> String? {
        annotations[prefix + name].map { $0.trimmingCharacters(in: .whitespaces) }
    }

    private func refuse(_ name: String, _ message: String) -> SettingsProblem {
        SettingsProblem(annotation: prefix + name, message: message)
    }

    /// cert-manager's spelling (RSA/ECDSA and a size), RSA 2048 when only a size is given.
    mutating func key() throws(SettingsProblem) {
        let algorithm = value("private-key-algorithm")
        let sizeText = value("private-key-size")
        guard algorithm != nil || sizeText != nil else { return }
        var size: Int?
        if let sizeText {
            guard let parsed = Bounded.integer(sizeText, in: 0...65536) else {
                throw refuse("private-key-size", "\(Bounded.quoted(sizeText)) is not a number of bits")
            }
            size = parsed
        }
        switch (algorithm?.uppercased() ?? "RSA", size) {
        case ("RSA", nil), ("RSA", 2048): settings.keyType = .rsa2048
        case ("RSA", 3072): settings.keyType = .rsa3072
        case ("RSA", 4096): settings.keyType = .rsa4096
        case ("RSA", let size?):
            throw refuse("private-key-size", "RSA keys of \(size) bits are not made; use 2048, 3072 or 4096")
        case ("ECDSA", nil), ("ECDSA", 256): settings.keyType = .ecdsaP256
        case ("ECDSA", 384): settings.keyType = .ecdsaP384
        case ("ECDSA", let size?):
            throw refuse(
                "private-key-size",
                "ECDSA keys of \(size) bits are not made (Let's Encrypt takes P-256 and P-384); use 256 or 384")
        case ("ED25519", _):
            throw refuse("private-key-algorithm", "Ed25519 keys are not issued by Let's Encrypt; use RSA or ECDSA")
        default:
            throw refuse("private-key-algorithm", "\(Bounded.quoted(algorithm ?? "")) is not RSA, ECDSA or Ed25519")
        }
        settings.effects.append("key \(settings.keyType?.rawValue ?? "?") (private-key-algorithm/-size)")
    }

    /// How `tls.key` is written and whether it is kept across renewals.
    mutating func keyHandling() throws(SettingsProblem) {
        if let encoding = value("private-key-encoding") {
            guard let known = CertificateSettings.KeyEncoding(rawValue: encoding.uppercased()) else {
                throw refuse("private-key-encoding", "\(Bounded.quoted(encoding)) is not PKCS1 or PKCS8")
            }
            settings.keyEncoding = known
            settings.effects.append("tls.key as \(known.rawValue) (private-key-encoding)")
        }
        if let policy = value("private-key-rotation-policy") {
            switch policy {
            case "Always": settings.effects.append("a new key at each renewal (private-key-rotation-policy: Always)")
            case "Never":
                settings.keepsKey = true
                settings.effects.append("the Secret's key kept across renewals (private-key-rotation-policy: Never)")
            default:
                throw refuse("private-key-rotation-policy", "\(Bounded.quoted(policy)) is not Always or Never")
            }
        }
    }

    /// The subject's CN: one of the hosts, as an ACME CA validates only those.
    mutating func commonName(hosts: [String]) throws(SettingsProblem) {
        guard let name = value("common-name") else { return }
        guard hosts.contains(name.lowercased()) else {
            throw refuse(
                "common-name",
                "\(Bounded.quoted(name)) is not one of the hosts (\(hosts.joined(separator: ", "))); an ACME CA puts only validated names in the subject"
            )
        }
        guard name.count <= 64 else {
            throw refuse("common-name", "\(Bounded.quoted(name)) is longer than the 64 characters a CN may have")
        }
        settings.commonName = name.lowercased()
        settings.effects.append("subject CN \(name.lowercased()) (common-name)")
    }

    /// When to renew at the latest; `duration` is checked but the CA chooses the lifetime.
    mutating func renewal() throws(SettingsProblem) {
        if let text = value("renew-before") {
            let seconds: TimeInterval
            switch Bounded.goDuration(text) {
            case .seconds(let read) where read > 0: seconds = read
            case .tooLong:
                throw refuse(
                    "renew-before", "\(Bounded.quoted(text)) is longer than ten years; write a duration like 720h")
            default:
                throw refuse("renew-before", "\(Bounded.quoted(text)) is not a duration like 720h or 360h30m")
            }
            settings.renewBefore = seconds
            settings.effects.append("renews \(Bounded.excerpt(text)) before expiry at the latest (renew-before)")
        }
        if let text = value("renew-before-percentage") {
            guard let percent = Bounded.integer(text, in: 1...99) else {
                throw refuse(
                    "renew-before-percentage", "\(Bounded.quoted(text)) is not a whole percentage from 1 to 99")
            }
            settings.renewBeforeShare = Double(percent) / 100
            settings.effects.append(
                "renews with \(percent)% of its lifetime left at the latest (renew-before-percentage)")
        }
        if let text = value("duration") {
            guard CertificateSettings.parseDuration(text) != nil else {
                throw refuse("duration", "\(Bounded.quoted(text)) is not a duration like 2160h (ten years at most)")
            }
            settings.ignored.append(
                "\(prefix)duration: \(Bounded.excerpt(text)) is not requested; the ACME CA chooses the lifetime (Let's Encrypt: its profile's)"
            )
        }
    }

    /// Annotations with no meaning for an ACME CA, and ones certctl does not know: said, not refused.
    mutating func ignored() {
        if let text = value("usages") {
            settings.ignored.append(
                "\(prefix)usages: \(Bounded.excerpt(text)) is not requested; the ACME CA sets the key usages (digital signature, server auth)"
            )
        }
        if value("revision-history-limit") != nil {
            settings.ignored.append(
                "\(prefix)revision-history-limit: not applicable; certctl keeps no CertificateRequest objects")
        }
        for name in CertificateSettings.sortedSubjectAnnotations where value(name) != nil {
            settings.ignored.append(
                "\(prefix)\(name): not requested; an ACME CA puts only the validated DNS names and IP addresses in a certificate"
            )
        }
        let unknown = annotations.keys.filter {
            $0.hasPrefix(prefix) && !CertificateSettings.issuerAnnotations.contains($0)
                && !CertificateSettings.knownAnnotations.contains(String($0.dropFirst(prefix.count)))
        }
        for key in unknown.sorted() {
            settings.ignored.append("\(key): not an ingress-shim annotation certctl knows; ignored")
        }
    }

    /// The solver Ingress's class, and edit-in-place (acme.cert-manager.io/http01-*).
    mutating func solverIngress() throws(SettingsProblem) {
        let className = annotations[acmePrefix + "http01-ingress-ingressclassname"]
        let legacyClass = annotations[acmePrefix + "http01-ingress-class"]
        if className != nil, legacyClass != nil {
            throw SettingsProblem(
                annotation: acmePrefix + "http01-ingress-class",
                message:
                    "both http01-ingress-class and http01-ingress-ingressclassname are set; keep one (cert-manager refuses both too)"
            )
        }
        // The class lands on the solver Ingress certctl creates: an IngressClass name, or nothing.
        for (name, value) in [("http01-ingress-ingressclassname", className), ("http01-ingress-class", legacyClass)] {
            if let value, !ObjectName.isDNSSubdomain(value) {
                throw SettingsProblem(
                    annotation: acmePrefix + name,
                    message: "\(Bounded.quoted(value)) is not an IngressClass name (\(ObjectName.subdomainRule))")
            }
        }
        if let className {
            settings.http01IngressClassName = className
            settings.effects.append("solver Ingress of class \(className) (http01-ingress-ingressclassname)")
        }
        if let legacyClass {
            settings.http01IngressClass = legacyClass
            settings.effects.append("solver Ingress annotated class \(legacyClass) (http01-ingress-class)")
        }
        if let editInPlace = annotations[acmePrefix + "http01-edit-in-place"], editInPlace == "true" {
            settings.editInPlace = true
            settings.effects.append(
                "the challenge path is added to this Ingress and removed after (http01-edit-in-place)")
        }
    }
}

/// An annotation certctl refuses, and why.
public struct SettingsProblem: Error, Sendable, Equatable {
    public var annotation: String
    public var message: String
}
