import ArgumentParser
import CertctlCore
import Foundation
import Logging
import Transport

/// `certctl account show|rollover|deactivate --issuer NAME` (README "Accounts").
struct AccountCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "An issuer's ACME account: show it, roll its key over, deactivate it.",
        subcommands: [Show.self, Rollover.self, Deactivate.self]
    )

    /// What the three share: the cluster (or state directory), the issuer, logging.
    struct Common: ParsableArguments {
        @OptionGroup var cluster: ClusterOptions

        @Option(help: ArgumentHelp("The issuer whose account it is.", valueName: "name"))
        var issuer: String

        @OptionGroup var logging: LoggingOptions

        /// The issuer's account administration, where a run keeps its account.
        func administration(logger: Logger) async throws -> (AccountAdministration, ClusterOptions.Context) {
            try cluster.requireSingleCluster()
            let opened = try await cluster.open(logger: logger, ownNamespace: .mayStart)
            let context = opened.context
            let chosen = try cluster.issuer(issuer, in: opened.issuers)
            let place = cluster.accountPlace(context)
            let administration = AccountAdministration(
                issuer: chosen, place: place, transport: CurlTransport(userAgent: CertctlVersion.userAgent),
                logger: logger)
            return (administration, context)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The account's URL, status, contact, key, and the orders in flight kept beside it.")

        @OptionGroup var common: Common

        func run() async throws {
            let logger = common.logging.makeLogger()
            do {
                let (administration, _) = try await common.administration(logger: logger)
                let summary = try await administration.show()
                let rows: [(String, String)] = [
                    ("issuer", summary.issuer), ("server", summary.server), ("account", summary.url),
                    ("status", summary.status),
                    ("contact", summary.contact.isEmpty ? "none" : summary.contact.joined(separator: ", ")),
                    ("key", "\(summary.keyAlgorithm), thumbprint \(summary.keyThumbprint)"),
                    ("created", summary.createdAt ?? "not said by the CA"),
                    (
                        "in flight",
                        summary.ordersInFlight.isEmpty
                            ? "no order kept" : summary.ordersInFlight.joined(separator: ", ")
                    ),
                ]
                for (label, value) in rows {
                    print("\(label.padding(toLength: 10, withPad: " ", startingAt: 0)) \(value)")
                }
            } catch {
                throw CertctlExit.report(error)
            }
        }
    }

    struct Rollover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A new account key for the same account URL (RFC 8555 §7.3.5), under the run's lock.")

        @OptionGroup var common: Common

        func run() async throws {
            let logger = common.logging.makeLogger()
            do {
                let (administration, context) = try await common.administration(logger: logger)
                let result = try await common.cluster.underRunLock(context) { keeper in
                    try keeper.requireHeld(before: "key rollover")
                    return try await administration.rollOver()
                }
                print("account \(result.url): key \(result.oldThumbprint) replaced by \(result.newThumbprint)")
            } catch {
                throw CertctlExit.report(error)
            }
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deactivate the account for good (RFC 8555 §7.3.6), under the run's lock.")

        @OptionGroup var common: Common

        @Flag(help: "Do not ask for confirmation.")
        var yes = false

        func run() async throws {
            let logger = common.logging.makeLogger()
            do {
                let (administration, context) = try await common.administration(logger: logger)
                if !yes {
                    print(
                        "Deactivate the account of issuer \(common.issuer) at \(administration.issuer.server) for good? The CA accepts nothing signed with its key afterwards. Type yes: ",
                        terminator: "")
                    guard readLine()?.trimmingCharacters(in: .whitespaces) == "yes" else {
                        throw CertctlError(
                            .invalidArgument, object: "certctl account deactivate", "not confirmed: nothing was changed"
                        )
                    }
                }
                let summary = try await common.cluster.underRunLock(context) { keeper in
                    try keeper.requireHeld(before: "deactivation")
                    return try await administration.deactivate()
                }
                print(
                    "account \(summary.url): \(summary.status); runs for issuer \(summary.issuer) fail until its key is replaced (delete \(administration.issuer.accountKeySecret): the next run registers a new account)"
                )
            } catch {
                throw CertctlExit.report(error)
            }
        }
    }
}
