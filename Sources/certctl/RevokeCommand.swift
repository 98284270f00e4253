import ACME
import ArgumentParser
import Basics
import CertctlCore
import Certificates
import Foundation
import Transport

struct RevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke the certificate a Secret holds, and issue its replacement at once.",
        discussion: """
            Under the run's lock: the CA revokes the certificate (RFC 8555 §7.6; with the issuer's \
            account, or with the certificate's own key where no account is stored), the Secret's \
            record says so (certctl.io/revoked-serial, revocation-reason, revoked-at) with an Event \
            on its Ingresses and Gateways (a Warning for keyCompromise), then a new certificate with \
            a new key is issued and stored. With --no-reissue the next run issues it.
            """
    )

    static let reasons: [RevocationReason] = [.unspecified, .keyCompromise, .superseded, .cessationOfOperation]

    @Argument(
        help:
            "The Secret whose certificate to revoke: NAME (in the one namespace of -n, or the context's) or NAMESPACE/NAME."
    )
    var secret: String

    @Option(
        help: ArgumentHelp(
            "RFC 5280's reason: \(Self.reasons.map(\.name).joined(separator: ", ")).", valueName: "reason"))
    var reason = "unspecified"

    @Flag(name: .customLong("no-reissue"), help: "Only revoke; the next run issues the replacement.")
    var noReissue = false

    @OptionGroup var cluster: ClusterOptions

    @Option(
        name: .customLong("http01-listen"),
        help: ArgumentHelp("Where the HTTP-01 responder listens for the replacement.", valueName: "host:port"))
    var http01Listen = "0.0.0.0:8089"

    @Option(
        name: .customLong("http01-self-check-passes"),
        parsing: .unconditional,
        help: "Self-checks through the ingress before the CA is told (0: none), as for run.")
    var selfCheckPasses = 5

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (0...50).contains(selfCheckPasses) else {
            throw ValidationError("--http01-self-check-passes must be 0 to 50 (the default is 5)")
        }
        guard let found = RevocationReason(name: reason), Self.reasons.contains(found) else {
            throw ValidationError(
                "--reason \(reason) is not one of \(Self.reasons.map(\.name).joined(separator: ", "))")
        }
    }

    func run() async throws {
        let logger = logging.makeLogger()
        let code: Int32
        do {
            // Read to check what is asked for; the CA is asked, and the record written, by the
            // run under its lock.
            let (id, serial) = try Self.revocable(
                secret, in: try await cluster.inventory(logger: logger).inventory, now: Date())
            let request = RenewalRequest(
                certificates: [id], issueNow: !noReissue,
                revocation: Revocation(reason: RevocationReason(name: reason) ?? .unspecified, serials: [id: serial]))
            code = try await RunCommand.execute(
                request, cluster: cluster, http01Listen: http01Listen, selfCheckPasses: selfCheckPasses,
                printing: noReissue ? .marks : .marksAndSummary, logger: logger)
        } catch {
            throw CertctlExit.report(error)
        }
        if code != 0 { throw ExitCode(code) }
    }

    /// The certificate (`namespace/secret`) and the serial of what `secret` holds, when certctl
    /// manages it and it is valid; else a refusal saying why.
    static func revocable(_ secret: String, in inventory: Inventory, now: Date) throws -> (id: String, serial: String) {
        guard let entry = try inventory.entries(named: secret).first else {
            throw CertctlError(
                .invalidArgument, object: "Secret \(secret)",
                "is not a certificate certctl manages in \(inventory.cluster) (no Ingress or Gateway asks for it); certctl revokes only its own, see certctl discover"
            )
        }
        guard let summary = entry.current?.summary else {
            throw CertctlError(
                .invalidArgument, object: "Secret \(entry.desired.id)", "holds no certificate: nothing to revoke")
        }
        guard summary.notAfter > now else {
            throw CertctlError(
                .invalidArgument, object: "Secret \(entry.desired.id)",
                "holds a certificate that expired at \(Timestamp.rfc3339(summary.notAfter)): a CA does not revoke an expired certificate"
            )
        }
        return (entry.desired.id, summary.serialHex)
    }
}
