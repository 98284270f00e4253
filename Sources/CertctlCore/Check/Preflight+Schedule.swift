import Basics
import Certificates
public import Foundation

extension Preflight {
    /// How many runs the shortest renewal window should hold: after a failed one, two more
    /// before the certificate expires.
    static let runsPerWindow = 3.0

    /// The schedule against the shortest renewal window of the certificates managed (from the
    /// renewal time, 2/3 of the lifetime or 1/2 under 10 days, to expiry): a 6-day certificate's
    /// window is 3 days, so a run at least every 24 hours; a 90-day one's 30 days.
    public static func scheduleResult(_ schedule: CronSchedule, inventory: Inventory, now: Date) -> Result {
        guard let interval = schedule.longestInterval(from: now) else {
            return Result(.failed, "schedule", "the schedule never runs: no certificate would be renewed")
        }
        let windows = inventory.entries.compactMap { entry -> (String, TimeInterval, TimeInterval)? in
            guard let summary = entry.current?.summary else { return nil }
            let renewal = RenewalPlan.defaultRenewalTime(notBefore: summary.notBefore, notAfter: summary.notAfter)
            return (entry.desired.id, summary.lifetime, summary.notAfter.timeIntervalSince(renewal))
        }
        let every = StatusTable.duration(interval)
        guard let shortest = windows.min(by: { $0.2 < $1.2 }) else {
            return Result(.ok, "schedule", "runs at most \(every) apart; no certificate yet to compare it with")
        }
        let (id, lifetime, window) = shortest
        let needed = window / Self.runsPerWindow
        let which =
            "the shortest renewal window, \(StatusTable.duration(window)) (\(id): a \(StatusTable.duration(lifetime)) certificate)"
        guard interval <= needed else {
            return Result(
                .warning, "schedule",
                "runs up to \(every) apart, too sparse for \(which): a run at least every \(StatusTable.duration(needed)) leaves two more tries after a failed one; set the CronJob's schedule to that or more often"
            )
        }
        return Result(
            .ok, "schedule",
            "runs at most \(every) apart: at least \(Bounded.int(window / max(interval, 60))) runs in \(which)")
    }
}
