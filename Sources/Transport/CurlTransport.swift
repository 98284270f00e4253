import Basics
import CCurlShim

/// The production HTTP transport: libcurl with OpenSSL, driven by ``CurlLoop``.
///
/// Proxies come from the environment as libcurl reads them (`HTTPS_PROXY`, `https_proxy`,
/// `NO_PROXY`); CA bundles and client credentials are passed per request, in memory.
public struct CurlTransport: HTTPTransport {
    public var userAgent: String

    public init(userAgent: String) {
        self.userAgent = userAgent
    }

    public func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = try makeTransfer(for: request)
        return try await CurlTransport.perform(transfer)
    }

    /// Hands a configured transfer to the loop and waits for it, honouring task cancellation.
    static func perform(_ transfer: CurlTransfer) async throws -> HTTPResponse {
        try Task.checkCancellation()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                transfer.continuation = continuation
                CurlLoop.shared.submit(transfer)
            }
        } onCancel: {
            CurlLoop.shared.cancel(transfer)
        }
    }

    private func makeTransfer(for request: HTTPRequest) throws -> CurlTransfer {
        let transfer = try CurlTransfer(url: request.url)
        transfer.maximumResponse = request.maximumResponse
        let timeout = Bounded.milliseconds(Bounded.seconds(request.timeout))
        try transfer.set(CURLOPT_TIMEOUT_MS, max(timeout, 1))
        try transfer.set(CURLOPT_CONNECTTIMEOUT_MS, max(min(timeout, 10_000), 1))
        try transfer.set(CURLOPT_USERAGENT, userAgent)
        try transfer.set(CURLOPT_ACCEPT_ENCODING, "")
        try transfer.set(CURLOPT_FOLLOWLOCATION, 0)
        if let connectTo = request.connectTo { try transfer.setConnectTo(["::\(connectTo)"]) }
        try Self.configureTLS(transfer, request.tls)

        switch request.method {
        case .get:
            try transfer.set(CURLOPT_HTTPGET, 1)
        case .head:
            try transfer.set(CURLOPT_NOBODY, 1)
        case .post:
            try transfer.set(CURLOPT_POST, 1)
        case .put, .patch, .delete:
            try transfer.set(CURLOPT_CUSTOMREQUEST, request.method.rawValue)
        }
        if let body = request.body {
            try transfer.set(CURLOPT_POSTFIELDSIZE, body.count)
            try transfer.set(CURLOPT_COPYPOSTFIELDS, blobString: body)
        } else if request.method == .post {
            try transfer.set(CURLOPT_POSTFIELDSIZE, 0)
        }
        // No "Expect: 100-continue" round trip on larger bodies.
        var lines = ["Expect:"]
        lines += request.headers.fields.map { "\($0.name): \($0.value)" }
        try transfer.setHeaders(lines)
        return transfer
    }

    static func configureTLS(_ transfer: CurlTransfer, _ tls: TLSOptions) throws {
        if let caBundle = tls.caBundle {
            // Trust only the given CAs: a private CA is never mixed with the system store.
            try transfer.set(CURLOPT_CAINFO, nil as String?)
            try transfer.set(CURLOPT_CAPATH, nil as String?)
            try transfer.set(CURLOPT_CAINFO_BLOB, blob: caBundle)
        }
        if let certificate = tls.clientCertificate {
            try transfer.set(CURLOPT_SSLCERTTYPE, "PEM")
            try transfer.set(CURLOPT_SSLCERT_BLOB, blob: certificate)
        }
        if let key = tls.clientKey {
            try transfer.set(CURLOPT_SSLKEYTYPE, "PEM")
            try transfer.set(CURLOPT_SSLKEY_BLOB, blob: key)
        }
        if tls.skipVerification {
            try transfer.set(CURLOPT_SSL_VERIFYPEER, 0)
            try transfer.set(CURLOPT_SSL_VERIFYHOST, 0)
        }
    }
}

extension CurlTransfer {
    /// `CURLOPT_COPYPOSTFIELDS` copies `CURLOPT_POSTFIELDSIZE` bytes, so binary bodies are safe.
    func set(_ option: CURLoption, blobString bytes: [UInt8]) throws {
        var copy = bytes
        if copy.isEmpty { copy = [0] }
        try copy.withUnsafeMutableBytes { raw in
            try set(option, pointer: raw.baseAddress)
        }
    }
}
