public import Basics

/// An error from reading or making key and certificate material. The reason never holds key bytes.
public struct CertificatesError: ReportedError, Equatable {
    public enum Code: String, Sendable {
        case invalidPEM
        case invalidCertificate
        case invalidKey
        case unsupportedKey
        case emptyChain
        case invalidName
    }

    public var code: Code
    /// The file or Secret the material came from, when the reason does not name it.
    public var object: String?
    public var reason: String

    public init(_ code: Code, _ reason: String, object: String? = nil) {
        self.code = code
        self.reason = reason
        self.object = object
    }
}
