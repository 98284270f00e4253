/// One HTTP request, transport independent.
public struct HTTPRequest: Sendable {
    public enum Method: String, Sendable {
        case get = "GET"
        case head = "HEAD"
        case post = "POST"
        case put = "PUT"
        case patch = "PATCH"
        case delete = "DELETE"
    }

    public var method: Method
    public var url: String
    public var headers: HTTPHeaders
    public var body: [UInt8]?
    /// Whole-transfer deadline.
    public var timeout: Duration
    public var tls: TLSOptions
    /// The largest response body read (a CA, the API server or a webhook answering more is an
    /// error, not memory): 32 MiB by default, far over any ACME resource or list page certctl asks for.
    public var maximumResponse = HTTPRequest.defaultMaximumResponse
    /// Connect to this `host:port` instead of the URL's (its host still named, as SNI and
    /// `Host`): `certctl check --http01-probe-address`.
    public var connectTo: String?

    public static let defaultMaximumResponse = 32 << 20

    public init(
        method: Method = .get,
        url: String,
        headers: HTTPHeaders = [:],
        body: [UInt8]? = nil,
        timeout: Duration = .seconds(30),
        tls: TLSOptions = TLSOptions()
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.tls = tls
    }
}

/// TLS settings for one request. Key material is handed to libcurl in memory, never written to disk.
public struct TLSOptions: Sendable {
    /// PEM bundle of the CAs to trust instead of the system store (a cluster CA, a private ACME CA).
    public var caBundle: [UInt8]?
    /// PEM client certificate and key (kubeconfig client authentication).
    public var clientCertificate: [UInt8]?
    public var clientKey: [UInt8]?
    /// Only ever set from an explicit operator choice (kubeconfig `insecure-skip-tls-verify`).
    public var skipVerification: Bool

    public init(
        caBundle: [UInt8]? = nil,
        clientCertificate: [UInt8]? = nil,
        clientKey: [UInt8]? = nil,
        skipVerification: Bool = false
    ) {
        self.caBundle = caBundle
        self.clientCertificate = clientCertificate
        self.clientKey = clientKey
        self.skipVerification = skipVerification
    }
}

extension TLSOptions: CustomStringConvertible {
    public var description: String {
        "TLSOptions(caBundle: \(caBundle == nil ? "system" : "custom"), "
            + "clientCertificate: \(clientCertificate == nil ? "none" : "set"), "
            + "skipVerification: \(skipVerification))"
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The certificate the server presented (PEM), when the request asked for it (`TLSProbe`).
    public var peerCertificatePEM: String?

    public init(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = [], peerCertificatePEM: String? = nil) {
        self.status = status
        self.headers = headers
        self.body = body
        self.peerCertificatePEM = peerCertificatePEM
    }

    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// Anything that sends an HTTP request: libcurl in production, the same in tests (against real servers).
public protocol HTTPTransport: Sendable {
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}
