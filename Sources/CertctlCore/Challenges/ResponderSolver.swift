public import ACME

/// HTTP-01 answered by this process's own responder, which the CA reaches directly (local mode).
public struct ResponderSolver: ChallengeSolver {
    public let responder: HTTP01Responder

    public init(responder: HTTP01Responder) {
        self.responder = responder
    }

    public var challengeType: String { "http-01" }

    public func present(identifier: ACMEIdentifier, token: String, keyAuthorization: String) async throws {
        responder.present(token: token, keyAuthorization: keyAuthorization)
    }

    public func cleanUp(identifier: ACMEIdentifier, token: String) async {
        responder.remove(token: token)
    }
}
