import Basics
import CCurlShim

/// Connects to a host over TLS with SNI and returns the certificate it serves, whatever it is:
/// verification is off on purpose, because the point is to see an old or default certificate.
public enum TLSProbe {
    /// - Parameter address: connect there instead of resolving `host` (tests, or one ingress IP).
    public static func servedCertificate(
        host: String, port: Int = 443, address: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> String {
        let url = "https://\(host):\(port)/"
        let transfer = try CurlTransfer(url: url, protocols: "https")
        let milliseconds = Bounded.milliseconds(Bounded.seconds(timeout))
        try transfer.set(CURLOPT_TIMEOUT_MS, milliseconds)
        try transfer.set(CURLOPT_CONNECTTIMEOUT_MS, milliseconds)
        try transfer.set(CURLOPT_NOBODY, 1)
        try transfer.set(CURLOPT_CERTINFO, 1)
        try transfer.set(CURLOPT_SSL_VERIFYPEER, 0)
        try transfer.set(CURLOPT_SSL_VERIFYHOST, 0)
        if let address {
            try transfer.setConnectTo(["\(host):\(port):\(address):\(port)"])
        }
        transfer.collectsPeerCertificate = true
        let response = try await CurlTransport.perform(transfer)
        guard let pem = response.peerCertificatePEM else {
            throw HTTPError(.tls, url: url, reason: "the server presented no certificate")
        }
        return pem
    }
}
