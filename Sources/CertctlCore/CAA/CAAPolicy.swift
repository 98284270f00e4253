import DNS

/// What an issuer brings to CAA: its CA's identities (the directory's `meta.caaIdentities`)
/// and its account URL, for RFC 8657's `accounturi`.
public struct CAAIssuerFacts: Sendable, Equatable {
    /// The issuer's name, for messages.
    public var issuer: String
    /// The directory URL.
    public var directory: String
    /// Empty when the CA lists none, or its directory could not be read (`directoryProblem`).
    public var identities: [String]
    public var directoryProblem: String?
    /// The stored account's URL; nil before the first run registers one.
    public var account: String?

    public init(
        issuer: String, directory: String, identities: [String], directoryProblem: String? = nil, account: String?
    ) {
        self.issuer = issuer
        self.directory = directory
        self.identities = identities
        self.directoryProblem = directoryProblem
        self.account = account
    }
}

/// What CAA says about one issuer for one name.
public struct CAAFinding: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        case allowed, forbidden
        /// It depends on what cannot be known here (the CA's identity, an account not made yet).
        case unchecked
    }

    public var verdict: Verdict
    public var message: String
}

/// Whether a CA may issue for a name under its relevant CAA set (RFC 8659 §4, RFC 8657), as a
/// CA decides it: the record that grants it, or the records that refuse and the one to add.
public enum CAAPolicy {
    /// The property tags a CA knows: a critical record with any other forbids issuance.
    static let knownTags: Set<String> = ["issue", "issuewild", "iodef"]
    /// Records named in one message at most; more are counted.
    static let recordsShown = 4

    /// `wildcard`: the name is `*.x` (`issuewild` decides where the set has one). `method`: the
    /// challenge type the issuer's solver takes for the name (nil: none selects it).
    public static func evaluate(_ set: CAASet, wildcard: Bool, method: String?, facts: CAAIssuerFacts) -> CAAFinding {
        guard let owner = set.owner else {
            return CAAFinding(verdict: .allowed, message: "\(set.place): any CA may issue")
        }
        if let reason = set.unreadable.first {
            return CAAFinding(
                verdict: .forbidden,
                message:
                    "\(set.place) has a record that cannot be read (\(reason)): a CA cannot read the set either and issues nothing; fix or remove the record at \(owner)"
            )
        }
        if let critical = set.records.first(where: { $0.isCritical && !knownTags.contains($0.normalizedTag) }) {
            return CAAFinding(
                verdict: .forbidden,
                message:
                    "\(set.place): \(critical.zoneText()) is critical (flag 128) with a tag CAs do not know, so none issues; remove the record or its flag"
            )
        }
        let wildcards = set.records.filter { $0.normalizedTag == "issuewild" }
        let tag = wildcard && !wildcards.isEmpty ? "issuewild" : "issue"
        let deciding = tag == "issuewild" ? wildcards : set.records.filter { $0.normalizedTag == "issue" }
        guard !deciding.isEmpty else {
            return CAAFinding(
                verdict: .allowed,
                message:
                    "\(set.place) has no \(wildcard ? "issue or issuewild" : "issue") property (\(shown(set.records))): any CA may issue"
            )
        }
        guard !facts.identities.isEmpty else {
            let why = facts.directoryProblem.map { "cannot be read (\($0))" } ?? "lists no caaIdentities"
            return CAAFinding(
                verdict: .unchecked,
                message:
                    "\(set.place) restricts issuance (\(shown(deciding))), and the CA's directory \(facts.directory) \(why): whether it may issue cannot be checked; compare the records with the CA's documentation"
            )
        }
        return decide(deciding, tag: tag, set: set, owner: owner, method: method, facts: facts)
    }

    /// The verdict of the properties that decide (`tag`'s): the first that grants, else a
    /// property that would grant but for an account not registered yet, else forbidden.
    static func decide(
        _ deciding: [CAARecord], tag: String, set: CAASet, owner: String, method: String?, facts: CAAIssuerFacts
    ) -> CAAFinding {
        var refusals: [String] = []
        var awaitingAccount: CAARecord?
        for record in deciding {
            switch match(record, method: method, facts: facts) {
            case .grants:
                return CAAFinding(verdict: .allowed, message: "allowed by \(set.place): \(record.zoneText())")
            case .needsAccount:
                awaitingAccount = awaitingAccount ?? record
            case .refuses(let why):
                refusals.append("\(record.zoneText()): \(why)")
            }
        }
        if let record = awaitingAccount {
            return CAAFinding(
                verdict: .unchecked,
                message:
                    "\(set.place): \(record.zoneText()) allows one account only, and issuer \(facts.issuer) has no account yet: after the first run registers it, compare its URL (certctl account show --issuer \(facts.issuer))"
            )
        }
        let account = facts.account.map { "; accounturi=\($0)" } ?? ""
        let more = refusals.count > recordsShown ? "; and \(refusals.count - recordsShown) more" : ""
        return CAAFinding(
            verdict: .forbidden,
            message:
                "forbidden by \(set.place): \(refusals.prefix(recordsShown).joined(separator: "; "))\(more); add 0 \(tag) \"\(facts.identities[0])\(account)\" at \(owner) (certctl caa-record prints the records)"
        )
    }

    enum Match: Equatable {
        case grants
        /// It would grant, but names an account URI and the issuer has no account yet.
        case needsAccount
        case refuses(String)
    }

    /// Whether one `issue`/`issuewild` property lets this issuer issue for a name its solver
    /// validates with `method`.
    static func match(_ record: CAARecord, method: String?, facts: CAAIssuerFacts) -> Match {
        let value: CAAIssueValue
        do {
            value = try CAAIssueValue(parsing: record.value)
        } catch {
            return .refuses("malformed (\(error.reason)), so it allows no CA")
        }
        guard !value.issuerDomain.isEmpty else { return .refuses("it lets no CA issue") }
        guard facts.identities.contains(value.issuerDomain) else {
            let spelled = facts.identities.first { $0.lowercased() == value.issuerDomain.lowercased() }
            return .refuses(
                spelled.map { "it names \(value.issuerDomain), which the CA writes \($0) and compares as written" }
                    ?? "another CA (this issuer's is \(facts.identities.joined(separator: " or ")))")
        }
        if let listed = value.parameter("validationmethods") {
            guard let methods = CAAIssueValue.methods(listed) else {
                return .refuses("its validationmethods is not a list of method names, so it allows nothing")
            }
            guard let method else { return .refuses("no solver of issuer \(facts.issuer) selects the name") }
            guard methods.contains(method) else {
                return .refuses("it allows \(listed) only; issuer \(facts.issuer) validates the name with \(method)")
            }
        }
        if let uri = value.parameter("accounturi") {
            guard let account = facts.account else { return .needsAccount }
            guard uri == account else { return .refuses("another account (issuer \(facts.issuer)'s is \(account))") }
        }
        return .grants
    }

    /// Records for a message: the first few in zone-file form, the rest counted.
    static func shown(_ records: [CAARecord]) -> String {
        let more = records.count > recordsShown ? ", and \(records.count - recordsShown) more" : ""
        return records.prefix(recordsShown).map { $0.zoneText() }.joined(separator: ", ") + more
    }
}
