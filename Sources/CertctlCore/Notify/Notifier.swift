import Basics
public import Foundation
public import Logging
public import Transport

/// Sends notices to every configured channel: Alertmanager's v2 API, a webhook (generic JSON,
/// Slack-compatible, Zulip's Slack-compatible endpoint), e-mail over SMTP.
public struct Notifier: Sendable {
    public let config: NotificationConfig
    public let transport: any HTTPTransport
    public let logger: Logger
    public let cluster: String

    public init(config: NotificationConfig, transport: any HTTPTransport, cluster: String, logger: Logger) {
        self.config = config
        self.transport = transport
        self.cluster = cluster
        self.logger = logger
    }

    /// Sends `notices` to every channel; returns the names of the channels that failed.
    @discardableResult
    public func send(_ notices: [Notice], now: Date = Date()) async -> [String] {
        guard !notices.isEmpty else { return [] }
        var failed: [String] = []
        for (name, channel) in config.channels {
            do {
                try await send(notices, to: channel, now: now)
                logger.info("notified", metadata: ["channel": "\(name)", "notices": "\(notices.count)"])
            } catch {
                failed.append(name)
                logger.error("cannot notify", metadata: ["channel": "\(name)", "error": "\(error)"])
            }
        }
        return failed
    }

    private func send(_ notices: [Notice], to channel: NotificationConfig.Channel, now: Date) async throws {
        switch channel {
        case .alertmanager(let url):
            let base = url.hasSuffix("/") ? String(url.dropLast()) : url
            try await post(base + "/api/v2/alerts", json: Self.alertmanagerPayload(notices, cluster: cluster, now: now))
        case .webhook(let url, let format):
            try await post(url, json: Self.webhookPayload(notices, format: format, cluster: cluster))
        case .email(let smtp, let starttls, let from, let to, let username, let password, let caBundle):
            let client = SMTPClient(
                url: smtp, requireTLS: starttls, username: username, password: password,
                tls: TLSOptions(caBundle: caBundle))
            try await client.send(
                .init(from: from, to: to, data: Self.email(notices, from: from, to: to, cluster: cluster, now: now)))
        }
    }

    private func post(_ url: String, json: Any) async throws {
        let body = try JSONText.data(json)
        let response: HTTPResponse
        do {
            response = try await transport.send(
                HTTPRequest(
                    method: .post, url: url, headers: ["Content-Type": "application/json"], body: Array(body),
                    timeout: .seconds(15))
            )
        } catch {
            // libcurl's message names the URL, and a webhook URL is a credential.
            throw CertctlError(
                .io, object: Self.redacted(url),
                "\(error)".replacingOccurrences(of: url, with: Self.redacted(url)))
        }
        guard response.isSuccess else {
            throw CertctlError(.io, object: Self.redacted(url), "answered HTTP \(response.status)")
        }
    }

    /// A webhook URL as far as its host: Slack and Mattermost carry the key in the path, Zulip in
    /// the query, anyone in `user:password@`.
    public static func redacted(_ url: String) -> String {
        guard let separator = url.range(of: "://") else { return "(a webhook URL)" }
        let rest = url[separator.upperBound...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        let host = authority.lastIndex(of: "@").map { authority[authority.index(after: $0)...] } ?? authority
        let more = rest.dropFirst(authority.count)
        return url[..<separator.upperBound] + host + (more.isEmpty || more == "/" ? "" : "/…")
    }

    // MARK: Payloads

    static func alertmanagerPayload(_ notices: [Notice], cluster: String, now: Date) -> [[String: Any]] {
        notices.map { notice in
            var alert: [String: Any] = [
                "labels": [
                    "alertname": notice.kind == .recovered ? "CertificateProblem" : alertName(notice.kind),
                    "namespace": notice.namespace, "secret": notice.secret, "severity": notice.severity,
                    "cluster": cluster,
                    "source": "certctl",
                ],
                "annotations": ["summary": notice.line, "hosts": notice.hosts.joined(separator: ", ")],
                "startsAt": RenewalRecord.format(now),
            ]
            if notice.isResolved {
                alert["endsAt"] = RenewalRecord.format(now)
            }
            return alert
        }
    }

    static func alertName(_ kind: Notice.Kind) -> String {
        switch kind {
        case .expiring: "CertificateExpiring"
        case .expired: "CertificateExpired"
        case .failing: "CertificateRenewalFailing"
        case .fallback: "CertificateFromFallbackIssuer"
        case .recovered: "CertificateProblem"
        case .test: "CertctlTest"
        }
    }

    static func text(_ notices: [Notice], cluster: String) -> String {
        "certctl (\(cluster)):\n" + notices.map { "- " + $0.line }.joined(separator: "\n")
    }

    static func webhookPayload(_ notices: [Notice], format: NotificationConfig.WebhookFormat, cluster: String)
        -> [String: Any]
    {
        switch format {
        case .slack, .zulip:
            return ["text": text(notices, cluster: cluster)]
        case .generic:
            return [
                "source": "certctl",
                "cluster": cluster,
                "text": text(notices, cluster: cluster),
                "notices": notices.map { notice -> [String: Any] in
                    [
                        "kind": notice.kind.rawValue, "namespace": notice.namespace, "secret": notice.secret,
                        "hosts": notice.hosts, "state": notice.state, "severity": notice.severity,
                        "notAfter": notice.notAfter.map(RenewalRecord.format) ?? NSNull(), "detail": notice.detail,
                    ]
                },
            ]
        }
    }

    static func email(_ notices: [Notice], from: String, to: [String], cluster: String, now: Date) -> String {
        let worst =
            notices.contains { $0.kind == .expired } ? "EXPIRED" : notices.map { $0.kind.rawValue }.first ?? "notice"
        let subject = "[certctl] \(cluster): \(notices.count) certificate\(notices.count == 1 ? "" : "s") \(worst)"
        let domain = from.split(separator: "@").last.map(String.init) ?? "certctl.local"
        return """
            From: \(from)
            To: \(to.joined(separator: ", "))
            Subject: \(subject)
            Date: \(Timestamp.httpDate(now))
            Message-ID: <\(UUID().uuidString.lowercased())@\(domain)>
            MIME-Version: 1.0
            Content-Type: text/plain; charset=utf-8

            \(text(notices, cluster: cluster))

            Run `certctl status` for the whole picture.

            """
    }
}
