import Yams

/// Every document of a multi-document YAML text, with the line it starts on; a syntax error
/// anywhere fails the whole file with Yams' line and column.
enum YAMLDocuments {
    struct Document {
        var value: Any
        var line: Int
    }

    static func parse(_ text: String, source: String, code: CertctlError.Code) throws -> [Document] {
        do {
            let parser = try Parser(yaml: text)
            var documents: [Document] = []
            while let node = try parser.nextRoot() {
                documents.append(Document(value: node.any, line: node.mark.map { $0.line } ?? 0))
            }
            return documents
        } catch {
            throw CertctlError(code, object: source, "is not valid YAML: \(error)")
        }
    }
}
