import Basics
import Foundation
import Transport

/// How the client sends a request: one attempt at a time, again where ``RequestRetry`` says,
/// never a write once the run's lock is lost (``WriteGate``).
extension KubernetesClient {
    /// Sends the request, again where ``retry`` says (README, "A busy or restarting API server").
    func send(
        _ method: HTTPRequest.Method,
        path: String,
        query: [(String, String)] = [],
        body: [UInt8]? = nil,
        contentType: String = "application/json",
        verb: String,
        object: String,
        safety: RequestRetry.Safety
    ) async throws -> HTTPResponse {
        var attempt = 1
        var unanswered = false
        while true {
            // Asked before every attempt of every write: a retry waits, and the lock may be lost meanwhile.
            if method != .get, method != .head, let refusal = writeGate?.refusal() {
                throw KubernetesError(.writeRefused, object: object, reason: "\(verb) not sent: \(refusal)")
            }
            do {
                return try await sendOnce(
                    method, path: path, query: query, body: body, contentType: contentType, verb: verb,
                    object: object)
            } catch let error as KubernetesError {
                // A delete sent again that finds nothing: the first one was carried out.
                if unanswered, safety == .delete, error.isNotFound { return HTTPResponse(status: 200, body: []) }
                guard let outcome = error.attemptOutcome,
                    case .retry(let delay, let reason) = retry.decide(outcome, safety: safety, attempt: attempt),
                    deadline.map({ ContinuousClock.now.advanced(by: Bounded.duration(seconds: delay)) < $0.instant })
                        ?? true
                else { throw error }
                if RequestRetry.mayHaveActed(outcome) { unanswered = true }
                attempt += 1
                let event = RetryEvent(
                    verb: verb, object: object, reason: reason, status: error.httpStatus, attempt: attempt,
                    delay: delay)
                onRetry?(event)
                WaitReport.waitingFor?("the API server to answer \(verb) \(object); \(event.description)")
                try await Task.sleep(for: Bounded.duration(seconds: delay))
            }
        }
    }

    /// One attempt: the answer, or the error with what it came to.
    fileprivate func sendOnce(
        _ method: HTTPRequest.Method, path: String, query: [(String, String)], body: [UInt8]?, contentType: String,
        verb: String, object: String
    ) async throws -> HTTPResponse {
        var components = URLComponents()
        components.queryItems = query.isEmpty ? nil : query.map { URLQueryItem(name: $0.0, value: $0.1) }
        let encodedQuery =
            components.percentEncodedQuery.map { "?" + $0.replacingOccurrences(of: "+", with: "%2B") } ?? ""
        var request = HTTPRequest(
            method: method, url: connection.server + path + encodedQuery, body: body, timeout: requestTimeout)
        request.headers.add("Accept", "application/json")
        if body != nil { request.headers.add("Content-Type", contentType) }
        let auth = try await credentials.current()
        request.tls = auth.tls
        if let token = auth.token { request.headers.add("Authorization", "Bearer \(token)") }

        let response: HTTPResponse
        do {
            response = try await transport.send(request)
        } catch {
            observer?(verb, nil)
            var failure = KubernetesError(
                .transport, object: object,
                reason: "cannot reach the API server at \(connection.server) to \(verb): \(error)")
            failure.attemptOutcome = (error as? HTTPError)?.retryOutcome
            throw failure
        }
        observer?(verb, response.status)
        if let onWarning {
            for header in response.headers.values("Warning") { onWarning(object, Self.warningText(header)) }
        }
        if response.status == 401 { await credentials.invalidate() }
        guard response.isSuccess else {
            let status = try? JSONDecoder().decode(KubernetesStatus.self, from: Data(response.body))
            let message = status?.message ?? String(decoding: response.body.prefix(200), as: UTF8.self)
            var failure = KubernetesError(
                .status,
                object: object,
                reason: "\(verb) failed: \(status?.reason ?? "HTTP \(response.status)"): \(message)",
                status: status ?? KubernetesStatus(message: message, reason: nil, details: nil, code: response.status)
            )
            failure.attemptOutcome = .answered(status: response.status, retryAfter: response.headers["Retry-After"])
            throw failure
        }
        return response
    }

    /// The text of a `Warning` header (RFC 7234 §5.5: `299 - "unknown field \"x\""`).
    static func warningText(_ header: String) -> String {
        let parts = header.split(separator: " ", maxSplits: 2)
        guard parts.count == 3, var text = parts.last.map(String.init), text.hasPrefix("\""),
            text.hasSuffix("\""), text.count >= 2
        else { return header }
        text = String(text.dropFirst().dropLast())
        return text.replacingOccurrences(of: "\\\"", with: "\"").replacingOccurrences(of: "\\\\", with: "\\")
    }
}
