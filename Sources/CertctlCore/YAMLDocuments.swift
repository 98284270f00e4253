import Kubernetes

/// Every document of a multi-document YAML text, with the line it starts on; a syntax error
/// anywhere fails the whole file with Yams' line and column.
enum YAMLDocuments {
    struct Document {
        var value: Any
        var line: Int
    }

    static func parse(_ text: String, source: String, code: CertctlError.Code) throws -> [Document] {
        do {
            return try YAMLText.documents(text).map { Document(value: $0.value, line: $0.line) }
        } catch {
            throw CertctlError(code, object: source, "is not valid YAML: \(error)")
        }
    }
}
