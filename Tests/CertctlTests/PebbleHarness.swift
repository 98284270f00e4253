import ACME
import CertctlCore
import CertctlTestSupport
import Logging
import SwiftASN1
import Testing
import Transport
import X509

/// Starts an HTTP-01 responder on a free port and a Pebble that validates against it.
func withPebble<T>(
    _ options: Pebble.Options = Pebble.Options(),
    _ body: (Pebble, HTTP01Responder) async throws -> T
) async throws -> T {
    let responder = try await HTTP01Responder.start(host: "127.0.0.1", port: 0, logger: Logger(label: "test"))
    let pebble = try await Pebble.start(httpPort: responder.port, options: options)
    do {
        let result = try await body(pebble, responder)
        pebble.stop()
        await responder.stop()
        return result
    } catch {
        let log = pebble.log
        pebble.stop()
        await responder.stop()
        Issue.record("Pebble log:\n\(log.suffix(3000))")
        throw error
    }
}

/// Checks that `chain` links leaf → intermediate → a root Pebble serves.
func expectChainVerifies(_ chain: [Certificate], root rootPEM: String) throws {
    let root = try Certificate(pemEncoded: rootPEM)
    var certificates = chain
    certificates.append(root)
    for (child, parent) in zip(certificates, certificates.dropFirst()) {
        #expect(child.issuer == parent.subject, "\(child.subject) is not issued by \(parent.subject)")
        #expect(
            parent.publicKey.isValidSignature(child.signature, for: child),
            "the signature on \(child.subject) does not verify")
    }
}
