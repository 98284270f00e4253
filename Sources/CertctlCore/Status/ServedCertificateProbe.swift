import Certificates
import Foundation
import Transport

/// `certctl status --probe`: connects to every host (SNI) and compares the certificate it serves
/// with the Secret's. It catches an ingress still serving an old or default certificate.
public enum ServedCertificateProbe {
    public static func check(_ statuses: [CertificateStatus], port: Int, address: String?, concurrency: Int = 16) async
        -> [CertificateStatus]
    {
        await withTaskGroup(of: (Int, String?).self) { group in
            var pending = Array(statuses.enumerated())[...]
            func startNext() {
                guard let (index, status) = pending.popFirst() else { return }
                group.addTask { (index, await mismatch(status, port: port, address: address)) }
            }
            for _ in 0..<concurrency { startNext() }
            var result = statuses
            while let (index, problem) = await group.next() {
                if let problem {
                    result[index].problem = problem
                    if result[index].state.severity < 2 { result[index].state = .invalid }
                }
                startNext()
            }
            return result
        }
    }

    /// A sentence when a host serves something else than the Secret's certificate, else nil.
    static func mismatch(_ status: CertificateStatus, port: Int, address: String?) async -> String? {
        guard let expected = status.summary?.serialHex else { return nil }
        for host in status.desired.hosts {
            do {
                let pem = try await TLSProbe.servedCertificate(host: host, port: port, address: address)
                let served = CertificateSummary(try CertificateChain(pem: pem).leaf)
                if served.serialHex != expected {
                    let issuer = served.issuerCommonName.map { " from \($0)" } ?? ""
                    return "\(host) serves another certificate (serial \(served.serialHex)\(issuer)), not the Secret's"
                }
            } catch {
                return "cannot probe \(host):\(port): \(error)"
            }
        }
        return nil
    }
}
