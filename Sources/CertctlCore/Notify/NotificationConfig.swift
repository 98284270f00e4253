public import Foundation

/// Where notifications go (`--notify-config FILE`, YAML). Credentials are read from files
/// (a mounted Secret), never from the command line or the config itself:
///
///     interval: 24h            # never the same alert more often than this
///     channels:
///       - name: chat
///         webhook: {urlFile: /secrets/zulip-url, format: zulip}   # generic | slack | zulip
///       - name: alertmanager
///         alertmanager: {url: http://alertmanager:9093}
///       - name: mail
///         email: {smtp: "smtp://mail:587", starttls: true, from: certctl@example.org,
///                 to: [ops@example.org], username: certctl, passwordFile: /secrets/smtp-password,
///                 caFile: /etc/ssl/private-ca.pem}   # caFile only for a private CA
public struct NotificationConfig: Sendable {
    public enum WebhookFormat: String, Sendable {
        case generic, slack, zulip
    }

    public enum Channel: Sendable {
        case webhook(url: String, format: WebhookFormat)
        case alertmanager(url: String)
        case email(
            smtp: String, starttls: Bool, from: String, to: [String], username: String?, password: String?,
            caBundle: [UInt8]?)
    }

    public var interval: TimeInterval
    public var channels: [(name: String, channel: Channel)]

    public init(interval: TimeInterval = 86_400, channels: [(name: String, channel: Channel)]) {
        self.interval = interval
        self.channels = channels
    }

    public static func load(file path: String) throws -> NotificationConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertctlError(.invalidArgument, object: path, "cannot read the notification config")
        }
        return try parse(String(decoding: data, as: UTF8.self), source: path)
    }

    public static func parse(_ text: String, source: String) throws -> NotificationConfig {
        guard
            let root = try YAMLDocuments.parse(text, source: source, code: .invalidArgument).first?.value
                as? [String: Any]
        else {
            throw CertctlError(.invalidArgument, object: source, "is empty; give at least one channel")
        }
        let interval = try (root["interval"]).map { try duration($0, source: source) } ?? 86_400
        var channels: [(String, Channel)] = []
        for (index, entry) in ((root["channels"] as? [[String: Any]]) ?? []).enumerated() {
            let name = entry["name"] as? String ?? "channel \(index + 1)"
            let object = "\(source): channel \(name)"
            channels.append((name, try channel(entry, object: object)))
        }
        guard !channels.isEmpty else {
            throw CertctlError(.invalidArgument, object: source, "lists no channels")
        }
        return NotificationConfig(interval: interval, channels: channels)
    }

    /// One entry of `channels`.
    private static func channel(_ entry: [String: Any], object: String) throws -> Channel {
        if let webhook = entry["webhook"] as? [String: Any] {
            guard let url = try secret(webhook, "url", object: object) else {
                throw CertctlError(.invalidArgument, object: object, "webhook needs url or urlFile")
            }
            let formatName = webhook["format"] as? String ?? "generic"
            guard let format = WebhookFormat(rawValue: formatName) else {
                throw CertctlError(
                    .invalidArgument, object: object, "webhook format \(formatName) is not generic, slack or zulip")
            }
            return .webhook(url: url, format: format)
        } else if let manager = entry["alertmanager"] as? [String: Any], let url = manager["url"] as? String {
            return .alertmanager(url: url)
        } else if let email = entry["email"] as? [String: Any] {
            guard let smtp = email["smtp"] as? String, let from = email["from"] as? String,
                let to = email["to"] as? [String], !to.isEmpty
            else {
                throw CertctlError(.invalidArgument, object: object, "email needs smtp, from and to")
            }
            if email["password"] != nil {
                throw CertctlError(
                    .invalidArgument, object: object,
                    "put the SMTP password in a file (passwordFile), not in the config")
            }
            return .email(
                smtp: smtp,
                starttls: email["starttls"] as? Bool ?? true,
                from: from,
                to: to,
                username: email["username"] as? String,
                password: try secret(email, "password", object: object),
                caBundle: try (email["caFile"] as? String).map { path in
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw CertctlError(.invalidArgument, object: object, "cannot read caFile \(path)")
                    }
                    return Array(data)
                }
            )
        } else {
            throw CertctlError(.invalidArgument, object: object, "needs one of webhook, alertmanager or email")
        }
    }

    /// A channel's secret value: `KEY`, or the contents of the file `KEYFile` names.
    private static func secret(_ fields: [String: Any], _ key: String, object: String) throws -> String? {
        guard let path = fields[key + "File"] as? String else { return fields[key] as? String }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CertctlError(.invalidArgument, object: object, "cannot read \(key)File \(path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// `90`, `30m`, `6h`, `1d`.
    static func duration(_ value: Any, source: String) throws -> TimeInterval {
        let text = "\(value)"
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        if let last = text.last, let unit = units[last], let number = Double(text.dropLast()) { return number * unit }
        if let seconds = Double(text) { return seconds }
        throw CertctlError(.invalidArgument, object: source, "interval \(text) is not a duration like 6h or 1d")
    }
}
