public import Foundation
public import Logging
import Synchronization
public import Transport

/// `certctl serve`: an always-on exporter for clusters that scrape pods. `/metrics` and `/` are
/// computed from the Secrets, cached for `cacheFor` so that scrapes stay cheap; `/healthz`.
public final class Exporter: Sendable {
    public typealias Load = @Sendable () async throws -> Overview
    public typealias LastSuccess = @Sendable () async -> Date?

    /// One reading of the Secrets, rendered once for every scrape until it is refreshed.
    private struct Snapshot {
        var overview: Overview
        var read: Date
        /// The exposition's bytes, made once: at 10,000 certificates it is 8.5 MB, and turning
        /// the text into bytes per scrape took a cached scrape 40 ms.
        var metrics: [UInt8]
        var page: String?
    }

    private let load: Load
    private let lastSuccess: LastSuccess
    private let cacheFor: TimeInterval
    private let snapshot = Mutex<Snapshot?>(nil)
    /// The reading under way: concurrent scrapes of an expired cache wait for the same one.
    private let refresh = Mutex<(task: Task<Snapshot, any Error>?, waiters: Int, started: Int)>((nil, 0, 0))
    private let logger: Logger

    public init(
        cacheFor: TimeInterval = 30, logger: Logger, lastSuccess: @escaping LastSuccess = { nil }, load: @escaping Load
    ) {
        self.load = load
        self.lastSuccess = lastSuccess
        self.cacheFor = cacheFor
        self.logger = logger
    }

    /// Serves on `address` until the server is stopped.
    public func start(_ address: ListenAddress) async throws -> HTTPServer {
        try await HTTPServer.start(host: address.host, port: address.port) { [self] request in
            await self.handle(request)
        }
    }

    public func handle(_ request: ServerRequest) async -> ServerResponse {
        guard request.method == "GET" || request.method == "HEAD" else {
            return ServerResponse(status: 405, contentType: "text/plain", text: "only GET\n")
        }
        switch request.path {
        case "/healthz":
            return ServerResponse(status: 200, contentType: "text/plain", text: "ok\n")
        case "/metrics", "/":
            do {
                let current = try await snapshotNow()
                if request.path == "/metrics" {
                    return ServerResponse(
                        status: 200, headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8"],
                        body: current.metrics)
                }
                let page = current.page ?? StatusPage.render(current.overview, now: Date(), refreshed: current.read)
                snapshot.withLock { if $0?.read == current.read { $0?.page = page } }
                return ServerResponse(status: 200, contentType: "text/html; charset=utf-8", text: page)
            } catch {
                logger.error("cannot read the certificates", metadata: ["error": "\(error)"])
                return ServerResponse(
                    status: 503, contentType: "text/plain", text: "cannot read the certificates: \(error)\n")
            }
        default:
            return ServerResponse(
                status: 404, contentType: "text/plain", text: "not found; try /, /metrics or /healthz\n")
        }
    }

    /// Starts the first reading now, so that the first scrape finds it under way or done
    /// instead of starting it (at 10,000 certificates a reading takes about a second).
    public func startReading() {
        Task { [self] in
            do {
                _ = try await snapshotNow()
            } catch {
                logger.error("cannot read the certificates", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Readings started so far (for tests).
    public var readingsStarted: Int { refresh.withLock { $0.started } }

    /// Scrapes waiting for a reading another scrape started (for tests).
    public var scrapesWaiting: Int { refresh.withLock { $0.waiters } }

    private func snapshotNow() async throws -> Snapshot {
        if let cached = snapshot.withLock({ $0 }), Date().timeIntervalSince(cached.read) < cacheFor {
            return cached
        }
        let (task, shared) = refresh.withLock { state -> (Task<Snapshot, any Error>, Bool) in
            if let running = state.task {
                state.waiters += 1
                return (running, true)
            }
            let task = Task { [self] in
                let fresh = try await load()
                let metrics = CertificateMetrics.renderBytes(
                    fresh.certificates, problems: fresh.problems.map(\.problem), lastSuccess: await lastSuccess())
                return Snapshot(overview: fresh, read: Date(), metrics: metrics, page: nil)
            }
            state.task = task
            state.started += 1
            return (task, false)
        }
        defer {
            refresh.withLock { state in
                if shared { state.waiters -= 1 } else { state.task = nil }
            }
        }
        let current = try await task.value
        if !shared { snapshot.withLock { $0 = current } }
        return current
    }
}
