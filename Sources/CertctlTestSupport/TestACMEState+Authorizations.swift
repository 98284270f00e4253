import ACME
import Basics
import Certificates
import Crypto
import DNS
import Foundation
import SwiftASN1
import Transport
import X509

/// The in-process CA's authorizations and challenges: their objects, HTTP-01, DNS-01 and
/// dns-persist-01 validation, and the order's status as they finish.
extension TestACMEState {
    func authorizationObject(_ id: Int) -> [String: Any] {
        guard let authorization = authorizations[id] else { return [:] }
        var challenges: [[String: Any]] = []
        var error: [String: Any]?
        if let problem = authorization.error { error = ["type": problem.type, "detail": problem.detail ?? ""] }
        if !authorization.wildcard {
            var challenge: [String: Any] = [
                "type": "http-01", "url": base + "/chall/\(id)", "status": authorization.challengeStatus,
                "token": authorization.token,
            ]
            challenge["error"] = error
            challenges.append(challenge)
        }
        if let persist = behaviour.dnsPersist {
            var challenge: [String: Any] = [
                "type": "dns-persist-01", "url": base + "/chall-persist/\(id)", "status": authorization.challengeStatus,
                "issuer-domain-names": persist.issuerDomainNames,
                // As current Pebble does: the account URI the record must name.
                "accounturi": orders[authorization.order]?.account ?? "",
            ]
            challenge["error"] = error
            challenges.append(challenge)
        }
        if behaviour.unknownChallenge {
            challenges.insert(["type": "made-up-99", "status": "dreaming", "nonce": ["a": 1]], at: 0)
        }
        var object: [String: Any] = [
            "identifier": ["type": authorization.identifier.type, "value": authorization.identifier.value],
            "status": authorization.status,
            "expires": ISO8601DateFormatter().string(from: Date().addingTimeInterval(86_400)),
            "challenges": challenges,
        ]
        if authorization.wildcard { object["wildcard"] = true }
        return object
    }

    func authorizationResource(_ id: Int) -> ServerResponse {
        guard authorizations[id] != nil else { return problem(404, "malformed", "no authorization \(id)") }
        return json(authorizationObject(id))
    }

    /// Validates HTTP-01 for real (RFC 8555 §8.3): GET the token from the validation port.
    func challenge(_ id: Int, jwk: JSONWebKey) async -> ServerResponse {
        guard var authorization = authorizations[id] else { return problem(404, "malformed", "no challenge \(id)") }
        if authorization.status == "pending" {
            let expected = "\(authorization.token).\(jwk.thumbprint)"
            let url = "http://127.0.0.1:\(validationPort)/.well-known/acme-challenge/\(authorization.token)"
            // Patient as a CA's validation is (Let's Encrypt's waits seconds, and retries): the
            // answer is the test, not how fast a busy machine gives it.
            let response = try? await CurlTransport(userAgent: "test-acme-va").send(
                HTTPRequest(url: url, timeout: .seconds(20)))
            let body = response.map {
                String(decoding: $0.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if response?.status == 200, body == expected {
                authorization.status = "valid"
                authorization.challengeStatus = "valid"
            } else {
                authorization.status = "invalid"
                authorization.challengeStatus = "invalid"
                authorization.error = ACMEProblem(
                    type: ACMEProblem.namespace + "incorrectResponse",
                    detail:
                        "the key authorization at \(url) was \(response.map { "HTTP \($0.status)" } ?? "unreachable")"
                )
            }
            authorizations[id] = authorization
            updateOrder(authorization.order)
        }
        var object =
            (authorizationObject(id)["challenges"] as? [[String: Any]])?.first { $0["type"] as? String == "http-01" }
            ?? [:]
        object["status"] = authorization.challengeStatus
        return json(object)
    }

    /// Validates dns-persist-01 as the draft says (§4): a TXT record at `_validation-persist.<domain>`
    /// naming one of the offered issuer domain names and this account, `policy=wildcard` for a
    /// wildcard, not past `persistUntil`.
    func persistChallenge(_ id: Int, account: String) async -> ServerResponse {
        guard var authorization = authorizations[id], let persist = behaviour.dnsPersist else {
            return problem(404, "malformed", "no challenge \(id)")
        }
        if authorization.status == "pending" {
            let name = DNSPersistRecord.name(for: authorization.identifier.value)
            var found = false
            if let server = try? DNSClient(parsing: persist.dnsServer), let answer = try? await server.query(name, .txt)
            {
                found = answer.answers.compactMap(\.txtValue).compactMap(DNSPersistRecord.init(parsing:)).contains {
                    $0.authorizes(
                        account: account, issuerDomainNames: persist.issuerDomainNames,
                        wildcard: authorization.wildcard, now: Bounded.int(Date().timeIntervalSince1970))
                }
            }
            authorization.status = found ? "valid" : "invalid"
            authorization.challengeStatus = authorization.status
            if !found {
                authorization.error = ACMEProblem(
                    type: ACMEProblem.namespace + "unauthorized",
                    detail: "no valid dns-persist-01 record at \(name) for this account")
            }
            authorizations[id] = authorization
            updateOrder(authorization.order)
        }
        let challenges = authorizationObject(id)["challenges"] as? [[String: Any]] ?? []
        return json(challenges.first { $0["type"] as? String == "dns-persist-01" } ?? [:])
    }

    func updateOrder(_ id: Int) {
        guard var order = orders[id], order.status == "pending" else { return }
        let states = order.authorizations.compactMap { authorizations[$0]?.status }
        if states.contains("invalid") {
            order.status = "invalid"
        } else if states.allSatisfy({ $0 == "valid" }) {
            if behaviour.pendingPollsAfterAuthorization > 0 {
                order.pendingLeft = behaviour.pendingPollsAfterAuthorization
            } else {
                order.status = "ready"
            }
        }
        orders[id] = order
    }
}
