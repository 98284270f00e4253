import CertctlCore
import Synchronization

/// `certctl run`'s lines as they happen: a certificate's line when it finishes, and what one
/// waits for once the wait lasts 5 s (again at 15 s, 45 s, ...), so that a CA that does not
/// answer is named while the run waits, not after.
final class ProgressPrinter: RunProgress {
    private struct Work {
        var since: ContinuousClock.Instant
        var what: String?
        var nextNotice: Duration
    }

    private let work = Mutex<[String: Work]>([:])
    private let printed = Mutex<Set<String>>([])
    private let firstNotice: Duration

    init(firstNotice: Duration = .seconds(5)) {
        self.firstNotice = firstNotice
    }

    /// The certificates whose line was printed.
    var finishedIDs: Set<String> { printed.withLock { $0 } }

    func began(_ id: String) {
        work.withLock { $0[id] = Work(since: .now, what: nil, nextNotice: firstNotice) }
    }

    func waiting(_ id: String, for what: String) {
        work.withLock { work in
            // The same wait again (a retry: the same words before its first `;`) keeps its start,
            // so that the notice counts the whole wait, and says the latest of it.
            if let known = work[id]?.what, Self.subject(known) == Self.subject(what) {
                work[id]?.what = what
                return
            }
            work[id] = Work(since: .now, what: what, nextNotice: firstNotice)
        }
    }

    private static func subject(_ wait: String) -> Substring {
        wait.prefix { $0 != ";" }
    }

    func ended(_ id: String) {
        _ = work.withLock { $0.removeValue(forKey: id) }
    }

    /// `certctl renew`'s mark lines, printed as each is stored (before what is issued).
    func marked(_ mark: RenewalMark) {
        print(RunSummary.line(mark), terminator: "")
    }

    func finished(_ report: CertificateReport) {
        let (word, detail) = RunSummary.describe(report)
        printed.withLock { _ = $0.insert(report.desired.id) }
        print(RunSummary.line(word, report.desired.id, report.desired.hosts.joined(separator: ","), detail))
    }

    /// Prints the notices of long waits until cancelled.
    func noticeLongWaits() -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let now = ContinuousClock.now
                let due = work.withLock { work -> [(String, Duration, String)] in
                    var due: [(String, Duration, String)] = []
                    for (id, item) in work {
                        guard let what = item.what, now - item.since >= item.nextNotice else { continue }
                        due.append((id, now - item.since, what))
                        work[id]?.nextNotice = item.nextNotice * 3
                    }
                    return due.sorted { $0.0 < $1.0 }
                }
                for (id, waited, what) in due {
                    print(RunSummary.line("waiting", id, "\(waited.components.seconds) s for \(what)"))
                }
            }
        }
    }
}
