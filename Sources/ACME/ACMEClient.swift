import Basics
public import Foundation
public import Logging
public import Transport

/// One record per HTTP exchange with the CA, for metrics and request counting.
public struct ACMERequestRecord: Sendable {
    public var action: String
    public var method: String
    public var status: Int?
    public var duration: Duration
}

/// An RFC 8555 client for one CA directory and one account key.
///
/// Behaviours (RFC 8555 §6-7, RFC 9773): every endpoint read from the directory; a nonce pool fed by
/// every response; `badNonce` retried with a fresh signature; exact `url` headers; POST-as-GET for
/// every read; Retry-After honoured in polling, capped by a deadline.
public actor ACMEClient {
    public struct Configuration: Sendable {
        public var directoryURL: String
        public var tls: TLSOptions
        public var requestTimeout: Duration
        /// Longest total wait for one order (polling and Retry-After included).
        public var orderDeadline: Duration
        public var badNonceRetries: Int
        public var transportRetries: Int
        /// How long a signed request waits for a nonce from an answer in flight before it fetches
        /// its own (``NoncePool``).
        public var noncePatience: Duration = .seconds(2)

        public init(
            directoryURL: String,
            tls: TLSOptions = TLSOptions(),
            requestTimeout: Duration = .seconds(30),
            orderDeadline: Duration = .seconds(300),
            badNonceRetries: Int = 15,
            transportRetries: Int = 2
        ) {
            self.directoryURL = directoryURL
            self.tls = tls
            self.requestTimeout = requestTimeout
            self.orderDeadline = orderDeadline
            self.badNonceRetries = badNonceRetries
            self.transportRetries = transportRetries
        }
    }

    public let configuration: Configuration
    let transport: any HTTPTransport
    let clock: any Clock<Duration>
    /// Starts measuring time on `clock` (made where its concrete type is known).
    let startStopwatch: @Sendable () -> @Sendable () -> Duration
    let now: @Sendable () -> Date
    let logger: Logger
    let observer: (@Sendable (ACMERequestRecord) -> Void)?
    let nonces: NoncePool
    private var cachedDirectory: ACMEDirectory?
    public private(set) var accountKey: AccountKey
    /// The account URL (`kid`), known after registration or lookup.
    public private(set) var accountURL: String?
    /// Registers again when the CA no longer knows the stored account (`accountDoesNotExist`):
    /// a CA reset (Pebble restarts, staging wipes) must not stop renewals.
    private var accountRecovery: (@Sendable (ACMEClient) async throws -> Void)?
    /// The re-registration under way: concurrent requests that found the account gone wait for
    /// it instead of registering again each.
    private var recovering: Task<Void, any Error>?

    /// Sets what to do when the CA says the account does not exist; it must register again.
    public func setAccountRecovery(_ recovery: @escaping @Sendable (ACMEClient) async throws -> Void) {
        accountRecovery = recovery
    }

    public init(
        configuration: Configuration,
        accountKey: AccountKey,
        accountURL: String? = nil,
        transport: any HTTPTransport,
        clock: some Clock<Duration> = ContinuousClock(),
        now: @escaping @Sendable () -> Date = { Date() },
        logger: Logger,
        observer: (@Sendable (ACMERequestRecord) -> Void)? = nil
    ) {
        self.configuration = configuration
        nonces = NoncePool(patience: configuration.noncePatience)
        self.accountKey = accountKey
        self.accountURL = accountURL
        self.transport = transport
        self.clock = clock
        self.startStopwatch = { ACMEClient.stopwatch(clock) }
        self.now = now
        self.logger = logger
        self.observer = observer
    }

    // MARK: Directory

    /// The directory, fetched once.
    public func directory() async throws -> ACMEDirectory {
        if let cachedDirectory { return cachedDirectory }
        let response = try await get(configuration.directoryURL, action: "directory")
        let directory = try decode(ACMEDirectory.self, from: response, url: configuration.directoryURL)
        cachedDirectory = directory
        return directory
    }

    // MARK: Requests

    /// An unauthenticated GET (directory, renewalInfo).
    func get(_ url: String, action: String) async throws -> HTTPResponse {
        let response = try await send(HTTPRequest(method: .get, url: url), action: action)
        await nonces.add(response.headers["Replay-Nonce"])
        guard response.isSuccess else {
            throw problemError(action: action, url: url, response: response)
        }
        return response
    }

    /// A signed POST; `payload` nil is POST-as-GET. Retries `badNonce` with a new nonce and a new
    /// signature, and a short `503`, never a rate limit.
    func post(
        _ url: String,
        payload: [UInt8]?,
        action: String,
        key: AccountKey? = nil,
        useJWK: Bool = false,
        accept: String? = nil
    ) async throws -> HTTPResponse {
        let signingKey = key ?? accountKey
        var badNonces = 0
        var unavailable = 0
        var recovered = false
        while true {
            let identification: JWS.KeyIdentification
            let signedAs = accountURL
            if useJWK {
                identification = .jwk
            } else {
                guard let accountURL else {
                    throw ACMEError(
                        .invalidConfiguration, "no ACME account is registered yet; register before \(action)")
                }
                identification = .kid(accountURL)
            }
            let response = try await signedPost(
                url, payload: payload, action: action, key: signingKey, identification: identification, accept: accept)
            if response.isSuccess { return response }
            let error = problemError(action: action, url: url, response: response)
            if error.problem?.kind == .accountDoesNotExist, !useJWK, !recovered, let accountRecovery {
                recovered = true
                if accountURL != signedAs { continue }  // another request registered it again meanwhile
                if let recovering {
                    try await recovering.value
                    continue
                }
                logger.notice(
                    "the CA does not know the stored account; registering the key again",
                    metadata: ["action": "\(action)"])
                let task = Task { try await accountRecovery(self) }
                recovering = task
                defer { recovering = nil }
                try await task.value
                continue
            }
            if error.problem?.kind == .badNonce, badNonces < configuration.badNonceRetries {
                badNonces += 1
                logger.debug(
                    "badNonce, retrying with a fresh nonce",
                    metadata: ["action": "\(action)", "attempt": "\(badNonces)"])
                try await clock.sleep(for: .milliseconds(min(10 * badNonces, 200)))
                continue
            }
            if response.status == 503, unavailable < configuration.transportRetries {
                let wait = error.retryAfter.map { $0.timeIntervalSince(now()) } ?? Double(1 << unavailable)
                if wait <= 10 {
                    unavailable += 1
                    try await clock.sleep(for: Bounded.duration(seconds: max(wait, 0.2)))
                    continue
                }
            }
            throw error
        }
    }

    /// One signed POST with the next nonce; the nonce it answers with goes back to the pool.
    private func signedPost(
        _ url: String, payload: [UInt8]?, action: String, key: AccountKey, identification: JWS.KeyIdentification,
        accept: String?
    ) async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            let nonce = try await nextNonce()
            let body = try JWS.sign(payload: payload, url: url, nonce: nonce, key: key, identification: identification)
            var request = HTTPRequest(
                method: .post, url: url, headers: ["Content-Type": "application/jose+json"], body: body)
            if let accept { request.headers.add("Accept", accept) }
            response = try await send(request, action: action)
        } catch {
            await nonces.requestFinished(nonce: nil)
            throw error
        }
        await nonces.requestFinished(nonce: response.headers["Replay-Nonce"])
        return response
    }

    private func nextNonce() async throws -> String {
        if let nonce = await nonces.take() { return nonce }
        let directory = try await directory()
        let response = try await send(HTTPRequest(method: .head, url: directory.newNonce), action: "newNonce")
        guard let nonce = response.headers["Replay-Nonce"], !nonce.isEmpty else {
            throw ACMEError(
                .invalidResponse,
                "the CA's newNonce answered HTTP \(response.status) without a Replay-Nonce",
                url: directory.newNonce
            )
        }
        return nonce
    }

    /// Sends one request, retrying a failed connection a few times, and records it.
    private func send(_ template: HTTPRequest, action: String) async throws -> HTTPResponse {
        var request = template
        request.timeout = configuration.requestTimeout
        request.tls = configuration.tls
        var attempt = 0
        while true {
            let started = ContinuousClock.now
            WaitReport.waitingFor?("the CA to answer \(action)")
            do {
                let response = try await transport.send(request)
                observer?(
                    ACMERequestRecord(
                        action: action, method: request.method.rawValue, status: response.status,
                        duration: .now - started))
                logger.trace("ACME request", metadata: ["action": "\(action)", "status": "\(response.status)"])
                return response
            } catch let error as HTTPError {
                observer?(
                    ACMERequestRecord(
                        action: action, method: request.method.rawValue, status: nil, duration: .now - started))
                guard error.code != .cancelled, error.code != .invalidRequest,
                    attempt < configuration.transportRetries
                else {
                    // A CA that answers too slowly is a timeout; one that cannot be reached, transport.
                    throw ACMEError(
                        error.code == .timeout ? .timeout : .transport,
                        "cannot reach the ACME server for \(action): \(error)", url: request.url)
                }
                attempt += 1
                logger.debug("ACME request failed, retrying", metadata: ["action": "\(action)", "error": "\(error)"])
                try await clock.sleep(for: .seconds(attempt))
            }
        }
    }

    // MARK: Decoding

    /// An ACME resource from a response body (RFC 3339 dates).
    public static func decodeResource<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamp.rfc3339(text) else {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: decoder.codingPath, debugDescription: "not an RFC 3339 date: \(text)"))
            }
            return date
        }
        return try decoder.decode(type, from: Data(body))
    }

    func decode<T: Decodable>(_ type: T.Type, from response: HTTPResponse, url: String) throws -> T {
        do {
            return try Self.decodeResource(type, from: response.body)
        } catch {
            throw ACMEError(
                .invalidResponse,
                "the CA's answer is not a valid \(T.self) (HTTP \(response.status)): \(error)",
                url: url
            )
        }
    }

    func problemError(action: String, url: String, response: HTTPResponse) -> ACMEError {
        let retryAfter = parseRetryAfter(response.headers["Retry-After"], now: now())
        let problem = try? Self.decodeResource(ACMEProblem.self, from: response.body)
        let fallback = ACMEProblem(
            type: "about:blank",
            detail: String(decoding: response.body.prefix(200), as: UTF8.self),
            status: response.status
        )
        return ACMEError(
            .problem,
            "the CA refused \(action) (HTTP \(response.status))",
            problem: problem ?? fallback,
            url: url,
            retryAfter: retryAfter
        )
    }

    func encode(_ object: [String: Any]) throws -> [UInt8] {
        try JSONText.data(object)
    }

    func setAccount(url: String?, key: AccountKey) {
        accountURL = url
        accountKey = key
    }

    /// Waits `duration`, or less when the deadline comes first; throws `timeout` once it has passed.
    func wait(_ duration: Duration, deadline: Deadline, what: String, url: String) async throws {
        let remaining = deadline.remaining
        guard remaining > .zero else {
            throw ACMEError(.timeout, "gave up waiting for \(what) after \(configuration.orderDeadline)", url: url)
        }
        WaitReport.waitingFor?("the CA to process the \(what) (polling)")
        try await clock.sleep(for: min(duration, remaining))
    }

    /// A deadline `orderDeadline` from now on this client's clock.
    func makeDeadline() -> Deadline {
        Deadline(limit: configuration.orderDeadline, elapsed: startStopwatch())
    }

    private static func stopwatch<C: Clock<Duration>>(_ clock: C) -> @Sendable () -> Duration {
        let start = clock.now
        return { start.duration(to: clock.now) }
    }
}

/// The time left for one order, on the client's clock (shared by its concurrent authorizations).
struct Deadline: Sendable {
    let limit: Duration
    let elapsed: @Sendable () -> Duration

    var remaining: Duration { limit - elapsed() }
}
