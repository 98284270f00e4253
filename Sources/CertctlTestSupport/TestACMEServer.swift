public import CertctlCore
import Certificates
public import Foundation
import Logging
public import Transport

/// A small ACME server written to the RFC text (RFC 8555, RFC 9773, profiles) for what Debian's
/// Pebble 2.4.0 lacks: `renewalInfo` with Retry-After, `replaces` and `alreadyReplaced`, profiles
/// and `invalidProfile`, `processing` orders with Retry-After, `rateLimited` with Retry-After.
///
/// It checks every JWS as a CA must (signature, `url`, single-use nonces, `jwk` xor `kid`) and
/// validates HTTP-01 for real by fetching the token from `validationPort` on 127.0.0.1.
/// Plain HTTP on loopback, which certctl accepts for a local CA.
public final class TestACMEServer: Sendable {
    public struct Behaviour: Sendable {
        /// `meta.profiles`; empty: no profiles advertised.
        public var profiles: [String: String] = ["classic": "the default", "shortlived": "6-day certificates"]
        /// Certificate lifetime per profile (the default profile is "").
        public var lifetimes: [String: TimeInterval] = [
            "": 90 * 86_400, "classic": 90 * 86_400, "shortlived": 160 * 3600,
        ]
        public var offersRenewalInfo = true
        /// `meta.caaIdentities` (RFC 8555 §7.1.1), the names CAA records may give for this CA;
        /// empty: none listed, as Pebble lists none.
        public var caaIdentities: [String] = []
        /// The next this-many newOrder requests answer 429 `rateLimited` with Retry-After.
        public var rateLimitedOrders = 0
        /// The `Retry-After` header's text: delta-seconds, an HTTP-date, or anything a CA may send.
        public var rateLimitRetryAfter = "3600"
        /// Limits kept as Let's Encrypt keeps them (token buckets; see `TestACMEState+RateLimits`):
        /// new orders per account, certificates per registered domain and per exact set of names,
        /// `replaces` exempt or not; nil: none. Checked after `rateLimitedOrders`.
        public var rateLimits: RateLimits?
        /// The time the limits count at: a test's clock (`{ clock.date }`); the wall clock by default.
        public var now: @Sendable () -> Date = { Date() }
        /// Polls that answer `processing` after finalize, each with `Retry-After: orderRetryAfter`.
        public var processingPolls = 0
        public var orderRetryAfter = "2"
        /// Order polls that still answer `pending` after every authorization is valid (finalize
        /// meanwhile answers 403 `orderNotReady`).
        public var pendingPollsAfterAuthorization = 0
        /// Certificate IDs for which `replaces` answers 409 `alreadyReplaced`.
        public var alreadyReplaced: Set<String> = []
        /// The suggested window for a certificate, from its validity; default: the last third.
        public var renewalWindow: @Sendable (_ notBefore: Date, _ notAfter: Date) -> (Date, Date) = {
            notBefore, notAfter in
            let lifetime = notAfter.timeIntervalSince(notBefore)
            return (notBefore.addingTimeInterval(lifetime * 2 / 3), notBefore.addingTimeInterval(lifetime * 5 / 6))
        }
        public var renewalInfoRetryAfter = "21600"
        public var explanationURL: String?
        /// dns-persist-01 (draft-ietf-acme-dns-persist): the issuer domain names offered, and the
        /// DNS server (`host:port`) the CA reads `_validation-persist` records from; nil: not offered.
        public var dnsPersist: (issuerDomainNames: [String], dnsServer: String)?
        /// Adds a challenge of a type no client knows, in a shape of its own, to every authorization.
        public var unknownChallenge = false
        /// newOrder for any of these names is not answered until ``releaseStalledOrders()``
        /// (a CA that hangs for one certificate while it serves the others).
        public var stalledNames: Set<String> = []

        public init() {}
    }

    /// What the server saw of one newOrder.
    public struct OrderRecord: Sendable, Equatable {
        public var identifiers: [String]
        public var profile: String?
        public var replaces: String?
        public var status: Int
    }

    let state: TestACMEState
    private let server: HTTPServer
    public let directoryURL: String
    public let authority: TestCertificateAuthority

    public static func start(validationPort: Int, behaviour: Behaviour = Behaviour()) async throws -> TestACMEServer {
        let authority = try TestCertificateAuthority(name: "certctl test ACME CA")
        // A port free when chosen can be taken by another process before it is bound: choose again.
        var attempt = 0
        while true {
            let port = freeLoopbackPort()
            let base = "http://127.0.0.1:\(port)"
            let state = TestACMEState(
                base: base, validationPort: validationPort, behaviour: behaviour, authority: authority)
            do {
                let server = try await HTTPServer.start(host: "127.0.0.1", port: port) { request in
                    await state.handle(request)
                }
                return TestACMEServer(state: state, server: server, directoryURL: base + "/dir", authority: authority)
            } catch let error as ListenError where attempt < 4 && error.addressInUse {
                attempt += 1
            }
        }
    }

    private init(state: TestACMEState, server: HTTPServer, directoryURL: String, authority: TestCertificateAuthority) {
        self.state = state
        self.server = server
        self.directoryURL = directoryURL
        self.authority = authority
    }

    public func stop() async {
        await server.stop()
    }

    public func update(_ change: @Sendable (inout Behaviour) -> Void) async {
        await state.update(change)
    }

    public var orders: [OrderRecord] {
        get async { await state.orderRecords }
    }

    /// The certificate IDs renewalInfo was asked for, in order.
    public var renewalInfoQueries: [String] {
        get async { await state.renewalInfoQueries }
    }

    /// Every request as "METHOD /path".
    public var requests: [String] {
        get async { await state.requestLog }
    }

    public var tls: TLSOptions { TLSOptions() }

    /// Forgets every account, as a CA that was reset.
    public func forgetAccounts() async {
        await state.forgetAccounts()
    }

    /// Answers the stalled newOrders, and every later one.
    public func releaseStalledOrders() async {
        await state.releaseStalled()
    }

    /// newOrders waiting to be answered.
    public var stalledOrders: Int {
        get async { await state.stalled.count }
    }

    /// How many accounts newAccount created.
    public var accountsCreated: Int {
        get async { await state.accountsCreated }
    }
}
