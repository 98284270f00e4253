/// certctl's version, in `--version` and the `User-Agent` of every request.
public enum CertctlVersion {
    public static let current = "0.1.0"
    public static var userAgent: String { "certctl/\(current)" }
}
