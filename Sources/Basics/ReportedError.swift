/// The one shape of the errors certctl's modules throw: a stable code (for logs, metrics and
/// tests), the object concerned (a file, a Kubernetes object, a URL), and a sentence for the
/// operator that says what went wrong and, where it can, what to do.
public protocol ReportedError: Error, Sendable, CustomStringConvertible {
    associatedtype Code: RawRepresentable<String> & Sendable
    var code: Code { get }
    /// What it concerns (`issuers/pebble.yaml`, `Secret default/kubelego-tls-binder`, a URL).
    var object: String? { get }
    var reason: String { get }
    /// It goes away only when the operator changes the configuration or the input (exit 64+);
    /// otherwise another attempt may succeed.
    var isConfigurationError: Bool { get }
}

extension ReportedError {
    public var description: String { object.map { "\($0): \(reason)" } ?? reason }
    public var isConfigurationError: Bool { false }
}
