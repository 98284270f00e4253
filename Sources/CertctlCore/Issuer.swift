import Certificates
import Foundation
public import Transport

/// An ACME issuer, read from a cert-manager `ClusterIssuer`/`Issuer` (`cert-manager.io/v1`, `spec.acme`).
public struct Issuer: Sendable {
    public struct SecretKeyReference: Sendable, Equatable {
        public var name: String
        public var key: String
    }

    public struct ExternalAccountBindingReference: Sendable, Equatable {
        public var keyID: String
        public var keySecret: SecretKeyReference
    }

    /// HTTP-01 through an Ingress (cert-manager's `solvers[].http01.ingress`).
    public struct HTTP01Solver: Sendable, Equatable {
        public var ingressClass: String?
        public var ingressClassName: String?
        public var serviceType: String?
        /// Names this solver is for (`selector.dnsNames`); empty means all.
        public var dnsNames: [String]

        public init(ingressClass: String?, ingressClassName: String?, serviceType: String?, dnsNames: [String]) {
            self.ingressClass = ingressClass
            self.ingressClassName = ingressClassName
            self.serviceType = serviceType
            self.dnsNames = dnsNames
        }
    }

    public var name: String
    public var kind: String
    /// Where it was read from, for messages.
    public var source: String
    public var server: String
    public var email: String?
    /// The Secret that holds the account key (`privateKeySecretRef.name`).
    public var accountKeySecret: String
    public var externalAccountBinding: ExternalAccountBindingReference?
    public var preferredChain: String?
    public var profile: String?
    /// PEM of the CAs that sign the ACME server's TLS certificate (from base64 `caBundle`).
    public var caBundle: [UInt8]?
    public var solvers: [HTTP01Solver]

    public var tls: TLSOptions { TLSOptions(caBundle: caBundle) }

    /// The HTTP-01 solver for `names`: the first whose selector covers them, else the first without one.
    public func solver(for names: [String]) -> HTTP01Solver? {
        solvers.first { !$0.dnsNames.isEmpty && Set(names).isSubset(of: $0.dnsNames) }
            ?? solvers.first { $0.dnsNames.isEmpty }
    }
}

extension Issuer {
    /// Checks what can be checked before any request: the server URL is HTTPS (or loopback
    /// HTTP, for a local test CA), names, references.
    func validate() throws {
        guard let url = URL(string: server), let scheme = url.scheme?.lowercased(), let host = url.host else {
            throw CertctlError(
                .invalidIssuer,
                object: source,
                "spec.acme.server \"\(server)\" is not a URL; set it to the CA's directory URL (https://...)"
            )
        }
        switch scheme {
        case "https":
            break
        case "http" where Self.isLoopback(host):
            break
        case "http":
            throw CertctlError(
                .invalidIssuer,
                object: source,
                "spec.acme.server \"\(server)\" uses plain http off loopback; ACME needs https (RFC 8555 §6.1)"
            )
        default:
            throw CertctlError(.invalidIssuer, object: source, "spec.acme.server \"\(server)\" must be an https:// URL")
        }
        if let caBundle {
            guard (try? CertificateChain(pem: String(decoding: caBundle, as: UTF8.self))) != nil else {
                throw CertctlError(
                    .invalidIssuer,
                    object: source,
                    "spec.acme.caBundle is not base64 of PEM certificates; encode the CA's PEM with base64 -w0"
                )
            }
        }
    }

    static func isLoopback(_ host: String) -> Bool {
        let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if bare == "localhost" || bare == "::1" { return true }
        if let address = IPAddress(bare), address.bytes.count == 4 { return address.bytes[0] == 127 }
        return false
    }
}
