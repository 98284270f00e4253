import ArgumentParser
import CertctlCore
import Foundation
import Transport

struct PruneCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "List the Secrets certctl made that nothing names any more; remove them with --delete.",
        discussion: """
            An orphan carries certctl's label (app.kubernetes.io/managed-by: certctl) and no \
            Ingress, Gateway or ListenerSet in scope names it. A Secret without the label, or one \
            cert-manager's Certificate names, is never touched. --delete works under the run's lock \
            from a read made under it, refuses when that read is partial (a list it may not read, \
            a manifest that does not parse), keeps a Secret a Gateway of another namespace uses \
            through a ReferenceGrant, and deletes each Secret only as it was read (uid, \
            resourceVersion). --revoke never revokes a certificate a wanted Secret also holds.
            """
    )

    @Flag(help: "Delete them.")
    var delete = false

    @Flag(help: "With --delete: revoke each certificate first (cessationOfOperation); one that cannot be is kept.")
    var revoke = false

    @OptionGroup var cluster: ClusterOptions

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        if revoke, !delete { throw ValidationError("--revoke goes with --delete") }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        var kept = 0
        do {
            let (read, issuers, defaultIssuer, inventory) = try await cluster.inventory(logger: logger)
            let found = (cluster: inventory.cluster, ids: inventory.orphans)
            guard !found.ids.isEmpty else {
                print("no orphaned Secret in \(found.cluster)")
                return
            }
            guard delete else {
                for id in found.ids { print("orphaned  Secret \(id)") }
                print(
                    "\(counted(found.ids.count, "orphaned Secret")) in \(found.cluster); certctl prune --delete removes them (--revoke: revokes each certificate first)"
                )
                return
            }
            // The lock and the accounts are in certctl's own namespace: found, never guessed.
            let context = try await cluster.ownNamespace(read, .refuse, logger: logger)
            let place = cluster.accountPlace(context)
            let pruner = Pruner(
                store: context.store, place: place, issuers: issuers,
                transport: CurlTransport(userAgent: CertctlVersion.userAgent), logger: logger)
            kept = try await cluster.underRunLock(context) { keeper in
                // Under the lock, as the cluster is now: nothing is deleted from a partial view.
                let now = try await Inventory.load(
                    from: context.store, scope: context.scope, issuers: issuers, defaultIssuer: defaultIssuer)
                let blind = now.blindSpots
                guard blind.isEmpty else {
                    throw CertctlError(
                        .invalidArgument, object: "certctl prune --delete",
                        "refused: certctl cannot see everything that may use these Secrets, so none is proven unused (\(blind.joined(separator: "; "))); fix what is named, then run it again"
                    )
                }
                var kept = 0
                for id in now.orphans {
                    let outcome = await pruner.prune(id, revoke: revoke, in: now) {
                        try keeper.requireHeld(before: "revocation of Secret \(id)'s certificate")
                    }
                    switch outcome {
                    case .deleted(let revoked):
                        print("deleted   Secret \(id)\(revoked ? " (its certificate revoked)" : "")")
                    case .kept(let why):
                        kept += 1
                        print("kept      Secret \(id): \(why)")
                    }
                }
                return kept
            }
        } catch {
            throw CertctlExit.report(error)
        }
        if kept > 0 { throw ExitCode(1) }
    }
}
