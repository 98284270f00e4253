import CertctlCore
import CertctlTestSupport
import Certificates
import Foundation
import Testing

@Suite("The CronJob's schedule against the certificates' lifetimes")
struct ScheduleTests {
    static let start = Date(timeIntervalSince1970: 1_796_256_000)  // 2026-12-01T00:00:00Z, a Tuesday

    @Test(
        "the longest time between two runs, as Kubernetes reads a schedule",
        arguments: [
            ("*/15 * * * *", 15 * 60.0), ("0 * * * *", 3600.0), ("@hourly", 3600.0), ("0 */6 * * *", 6 * 3600.0),
            ("30 2 * * *", 86_400.0), ("@daily", 86_400.0), ("0 0 * * 0", 7 * 86_400.0),
            ("0 0 * * SUN", 7 * 86_400.0), ("0 0 * * 7", 7 * 86_400.0), ("0 9 * * MON-FRI", 3 * 86_400.0),
            ("0 0 1,15 * *", 17 * 86_400.0), ("@monthly", 31 * 86_400.0),
            // A yearly run's longest gap spans 2028-02-29.
            ("CRON_TZ=Europe/Berlin 0 3 * * *", 86_400.0), ("0 0 1 JAN *", 366 * 86_400.0),
            // Both day fields restricted: either day runs (the 1st, or a Monday).
            ("0 0 1 * 1", 7 * 86_400.0), ("5-10/5 * * * *", 55 * 60.0),
        ] as [(String, Double)])
    func longest(schedule: String, seconds: Double) throws {
        #expect(try CronSchedule(parsing: schedule).longestInterval(from: Self.start) == seconds, "\(schedule)")
    }

    @Test(
        "a schedule that is not one is refused, naming it",
        arguments: ["* * * *", "61 * * * *", "*/0 * * * *", "0 0 * * FUNDAY", "5-1 * * * *", "@fortnightly"])
    func refused(schedule: String) {
        #expect(throws: CertctlError.self) { try CronSchedule(parsing: schedule) }
        do {
            _ = try CronSchedule(parsing: schedule)
        } catch let error as CertctlError {
            #expect(error.object == "schedule \"\(schedule)\"", "\(error)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test("February 30th never comes")
    func never() throws {
        #expect(try CronSchedule(parsing: "0 0 30 2 *").longestInterval(from: Self.start) == nil)
    }

    /// An inventory with one certificate of `days` days, issued now.
    static func inventory(days: Double) throws -> Inventory {
        let authority = try TestCertificateAuthority()
        let key = try PrivateKey(generating: .ecdsaP256)
        let pem = try authority.issuePEM(
            for: key, names: ["hub.mybinder.org"], notBefore: start, notAfter: start.addingTimeInterval(days * 86_400))
        let secret = tlsSecret(
            "prod", "tls-hub", data: ["tls.crt": Data(pem.utf8), "tls.key": Data(try key.pemRepresentation().utf8)])
        let desired = DesiredCertificate(
            namespace: "prod", secretName: "tls-hub", hosts: ["hub.mybinder.org"], issuer: "local",
            issuerKind: "ClusterIssuer",
            ingresses: ["hub"], ingressClass: nil)
        return Inventory(
            cluster: "t", entries: [Inventory.Entry(desired: desired, current: CurrentCertificate(secret: secret))])
    }

    @Test(
        "too sparse for the shortest renewal window: a warning saying how often to run",
        arguments: [
            // 6 days: renewed at half its life, a 3-day window, a run at least every 24 hours.
            (6.0, "*/15 * * * *", Preflight.Result.Outcome.ok, "runs at most 15m apart: at least 288 runs in"),
            (6.0, "0 */12 * * *", .ok, "runs at most 12h 0m apart: at least 6 runs in"),
            (
                6.0, "0 0 * * *", .ok,
                "runs at most 1d 0h apart: at least 3 runs in the shortest renewal window, 3d 0h (prod/tls-hub: a 6d 0h certificate)"
            ),
            (
                6.0, "0 0 */2 * *", .warning,
                "runs up to 2d 0h apart, too sparse for the shortest renewal window, 3d 0h (prod/tls-hub: a 6d 0h certificate): a run at least every 1d 0h leaves two more tries"
            ),
            (90.0, "@weekly", .ok, "runs at most 7d 0h apart: at least 4 runs in"),
            (90.0, "@monthly", .warning, "runs up to 31d 0h apart, too sparse for the shortest renewal window, 30d 0h"),
        ])
    func againstLifetime(days: Double, schedule: String, outcome: Preflight.Result.Outcome, words: String) throws {
        let result = Preflight.scheduleResult(
            try CronSchedule(parsing: schedule), inventory: try Self.inventory(days: days), now: Self.start)
        #expect(result.outcome == outcome, "\(result.message)")
        #expect(result.message.contains(words), "\(result.message)")
    }

    @Test("certctl check --schedule says it, through the binary; a schedule that is not one is refused with exit 64")
    func binary() async throws {
        let project = try LocalProject.make(server: "https://127.0.0.1:1/dir", sites: ["hub"])
        _ = try await project.seedCertificate("hub", startDays: 0, days: 6, authority: try TestCertificateAuthority())
        let weekly = try await CertctlProcess.run(
            ["check", "--schedule", "@weekly", "--resolver", "127.0.0.1:1"] + LocalProject.flags,
            directory: project.directory)
        #expect(
            weekly.standardOutput.contains(
                "warn  schedule     runs up to 7d 0h apart, too sparse for the shortest renewal window, 3d 0h (prod/tls-hub: a 6d 0h certificate): a run at least every 1d 0h"
            ), "\(weekly.standardOutput)")
        let wrong = try await CertctlProcess.run(
            ["check", "--schedule", "every day"] + LocalProject.flags, directory: project.directory)
        #expect(wrong.status == 64, "\(wrong.standardError)")
        #expect(wrong.standardError.contains("schedule \"every day\""), "\(wrong.standardError)")
    }
}
