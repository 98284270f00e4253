extension Discovery {
    /// The certificates of a discovery as they are found, one per Secret, and the problems:
    /// each part of an object (its Secret name, its hosts, its annotations) checked here, so
    /// that every source of certificates checks them alike.
    struct Collector {
        var problems: [ObjectProblem] = []
        private var bySecret: [String: DesiredCertificate] = [:]
        private var conflicting = Set<String>()
        private var order: [String] = []

        /// Every certificate found, in the order found, except those named two ways.
        var certificates: [DesiredCertificate] {
            order.filter { !conflicting.contains($0) }.compactMap { bySecret[$0] }
        }

        /// The Secret's name, when it is one.
        mutating func secretName(_ name: String?, object: String, namespace: String, field: String) -> String? {
            guard let name, !name.isEmpty else {
                problems.append(
                    ObjectProblem(
                        object: object, reason: "\(field) is empty; name the Secret to keep the certificate in",
                        kind: .invalidName, namespace: namespace, field: field))
                return nil
            }
            guard ObjectName.isDNSSubdomain(name) else {
                problems.append(
                    ObjectProblem(
                        object: object,
                        reason: "\(field) \"\(name)\" is not a Secret name (\(ObjectName.subdomainRule)); rename it",
                        kind: .invalidName, namespace: namespace, field: field))
                return nil
            }
            return name
        }

        /// The names of one certificate, validated and de-duplicated; nil when one is invalid,
        /// there are none, or more than one certificate holds. `field` is where `object` lists
        /// them: a problem is the object's, at that field, and names the Secret left without.
        mutating func hosts(
            _ list: [String], of object: String, secret: String, namespace: String, field: String, allowWildcard: Bool
        ) -> [String]? {
            let part = "\(object) \(field)"
            let without = "; \(secret) gets no certificate until it is fixed"
            var hosts: [String] = []
            var invalid = false
            for (index, host) in list.enumerated() {
                do {
                    // A wildcard only where the issuer has a DNS-01 solver to validate it.
                    let valid = try Hostname.validate(host, allowWildcard: allowWildcard, object: part)
                    if !hosts.contains(valid) { hosts.append(valid) }
                } catch {
                    let reason = (error as? CertctlError)?.reason ?? "\(error)"
                    problems.append(
                        ObjectProblem(
                            object: object, reason: reason + without, kind: .invalidHost, namespace: namespace,
                            field: "\(field).hosts[\(index)]"))
                    invalid = true
                }
            }
            if invalid { return nil }
            guard !hosts.isEmpty else {
                problems.append(
                    ObjectProblem(
                        object: object, reason: "lists no hosts\(without)", kind: .hostCount, namespace: namespace,
                        field: "\(field).hosts"))
                return nil
            }
            guard hosts.count <= Discovery.maximumNames else {
                problems.append(
                    ObjectProblem(
                        object: object,
                        reason:
                            "lists \(hosts.count) hosts; a certificate holds at most \(Discovery.maximumNames) (Let's Encrypt's limit): split them over several secretNames\(without)",
                        kind: .hostCount, namespace: namespace, field: "\(field).hosts"))
                return nil
            }
            return hosts
        }

        /// What the object's cert-manager annotations ask of the certificate; nil when one is refused.
        mutating func settings(
            _ annotations: [String: String], hosts: [String], object: String, secret: String, namespace: String
        ) -> CertificateSettings? {
            switch CertificateSettings.read(annotations, hosts: hosts) {
            case .success(let settings): return settings
            case .failure(let refused):
                problems.append(
                    ObjectProblem(
                        object: secret, reason: "\(object) \(refused.annotation): \(refused.message)",
                        kind: .annotation, namespace: namespace, field: "metadata.annotations[\(refused.annotation)]"))
                return nil
            }
        }

        /// Adds `desired`, found on `object`: a Secret named again with the same names, issuer
        /// and settings adds the object to it; named otherwise, it is a conflict and neither
        /// is kept.
        mutating func add(_ desired: DesiredCertificate, from object: String, field: String) {
            let key = desired.id
            guard var existing = bySecret[key] else {
                order.append(key)
                bySecret[key] = desired
                return
            }
            if Set(existing.hosts) != Set(desired.hosts) || existing.issuerKey != desired.issuerKey
                || existing.settings != desired.settings
            {
                conflicting.insert(key)
                problems.append(
                    ObjectProblem(
                        object: "Secret \(key)",
                        reason:
                            "is named by \(existing.sourceList) for \(existing.hosts.joined(separator: ", ")) and by \(object) for \(desired.hosts.joined(separator: ", ")); give each its own secretName or the same hosts",
                        kind: .conflict, namespace: desired.namespace, field: field))
            } else {
                for source in desired.sources where !existing.sources.contains(source) {
                    existing.sources.append(source)
                }
                bySecret[key] = existing
            }
        }
    }
}
