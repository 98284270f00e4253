/// An error from reading or making key and certificate material. The reason never holds key bytes.
public struct CertificatesError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case invalidPEM
        case invalidCertificate
        case invalidKey
        case unsupportedKey
        case emptyChain
        case invalidName
    }

    public var code: Code
    public var reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { reason }
}
