import ACME
import Basics
import Certificates
import Crypto
import DNS
import Foundation
import SwiftASN1
import Transport
import X509

/// The server side of ``TestACMEServer``: accounts, orders, nonces, and the RFC's checks.
actor TestACMEState {
    struct Account {
        var jwk: JSONWebKey
        var status = "valid"
        var contact: [String] = []
    }

    struct Order {
        var identifiers: [ACMEIdentifier]
        var status: String
        var authorizations: [Int]
        var profile: String?
        var replaces: String?
        var certificate: Int?
        var processingLeft = 0
        var pendingLeft = 0
        var account: String
        var exemption = LimitExemption.none
    }

    struct Authorization {
        var identifier: ACMEIdentifier
        var status: String
        var token: String
        var challengeStatus: String
        /// For `*.` of the identifier (RFC 8555 §7.1.3): only DNS challenges are offered.
        var wildcard = false
        var error: ACMEProblem?
        var order: Int
    }

    struct Issued {
        var pem: String
        var certificateID: String
        var notBefore: Date
        var notAfter: Date
        /// The account that ordered it and its names, which `replaces` is checked against.
        var account: String
        var names: Set<String>
    }

    let base: String
    let validationPort: Int
    var behaviour: TestACMEServer.Behaviour
    let authority: TestCertificateAuthority
    var nonces = Set<String>()
    var accounts: [String: Account] = [:]
    /// Accounts created by newAccount, ever.
    private(set) var accountsCreated = 0
    var orders: [Int: Order] = [:]
    var authorizations: [Int: Authorization] = [:]
    var certificates: [Int: Issued] = [:]
    private var nextID = 1
    private(set) var orderRecords: [TestACMEServer.OrderRecord] = []
    /// The rate limits' token buckets: each one's theoretical arrival time, by bucket key.
    var buckets: [String: Date] = [:]
    var renewalInfoQueries: [String] = []
    private(set) var requestLog: [String] = []

    init(base: String, validationPort: Int, behaviour: TestACMEServer.Behaviour, authority: TestCertificateAuthority) {
        self.base = base
        self.validationPort = validationPort
        self.behaviour = behaviour
        self.authority = authority
    }

    func update(_ change: @Sendable (inout TestACMEServer.Behaviour) -> Void) {
        change(&behaviour)
    }

    /// The newOrders held back by `stalledNames`, resumed by `releaseStalled`.
    private(set) var stalled: [CheckedContinuation<Void, Never>] = []

    func releaseStalled() {
        behaviour.stalledNames = []
        for waiter in stalled { waiter.resume() }
        stalled = []
    }

    /// A CA reset: every account is gone (`accountDoesNotExist` for their `kid`).
    func forgetAccounts() {
        accounts = [:]
    }

    private func makeID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    private func newNonce() -> String {
        let nonce = Base64URL.encode((0..<16).map { _ in UInt8.random(in: 0...255) })
        nonces.insert(nonce)
        return nonce
    }

    // MARK: Routing

    func handle(_ request: ServerRequest) async -> ServerResponse {
        requestLog.append("\(request.method) \(request.path)")
        var response = await route(request)
        response.headers.set("Replay-Nonce", newNonce())
        response.headers.add("Cache-Control", "no-store")
        return response
    }

    private func route(_ request: ServerRequest) async -> ServerResponse {
        let parts = request.path.split(separator: "/").map(String.init)
        switch (request.method, parts.first ?? "") {
        case ("GET", "dir"):
            return json(directory())
        case ("HEAD", "nonce"), ("GET", "nonce"):
            return ServerResponse(status: request.method == "HEAD" ? 200 : 204)
        case ("GET", "renewal-info") where parts.count == 2:
            return renewalInfo(parts[1])
        case ("POST", _):
            return await post(request, parts: parts)
        default:
            return problem(404, "malformed", "no such resource: \(request.method) \(request.path)")
        }
    }

    private func directory() -> [String: Any] {
        var directory: [String: Any] = [
            "newNonce": base + "/nonce", "newAccount": base + "/new-account", "newOrder": base + "/new-order",
            "revokeCert": base + "/revoke", "keyChange": base + "/key-change",
        ]
        if behaviour.offersRenewalInfo { directory["renewalInfo"] = base + "/renewal-info" }
        var meta: [String: Any] = ["termsOfService": base + "/terms"]
        if !behaviour.profiles.isEmpty { meta["profiles"] = behaviour.profiles }
        if !behaviour.caaIdentities.isEmpty { meta["caaIdentities"] = behaviour.caaIdentities }
        directory["meta"] = meta
        return directory
    }

    // MARK: POST resources

    private func post(_ request: ServerRequest, parts: [String]) async -> ServerResponse {
        let verified: Verified
        switch verify(request) {
        case .failure(let error): return error.response
        case .success(let value): verified = value
        }
        let payload = (try? JSONSerialization.jsonObject(with: Data(verified.payload))) as? [String: Any]
        let id = parts.count > 1 ? Int(parts[1]) : nil
        switch (parts.first ?? "", id) {
        case ("new-account", _):
            return newAccount(verified, payload: payload)
        case ("acct", _):
            return accountResource(request.uri, verified, payload: payload)
        case ("new-order", _):
            guard let account = verified.account else { return problem(400, "malformed", "newOrder needs kid") }
            let names = ((payload?["identifiers"] as? [[String: Any]]) ?? []).compactMap { $0["value"] as? String }
            if !behaviour.stalledNames.isDisjoint(with: names) {
                await withCheckedContinuation { stalled.append($0) }
            }
            return newOrder(payload ?? [:], account: account)
        case ("order", let id?):
            return orderResource(id)
        case ("authz", let id?):
            return authorizationResource(id)
        case ("chall", let id?):
            return await challenge(id, jwk: verified.jwk)
        case ("chall-persist", let id?):
            return await persistChallenge(id, account: verified.account ?? "")
        case ("finalize", let id?):
            return finalize(id, payload: payload ?? [:])
        case ("cert", let id?):
            guard let issued = certificates[id] else { return problem(404, "malformed", "no certificate \(id)") }
            return ServerResponse(
                status: 200, headers: ["Content-Type": "application/pem-certificate-chain"],
                body: Array(issued.pem.utf8))
        default:
            return problem(404, "malformed", "no such resource \(request.path)")
        }
    }

    private func newAccount(_ verified: Verified, payload: [String: Any]?) -> ServerResponse {
        guard verified.account == nil else { return problem(400, "malformed", "newAccount must be signed with jwk") }
        if let existing = accounts.first(where: { $0.value.jwk == verified.jwk }) {
            return json(accountObject(existing.value), status: 200, location: existing.key)
        }
        if payload?["onlyReturnExisting"] as? Bool == true {
            return problem(400, "accountDoesNotExist", "no account for this key")
        }
        let url = base + "/acct/\(makeID())"
        let account = Account(jwk: verified.jwk, contact: payload?["contact"] as? [String] ?? [])
        accounts[url] = account
        accountsCreated += 1
        return json(accountObject(account), status: 201, location: url)
    }

    private func accountResource(_ uri: String, _ verified: Verified, payload: [String: Any]?) -> ServerResponse {
        let url = base + uri
        guard verified.account == url, var account = accounts[url] else {
            return problem(401, "unauthorized", "not your account")
        }
        if let contact = payload?["contact"] as? [String] { account.contact = contact }
        if payload?["status"] as? String == "deactivated" { account.status = "deactivated" }
        accounts[url] = account
        return json(accountObject(account))
    }

    private func accountObject(_ account: Account) -> [String: Any] {
        ["status": account.status, "contact": account.contact, "orders": base + "/orders"]
    }

    private func newOrder(_ payload: [String: Any], account: String) -> ServerResponse {
        let identifiers = ((payload["identifiers"] as? [[String: String]]) ?? []).compactMap {
            object -> ACMEIdentifier? in
            guard let type = object["type"], let value = object["value"] else { return nil }
            return ACMEIdentifier(type: type, value: value)
        }
        let profile = payload["profile"] as? String
        let replaces = payload["replaces"] as? String
        func record(_ status: Int) {
            orderRecords.append(
                .init(identifiers: identifiers.map(\.value), profile: profile, replaces: replaces, status: status))
        }
        guard !identifiers.isEmpty else {
            record(400)
            return problem(400, "malformed", "an order needs identifiers")
        }
        if behaviour.rateLimitedOrders > 0 {
            behaviour.rateLimitedOrders -= 1
            record(429)
            var response = problem(429, "rateLimited", "too many new orders recently")
            response.headers.set("Retry-After", "\(behaviour.rateLimitRetryAfter)")
            return response
        }
        if let profile, behaviour.profiles[profile] == nil {
            record(400)
            return problem(400, "invalidProfile", "profile \"\(profile)\" is not offered")
        }
        if let replaces, let refusal = replacementRefusal(replaces, account: account, identifiers: identifiers) {
            record(refusal.status)
            return refusal
        }
        let exemption = limitExemption(names: identifiers.map(\.value), replaces: replaces)
        if let refusal = rateLimitRefusal(account: account, names: identifiers.map(\.value), exemption: exemption) {
            record(refusal.status)
            return refusal
        }
        record(201)
        let orderID = makeID()
        var authorizationIDs: [Int] = []
        for identifier in identifiers {
            let id = makeID()
            let token = Base64URL.encode((0..<24).map { _ in UInt8.random(in: 0...255) })
            let wildcard = identifier.value.hasPrefix("*.")
            let base = ACMEIdentifier(
                type: identifier.type, value: String(identifier.value.dropFirst(wildcard ? 2 : 0)))
            authorizations[id] = Authorization(
                identifier: base, status: "pending", token: token, challengeStatus: "pending", wildcard: wildcard,
                order: orderID)
            authorizationIDs.append(id)
        }
        orders[orderID] = Order(
            identifiers: identifiers, status: "pending", authorizations: authorizationIDs, profile: profile,
            replaces: replaces, account: account, exemption: exemption)
        return json(orderObject(orderID), status: 201, location: base + "/order/\(orderID)")
    }

    private func orderObject(_ id: Int) -> [String: Any] {
        guard let order = orders[id] else { return [:] }
        var object: [String: Any] = [
            "status": order.status,
            "expires": ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400)),
            "identifiers": order.identifiers.map { ["type": $0.type, "value": $0.value] },
            "authorizations": order.authorizations.map { base + "/authz/\($0)" },
            "finalize": base + "/finalize/\(id)",
        ]
        if let profile = order.profile { object["profile"] = profile }
        if let replaces = order.replaces { object["replaces"] = replaces }
        if let certificate = order.certificate, order.status == "valid" {
            object["certificate"] = base + "/cert/\(certificate)"
        }
        return object
    }

    private func orderResource(_ id: Int) -> ServerResponse {
        guard var order = orders[id] else { return problem(404, "malformed", "no order \(id)") }
        if order.status == "pending", order.pendingLeft > 0 {
            order.pendingLeft -= 1
            if order.pendingLeft == 0 { order.status = "ready" }
            orders[id] = order
        }
        if order.status == "processing" {
            if order.processingLeft > 0 {
                order.processingLeft -= 1
                orders[id] = order
                var response = json(orderObject(id))
                response.headers.set("Retry-After", "\(behaviour.orderRetryAfter)")
                return response
            }
            order.status = "valid"
            orders[id] = order
        }
        return json(orderObject(id))
    }

    private func finalize(_ id: Int, payload: [String: Any]) -> ServerResponse {
        guard var order = orders[id] else { return problem(404, "malformed", "no order \(id)") }
        guard order.status == "ready" else { return problem(403, "orderNotReady", "the order is \(order.status)") }
        guard let encoded = payload["csr"] as? String, let der = Base64URL.decode(encoded),
            let csr = try? CertificateSigningRequest(derEncoded: der)
        else { return problem(400, "badCSR", "the CSR does not parse") }
        guard csr.publicKey.isValidSignature(csr.signature, for: csr) else {
            return problem(400, "badCSR", "the CSR signature does not verify")
        }
        let requested = Set(
            ((try? csr.attributes.extensionRequest?.extensions.subjectAlternativeNames) ?? nil).map { names in
                names.compactMap { name -> String? in
                    if case .dnsName(let value) = name { return value }
                    if case .ipAddress(let bytes) = name { return IPAddress(bytes: Array(bytes.bytes))?.text }
                    return nil
                }
            } ?? [])
        guard requested == Set(order.identifiers.map(\.value)) else {
            return problem(400, "badCSR", "the CSR names \(requested.sorted()) differ from the order's")
        }
        let now = Date()
        let lifetime = behaviour.lifetimes[order.profile ?? ""] ?? 90 * 86_400
        let serial: [UInt8] = [0x80] + (0..<15).map { _ in UInt8.random(in: 0...255) }
        guard
            let leaf = try? authority.issue(
                publicKey: csr.publicKey,
                names: order.identifiers.map(\.value),
                notBefore: now.addingTimeInterval(-60),
                notAfter: now.addingTimeInterval(lifetime - 60),
                serial: serial
            ), let chain = try? CertificateChain(certificates: [leaf, authority.certificate]),
            let pem = try? chain.pemRepresentation(),
            let certificateID = CertificateSummary(leaf).ariCertificateID
        else { return problem(500, "serverInternal", "cannot sign") }
        let certificateNumber = makeID()
        certificates[certificateNumber] = Issued(
            pem: pem, certificateID: certificateID, notBefore: leaf.notValidBefore, notAfter: leaf.notValidAfter,
            account: order.account, names: Set(order.identifiers.map(\.value)))
        spendIssuance(names: order.identifiers.map(\.value), exemption: order.exemption)
        order.certificate = certificateNumber
        if behaviour.processingPolls > 0 {
            order.status = "processing"
            order.processingLeft = behaviour.processingPolls
        } else {
            order.status = "valid"
        }
        orders[id] = order
        var response = json(orderObject(id))
        if order.status == "processing" { response.headers.set("Retry-After", "\(behaviour.orderRetryAfter)") }
        return response
    }

    // MARK: Responses

    func json(_ object: Any, status: Int = 200, location: String? = nil) -> ServerResponse {
        var response = ServerResponse(
            status: status,
            headers: ["Content-Type": "application/json"],
            body: Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
        )
        if let location { response.headers.set("Location", location) }
        response.headers.add("Link", "<\(base)/dir>;rel=\"index\"")
        return response
    }

    func problem(_ status: Int, _ type: String, _ detail: String) -> ServerResponse {
        let object: [String: Any] = ["type": ACMEProblem.namespace + type, "detail": detail, "status": status]
        return ServerResponse(
            status: status,
            headers: ["Content-Type": "application/problem+json"],
            body: Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data())
        )
    }
}

struct ResponseError: Error {
    var response: ServerResponse
    init(_ response: ServerResponse) { self.response = response }
}
