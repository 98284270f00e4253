import Basics
import CCurlShim

/// Sends one e-mail over SMTP with libcurl: STARTTLS when asked (required, not opportunistic),
/// authentication, the CA bundle of the TLS options. The password never reaches a log.
public struct SMTPClient: Sendable {
    public struct Message: Sendable {
        public var from: String
        public var to: [String]
        /// The whole RFC 5322 message: headers, a blank line, the body.
        public var data: String

        public init(from: String, to: [String], data: String) {
            self.from = from
            self.to = to
            self.data = data
        }
    }

    /// `smtp://host:port` (STARTTLS with `requireTLS`) or `smtps://host:port`.
    public var url: String
    public var requireTLS: Bool
    public var username: String?
    public var password: String?
    public var tls: TLSOptions
    public var timeout: Duration

    public init(
        url: String, requireTLS: Bool, username: String? = nil, password: String? = nil, tls: TLSOptions = TLSOptions(),
        timeout: Duration = .seconds(30)
    ) {
        self.url = url
        self.requireTLS = requireTLS
        self.username = username
        self.password = password
        self.tls = tls
        self.timeout = timeout
    }

    public func send(_ message: Message) async throws {
        let transfer = try CurlTransfer(url: url, protocols: "smtp,smtps")
        try transfer.set(CURLOPT_MAIL_FROM, "<\(message.from)>")
        try transfer.setMailRecipients(message.to.map { "<\($0)>" })
        try transfer.set(
            CURLOPT_USE_SSL,
            requireTLS ? Int(clamping: CURLUSESSL_ALL.rawValue) : Int(clamping: CURLUSESSL_NONE.rawValue))
        if let username { try transfer.set(CURLOPT_USERNAME, username) }
        if let password { try transfer.set(CURLOPT_PASSWORD, password) }
        let milliseconds = Bounded.milliseconds(Bounded.seconds(timeout))
        try transfer.set(CURLOPT_TIMEOUT_MS, milliseconds)
        try transfer.set(CURLOPT_CONNECTTIMEOUT_MS, min(milliseconds, 10_000))
        try CurlTransport.configureTLS(transfer, tls)
        // SMTP wants CRLF line ends; a lone "." line is escaped by libcurl.
        let normalised = message.data.replacingCRLF()
        try transfer.setUpload(Array(normalised.utf8))
        let response = try await CurlTransport.perform(transfer)
        guard (200..<400).contains(response.status) else {
            throw HTTPError(.transfer, url: url, reason: "the SMTP server answered \(response.status)")
        }
    }
}

extension String {
    func replacingCRLF() -> String {
        split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.hasSuffix("\r") ? String($0.dropLast()) : String($0) }
            .joined(separator: "\r\n")
    }
}
