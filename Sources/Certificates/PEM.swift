/// PEM documents (RFC 7468) read straight from bytes.
///
/// Every TLS Secret is read on every run and scrape; this reader decodes a chain with one pass
/// over its bytes. It is as strict as RFC 7468's lax parser in §3: text outside the
/// encapsulation boundaries is ignored, lines of base64 may have any length and end in LF or
/// CRLF, and spaces and tabs are allowed; a BEGIN without its matching END, any other character
/// inside, or bad padding is refused.
enum PEM {
    struct Document {
        var label: String
        var der: [UInt8]
    }

    static func documents(_ text: some Collection<UInt8>) throws -> [Document] {
        let bytes = Array(text)
        var documents: [Document] = []
        var position = 0
        while let begin = find(beginMarker, in: bytes, from: position) {
            let labelStart = begin + beginMarker.count
            guard let labelEnd = find(dashes, in: bytes, from: labelStart),
                !bytes[labelStart..<labelEnd].contains(UInt8(ascii: "\n"))
            else {
                throw CertificatesError(.invalidPEM, "a BEGIN line is not closed by -----")
            }
            let label = String(decoding: bytes[labelStart..<labelEnd], as: UTF8.self)
            let endLine = endMarker + Array(label.utf8) + dashes
            let bodyStart = labelEnd + dashes.count
            guard let end = find(endLine, in: bytes, from: bodyStart) else {
                throw CertificatesError(.invalidPEM, "BEGIN \(label) has no matching END \(label)")
            }
            documents.append(Document(label: label, der: try decodeBase64(bytes[bodyStart..<end], label: label)))
            position = end + endLine.count
        }
        return documents
    }

    private static let beginMarker = Array("-----BEGIN ".utf8)
    private static let endMarker = Array("-----END ".utf8)
    private static let dashes = Array("-----".utf8)

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count - start, let first = needle.first else { return nil }
        var index = start
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first {
                var matched = 1
                while matched < needle.count, haystack[index + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return index }
            }
            index += 1
        }
        return nil
    }

    /// 0-63 for the base64 alphabet, 64 for skipped whitespace, 65 for `=`, 255 for anything else.
    private static let alphabet: [UInt8] = {
        var table = [UInt8](repeating: 255, count: 256)
        for (value, character) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(clamping: character)] = UInt8(clamping: value)
        }
        for space in [UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: " "), UInt8(ascii: "\t")] {
            table[Int(clamping: space)] = 64
        }
        table[Int(clamping: UInt8(ascii: "="))] = 65
        return table
    }()

    private static func decodeBase64(_ body: ArraySlice<UInt8>, label: String) throws -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count * 3 / 4)
        var accumulator: UInt32 = 0
        var count = 0
        var padding = 0
        for byte in body {
            let value = alphabet[Int(clamping: byte)]
            switch value {
            case 64:
                continue
            case 65:
                padding += 1
                continue
            case 255:
                throw CertificatesError(.invalidPEM, "\(label) holds a character that is not base64")
            default:
                guard padding == 0 else {
                    throw CertificatesError(.invalidPEM, "\(label) has base64 after its padding")
                }
                accumulator = accumulator << 6 | UInt32(clamping: value)
                count += 1
                if count == 4 {
                    out.append(UInt8(truncatingIfNeeded: accumulator >> 16))
                    out.append(UInt8(truncatingIfNeeded: accumulator >> 8))
                    out.append(UInt8(truncatingIfNeeded: accumulator))
                    accumulator = 0
                    count = 0
                }
            }
        }
        switch (count, padding) {
        case (0, 0):
            break
        case (2, 2):
            out.append(UInt8(truncatingIfNeeded: accumulator >> 4))
        case (3, 1):
            out.append(UInt8(truncatingIfNeeded: accumulator >> 10))
            out.append(UInt8(truncatingIfNeeded: accumulator >> 2))
        default:
            throw CertificatesError(.invalidPEM, "\(label)'s base64 is cut short or wrongly padded")
        }
        guard !out.isEmpty else { throw CertificatesError(.invalidPEM, "\(label) is empty") }
        return out
    }
}
