import ACME
import Basics

/// Told of each issuance as it goes, so that the operator sees it then and not when the run
/// ends (`certctl run` prints a line per certificate as it finishes, and what one waits for).
public protocol RunProgress: Sendable {
    /// Work on `id` (`namespace/secret`, or `issuer NAME` for its account) began.
    func began(_ id: String)
    /// It now waits for `what` ("the CA to answer newOrder").
    func waiting(_ id: String, for what: String)
    /// Work on `id` ended.
    func ended(_ id: String)
    /// A certificate finished: issued, failed.
    func finished(_ report: CertificateReport)
    /// `certctl renew`'s mark was stored (or needed none), before anything is issued.
    func marked(_ mark: RenewalMark)
}

extension RunProgress {
    public func marked(_ mark: RenewalMark) {}
}

extension RunProgress {
    /// Runs `body` with what it waits for reported as `id`'s.
    func tracking<T: Sendable>(_ id: String, _ body: () async throws -> T) async rethrows -> T {
        began(id)
        defer { ended(id) }
        let report: @Sendable (String) -> Void = { [self] what in waiting(id, for: what) }
        return try await WaitReport.$waitingFor.withValue(report) { try await body() }
    }
}

extension Optional where Wrapped == any RunProgress {
    /// `body`, tracked when there is a progress report.
    func tracking<T: Sendable>(_ id: String, _ body: () async throws -> T) async rethrows -> T {
        guard let progress = self else { return try await body() }
        return try await progress.tracking(id, body)
    }
}
