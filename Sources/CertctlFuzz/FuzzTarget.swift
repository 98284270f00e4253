import ACME
import Basics
import CertctlCore
import Certificates
import DNS
import Foundation
import Kubernetes
import Transport

/// The parsers that read outside input, one fuzz target each: what a CA, a cluster, an operator's
/// files or a network peer can hand certctl. A target must never crash, whatever the bytes; a
/// thrown error is a correct answer. `scripts/fuzz` runs them under libFuzzer; the tests replay
/// the corpus in `Tests/fuzz-corpus/TARGET/` (seeds and every crash found) through the same code.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case pem
    case acmeJSON = "acme-json"
    case problem
    case issuer
    case manifest
    case kubeconfig
    case notifyConfig = "notify-config"
    case headers
    /// A DNS server's answer (RFC 1035 messages, TSIG on an update's answer) and the
    /// dns-persist-01 records read from it.
    case dns
    /// An issuer's `certctl.io/rate-limits` setting, the account's rate ledger as a Secret holds
    /// it, a CA's rateLimited detail, and names' registered domains.
    case rateLimits = "rate-limits"

    public func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        switch self {
        case .pem:
            if let chain = try? CertificateChain(pem: text) {
                let summary = CertificateSummary(chain.leaf)
                _ = (summary.serialHex, summary.ariCertificateID, chain.topIssuerCommonName)
            }
            if let key = try? PrivateKey(pem: text) { _ = try? key.pemRepresentation() }
        case .acmeJSON:
            _ = try? ACMEClient.decodeResource(ACMEDirectory.self, from: bytes)
            _ = try? ACMEClient.decodeResource(ACMEAccount.self, from: bytes)
            _ = try? ACMEClient.decodeResource(ACMEOrder.self, from: bytes)
            _ = try? ACMEClient.decodeResource(ACMEAuthorization.self, from: bytes)
            _ = try? ACMEClient.decodeResource(ACMERenewalInfo.self, from: bytes)
        case .problem:
            if let problem = try? ACMEClient.decodeResource(ACMEProblem.self, from: bytes) {
                _ = problem.description
            }
        case .issuer:
            if let issuers = try? IssuerLoader.parse(text, source: "fuzz.yaml") { _ = issuers.map(\.name) }
        case .manifest:
            let found = LocalDirectoryStore.ingresses(inManifest: text, file: "fuzz.yaml")
            _ = Discovery.certificates(for: found.items, issuers: ["pebble"], defaultIssuer: "pebble")
        case .kubeconfig:
            var kubeconfig = Kubeconfig()
            if (try? kubeconfig.merge(text, path: "/nonexistent/fuzz/config")) != nil {
                _ = try? kubeconfig.connection(context: nil)
            }
        case .notifyConfig:
            _ = try? NotificationConfig.parse(text, source: "fuzz.yaml")
        case .headers:
            let now = Date(timeIntervalSince1970: 1_800_000_000)
            _ = parseRetryAfter(text, now: now)
            _ = parseLinks([text])
            _ = Timestamp.rfc3339(text)
            _ = Timestamp.httpDate(text)
        case .dns:
            if let message = try? DNSMessage(decoding: bytes) {
                _ = message.encoded()
                for record in message.answers + message.authority + message.additional {
                    _ = (record.txtValue, record.address, record.dataName)
                }
                let key = TSIGKey(name: "fuzz", algorithm: .hmacSHA256, secret: Array(repeating: 1, count: 32))
                _ = try? key.verify(bytes, message: message, requestMAC: Array(repeating: 2, count: 32))
            }
            for line in text.split(separator: "\n") {
                if let record = DNSPersistRecord(parsing: String(line)) { _ = record.zoneLine(for: "example.org") }
            }
        case .rateLimits:
            Self.rateLimits(text, bytes)
        }
    }

    /// An issuer's rate-limit setting, the ledger a Secret holds, a rateLimited detail, names'
    /// registered domains, and the budget over them.
    private static func rateLimits(_ text: String, _ bytes: [UInt8]) {
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        let limits = (try? RateLimits.parse(text)) ?? .letsEncrypt
        _ = limits.description
        let (ledger, _) = RateLedger.decoded(Data(bytes), now: now, limits: limits)
        _ = ledger.encoded(now: now, limits: limits)
        _ = RateLedger.limitNamed(in: text)
        let names = text.split(separator: "\n").prefix(100).map(String.init)
        _ = names.map(RegisteredDomain.limitKey)
        let candidates = names.enumerated().map {
            RateBudget.Candidate(id: "\($0)", names: [$1], replaces: $0 % 2 == 0)
        }
        _ = RateBudget.plan(limits: limits, ledger: ledger, now: now, candidates: candidates)
    }
}
