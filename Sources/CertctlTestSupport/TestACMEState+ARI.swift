import ACME
import Certificates
import Foundation
import Transport

/// The in-process CA's ARI (RFC 9773): `renewalInfo`, and `replaces` checked as a current CA does.
extension TestACMEState {
    /// RFC 9773 §4.2: an unauthenticated GET with the suggested window and Retry-After.
    func renewalInfo(_ certificateID: String) -> ServerResponse {
        renewalInfoQueries.append(certificateID)
        guard let issued = certificates.values.first(where: { $0.certificateID == certificateID }) else {
            return problem(404, "malformed", "unknown certificate \(certificateID)")
        }
        let (start, end) = behaviour.renewalWindow(issued.notBefore, issued.notAfter)
        let formatter = ISO8601DateFormatter()
        var object: [String: Any] = [
            "suggestedWindow": ["start": formatter.string(from: start), "end": formatter.string(from: end)]
        ]
        if let explanation = behaviour.explanationURL { object["explanationURL"] = explanation }
        var response = json(object)
        response.headers.set("Retry-After", "\(behaviour.renewalInfoRetryAfter)")
        return response
    }

    /// `replaces` checked as Let's Encrypt's Boulder (`validateReplacementOrder`) and current
    /// Pebble check it: a CertID of an issuer this CA does not have is malformed, a certificate
    /// it does not have is not found, one another account ordered is unauthorized, one sharing
    /// no identifier with the order is malformed, one replaced already is a conflict.
    func replacementRefusal(_ replaces: String, account: String, identifiers: [ACMEIdentifier])
        -> ServerResponse?
    {
        let parts = replaces.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, Base64URL.decode(String(parts[0])) == authority.subjectKeyIdentifier else {
            return problem(400, "malformed", "parsing ARI CertID failed: no issuer of this CA has that key identifier")
        }
        guard let issued = certificates.values.first(where: { $0.certificateID == replaces }) else {
            return problem(404, "malformed", "request included `replaces`, but no certificate \(replaces) exists")
        }
        guard issued.account == account else {
            return problem(
                403, "unauthorized", "requester account did not request the certificate being replaced by this order")
        }
        guard !issued.names.isDisjoint(with: identifiers.map(\.value)) else {
            return problem(
                400, "malformed",
                "identifiers in this order do not match any identifiers in the certificate being replaced")
        }
        if behaviour.alreadyReplaced.contains(replaces) {
            return problem(409, "alreadyReplaced", "the certificate \(replaces) was already replaced")
        }
        return nil
    }
}
