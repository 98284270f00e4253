import CCurlShim
import Foundation

/// One libcurl easy handle and what it collects. Owned by the caller until submitted, then by the
/// loop thread until `finish` resumes the continuation.
final class CurlTransfer: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer
    let url: String
    private var status = 0
    private var headers = HTTPHeaders()
    private var body: [UInt8] = []
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var mailRecipients: UnsafeMutablePointer<curl_slist>?
    private var connectTo: UnsafeMutablePointer<curl_slist>?
    private var upload: [UInt8] = []
    private var uploadOffset = 0
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(clamping: CURL_ERROR_SIZE) + 1)
    var continuation: CheckedContinuation<HTTPResponse, any Error>?
    /// Read the peer's certificate (CURLOPT_CERTINFO) when the transfer completes.
    var collectsPeerCertificate = false
    /// The most of a response body (and of its headers) kept; more aborts the transfer.
    var maximumResponse = HTTPRequest.defaultMaximumResponse
    private(set) var overLimit = false

    /// `protocols`: the schemes this transfer may speak (libcurl's `CURLOPT_PROTOCOLS_STR`), and
    /// redirects likewise: a URL from outside (a CA's order, a Link header) never reaches
    /// `file://`, `gopher://` or another of libcurl's protocols.
    init(url: String, protocols: String = "http,https") throws {
        guard let handle = curl_easy_init() else {
            throw HTTPError(.invalidRequest, url: url, reason: "libcurl could not allocate a handle")
        }
        self.handle = handle
        self.url = url
        errorBuffer.initialize(to: 0)
        let me = Unmanaged.passUnretained(self).toOpaque()
        try set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
        try set(CURLOPT_PROTOCOLS_STR, protocols)
        try set(CURLOPT_REDIR_PROTOCOLS_STR, protocols)
        try set(CURLOPT_URL, url)
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_WRITEDATA, pointer: me)
        try set(CURLOPT_HEADERDATA, pointer: me)
        try check(certctl_easy_setopt_write_callback(handle, CURLOPT_WRITEFUNCTION, curlWriteBody))
        try check(certctl_easy_setopt_write_callback(handle, CURLOPT_HEADERFUNCTION, curlWriteHeader))
    }

    deinit {
        curl_easy_cleanup(handle)
        curl_slist_free_all(headerList)
        curl_slist_free_all(mailRecipients)
        curl_slist_free_all(connectTo)
        errorBuffer.deallocate()
    }

    // MARK: Options

    func set(_ option: CURLoption, _ value: Int) throws {
        try check(certctl_easy_setopt_long(handle, option, value))
    }

    func set(_ option: CURLoption, _ value: String?) throws {
        try check(certctl_easy_setopt_string(handle, option, value))
    }

    func set(_ option: CURLoption, pointer: UnsafeMutableRawPointer?) throws {
        try check(certctl_easy_setopt_pointer(handle, option, pointer))
    }

    func set(_ option: CURLoption, blob: [UInt8]) throws {
        try blob.withUnsafeBytes { bytes in
            try check(certctl_easy_setopt_blob(handle, option, bytes.baseAddress, bytes.count))
        }
    }

    func setHeaders(_ lines: [String]) throws {
        for line in lines {
            headerList = curl_slist_append(headerList, line)
        }
        try set(CURLOPT_HTTPHEADER, pointer: UnsafeMutableRawPointer(headerList))
    }

    func setMailRecipients(_ recipients: [String]) throws {
        for recipient in recipients {
            mailRecipients = curl_slist_append(mailRecipients, recipient)
        }
        try set(CURLOPT_MAIL_RCPT, pointer: UnsafeMutableRawPointer(mailRecipients))
    }

    /// `CURLOPT_CONNECT_TO`: "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT" entries.
    func setConnectTo(_ entries: [String]) throws {
        for entry in entries {
            connectTo = curl_slist_append(connectTo, entry)
        }
        try set(CURLOPT_CONNECT_TO, pointer: UnsafeMutableRawPointer(connectTo))
    }

    /// Streams `bytes` as the upload body (SMTP DATA); libcurl reads it through the read callback.
    func setUpload(_ bytes: [UInt8]) throws {
        upload = bytes
        uploadOffset = 0
        try check(certctl_easy_setopt_read_callback(handle, curlReadUpload))
        try set(CURLOPT_READDATA, pointer: Unmanaged.passUnretained(self).toOpaque())
        try set(CURLOPT_UPLOAD, 1)
    }

    private func check(_ code: CURLcode) throws {
        guard code == CURLE_OK else {
            throw HTTPError(.invalidRequest, url: url, reason: String(cString: curl_easy_strerror(code)))
        }
    }

    // MARK: Callbacks (loop thread)

    /// False (abort) once the body would pass `maximumResponse`.
    fileprivate func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard body.count + bytes.count <= maximumResponse else {
            overLimit = true
            return false
        }
        body.append(contentsOf: bytes)
        return true
    }

    fileprivate func appendHeaderLine(_ line: String) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("HTTP/") {
            // A new response starts (after 100 Continue, a proxy CONNECT or a redirect): forget the last one.
            headers = HTTPHeaders()
            return
        }
        guard let colon = trimmed.firstIndex(of: ":") else { return }
        let name = String(trimmed[..<colon])
        let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        headers.add(name, value)
    }

    fileprivate func readUpload(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        let count = min(capacity, upload.count - uploadOffset)
        guard count > 0 else { return 0 }
        upload.withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            UnsafeMutableRawPointer(buffer).copyMemory(from: base + uploadOffset, byteCount: count)
        }
        uploadOffset += count
        return count
    }

    func finish(_ result: CURLcode, cancelled: Bool) {
        guard let continuation else { return }
        self.continuation = nil
        if cancelled {
            continuation.resume(throwing: HTTPError(.cancelled, url: url, reason: "the request was cancelled"))
            return
        }
        guard result == CURLE_OK else {
            let reason =
                overLimit
                ? "the response is larger than \(maximumResponse) bytes; it was not read further"
                : errorMessage(result)
            continuation.resume(
                throwing: HTTPError(overLimit ? .transfer : errorCode(result), url: url, reason: reason))
            return
        }
        var code = 0
        certctl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &code)
        status = code
        let peer = collectsPeerCertificate ? peerCertificate() : nil
        continuation.resume(
            returning: HTTPResponse(status: status, headers: headers, body: body, peerCertificatePEM: peer))
    }

    /// The first certificate of CURLINFO_CERTINFO (its "Cert:" field, PEM).
    private func peerCertificate() -> String? {
        var raw: UnsafeMutableRawPointer?
        guard certctl_easy_getinfo_pointer(handle, CURLINFO_CERTINFO, &raw) == CURLE_OK, let raw else { return nil }
        let info = raw.assumingMemoryBound(to: curl_certinfo.self).pointee
        guard info.num_of_certs > 0, let lists = info.certinfo else { return nil }
        var entry = lists[0]
        while let node = entry {
            if let data = node.pointee.data {
                let field = String(cString: data)
                if field.hasPrefix("Cert:") { return String(field.dropFirst(5)) }
            }
            entry = node.pointee.next
        }
        return nil
    }

    private func errorMessage(_ result: CURLcode) -> String {
        let detail = String(cString: errorBuffer)
        return detail.isEmpty ? String(cString: curl_easy_strerror(result)) : detail
    }

    private func errorCode(_ result: CURLcode) -> HTTPError.Code {
        switch result {
        case CURLE_OPERATION_TIMEDOUT:
            return .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return .connect
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CIPHER:
            return .tls
        default:
            return .transfer
        }
    }
}

private func curlWriteBody(
    _ data: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.appendBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
}

private func curlWriteHeader(
    _ data: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let data, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    let bytes = UnsafeRawBufferPointer(start: data, count: size * count)
    transfer.appendHeaderLine(String(decoding: bytes, as: UTF8.self))
    return size * count
}

private func curlReadUpload(
    _ buffer: UnsafeMutablePointer<CChar>?,
    _ size: Int,
    _ count: Int,
    _ context: UnsafeMutableRawPointer?
) -> Int {
    guard let buffer, let context else { return 0 }
    let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
    return transfer.readUpload(into: buffer, capacity: size * count)
}
