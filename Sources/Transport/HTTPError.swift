public import Basics

/// A transport failure: the request did not produce an HTTP response.
public struct HTTPError: ReportedError {
    public enum Code: String, Sendable {
        case connect
        case timeout
        case tls
        case invalidRequest
        case transfer
        case cancelled
    }

    public var code: Code
    public var url: String
    public var reason: String

    public init(_ code: Code, url: String, reason: String) {
        self.code = code
        self.url = url
        self.reason = reason
    }

    public var object: String? { url }

    public var description: String {
        "\(code.rawValue) error for \(url): \(reason)"
    }
}
