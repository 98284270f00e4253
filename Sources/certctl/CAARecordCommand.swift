import ArgumentParser
import CertctlCore
import Foundation
import Transport

struct CAARecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caa-record",
        abstract: "Print the CAA records that let exactly the names' issuers and accounts issue.",
        discussion: """
            One issue line per owner name and issuer of the names' chains (and an issuewild line \
            where there are wildcard names): the CA's identity from its ACME directory \
            (meta.caaIdentities), accounturi the issuer's account (where certctl run keeps it; \
            none is created: without one the line leaves accounturi out and a comment says so), \
            validationmethods the challenge types its solvers take for the names. Each owner is \
            the longest common parent of its names; the registered domain covers all its \
            subdomains. certctl check reads the records back.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(
        help: ArgumentHelp(
            "Only the names this issuer serves (with -d: the issuer of names no managed Ingress has).",
            valueName: "name"))
    var issuer: String?

    @Option(
        name: [.customShort("d"), .customLong("domain")],
        help: ArgumentHelp(
            "A name; repeat for more (default: every name of the managed Ingresses).", valueName: "name"))
    var domains: [String] = []

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.makeLogger()
        do {
            try cluster.requireSingleCluster()
            let given = try domains.map {
                try Hostname.validate($0.lowercased(), allowWildcard: true, object: "-d \($0)")
            }
            // With -d and --state alone the names are all there is to know: the local accounts.
            let context =
                given.isEmpty || !cluster.stateWithoutManifests
                ? try await cluster.ownNamespace(cluster.makeContext(logger: logger), .refuse, logger: logger) : nil
            let issuers: [IssuerKey: Issuer]
            let defaultIssuer: String?
            var inventory: Inventory?
            if let context {
                (issuers, defaultIssuer, _) = try await cluster.loadIssuers(context, logger: logger)
                inventory = try await Inventory.load(
                    from: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer)
            } else {
                (issuers, defaultIssuer) = try cluster.loadIssuers()
            }
            let chosen = try issuer.map { try cluster.issuer($0, in: issuers) }
            let names = try Self.names(given, issuer: chosen, issuers: issuers, inventory: inventory)
            let place = context.map(cluster.accountPlace) ?? .local(state: cluster.state)
            let transport = CurlTransport(userAgent: CertctlVersion.userAgent)
            var facts: [IssuerKey: CAAIssuerFacts] = [:]
            for issuer in names.flatMap(\.chain) where facts[issuer.key] == nil {
                facts[issuer.key] = await CAAIssuerFacts.read(
                    issuer, accounts: place.accounts, transport: transport, logger: logger,
                    requestTimeout: .seconds(30))
            }
            for line in CAARecords.lines(for: names, facts: facts) { print(line) }
        } catch {
            throw CertctlExit.report(error)
        }
    }

    /// The names to print records for, each with its chain (``Issuer/chain(in:)``): those
    /// given, with the issuer of the managed certificate that has them, else `--issuer`; without
    /// any, every name of the managed certificates (of `--issuer`'s alone when given).
    static func names(_ given: [String], issuer chosen: Issuer?, issuers: [IssuerKey: Issuer], inventory: Inventory?)
        throws -> [CAARecords.Name]
    {
        let entries = (inventory?.entries ?? []).map(\.desired).filter {
            chosen == nil || $0.issuerKey == chosen?.key
        }
        func name(_ host: String, _ desired: DesiredCertificate) -> CAARecords.Name? {
            issuers[desired.issuerKey].map {
                CAARecords.Name(host: host, labels: desired.labels, chain: $0.chain(in: issuers))
            }
        }
        var names: [CAARecords.Name] = []
        if given.isEmpty {
            for desired in entries {
                for host in desired.hosts where !names.contains(where: { $0.host == host }) {
                    if let found = name(host, desired) { names.append(found) }
                }
            }
            guard !names.isEmpty else {
                throw CertctlError(
                    .invalidArgument, object: chosen.map { "--issuer \($0.key)" } ?? "the managed Ingresses",
                    "name no certificate; give the names with -d NAME and --issuer NAME")
            }
            return names
        }
        for host in given where !names.contains(where: { $0.host == host }) {
            if let desired = entries.first(where: { $0.hosts.contains(host) }), let found = name(host, desired) {
                names.append(found)
            } else if let chosen {
                names.append(CAARecords.Name(host: host, chain: chosen.chain(in: issuers)))
            } else {
                throw CertctlError(
                    .invalidArgument, object: "-d \(host)",
                    "no managed Ingress has this name, so its issuer is not known; give --issuer NAME")
            }
        }
        return names
    }
}
