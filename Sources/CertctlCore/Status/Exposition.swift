/// The Prometheus text exposition format, version 0.0.4, written into one buffer per family.
///
/// Families come out in the order they were first given a sample, each with its `# HELP` and
/// `# TYPE` line once and its samples in the order they were added. A label set given twice
/// keeps the last value, as a registry would. Label values escape `\`, `"` and line feeds, help
/// texts `\` and line feeds; gauges print as Swift prints a `Double` (`1.0`, `1.5`), with `NaN`
/// and `+Inf`/`-Inf` as the format spells them, counters as integers.
///
/// swift-prometheus 2.4.1's registry copies a family's whole dictionary of series for every new
/// label set, which made a first scrape of 5,000 certificates (about 50,000 series) take seconds;
/// this writer is linear in the series.
struct Exposition {
    enum Kind: String {
        case gauge, counter
    }

    /// A family's samples, each `name{labels} value` kept as ranges of two shared buffers: at
    /// 10,000 certificates (90,000 series) an array per series and per value held as much
    /// memory in headers and slack as in bytes.
    private struct Family {
        struct Sample {
            var series: Range<Int>
            var value: Range<Int>
            /// The previous sample whose series hashed alike, or -1.
            var sameHash: Int
        }

        var name: String
        var help: String
        var kind: Kind
        /// Every sample's `name{labels} ` prefix, one after the other.
        var series: [UInt8] = []
        /// Every sample's value; a repeated label set's new value is appended.
        var values: [UInt8] = []
        var samples: [Sample] = []
        /// The last sample of each series hash, for a repeated label set.
        var index: [Int: Int] = [:]

        mutating func add(series line: [UInt8], value: [UInt8]) {
            var hasher = Hasher()
            line.withUnsafeBytes { hasher.combine(bytes: $0) }
            let hash = hasher.finalize()
            let valueRange = values.count..<(values.count + value.count)
            var candidate = index[hash] ?? -1
            while candidate >= 0 {
                if series[samples[candidate].series].elementsEqual(line) {
                    values.append(contentsOf: value)
                    samples[candidate].value = valueRange
                    return
                }
                candidate = samples[candidate].sameHash
            }
            let seriesRange = series.count..<(series.count + line.count)
            series.append(contentsOf: line)
            values.append(contentsOf: value)
            samples.append(Sample(series: seriesRange, value: valueRange, sameHash: index[hash] ?? -1))
            index[hash] = samples.count - 1
        }
    }

    private var families: [Family] = []
    private var familyIndex: [String: Int] = [:]
    /// One series being written, reused from sample to sample.
    private var line: [UInt8] = []

    mutating func gauge(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: Double) {
        add(name, help, .gauge, labels: labels, value: Self.format(value))
    }

    mutating func counter(_ name: String, _ help: String, labels: [(String, String)] = [], _ value: Int) {
        add(name, help, .counter, labels: labels, value: Array(String(value).utf8))
    }

    private mutating func add(_ name: String, _ help: String, _ kind: Kind, labels: [(String, String)], value: [UInt8])
    {
        let position: Int
        if let known = familyIndex[name] {
            precondition(families[known].kind == kind, "\(name) is both a \(families[known].kind) and a \(kind)")
            position = known
        } else {
            position = families.count
            familyIndex[name] = position
            families.append(Family(name: name, help: help, kind: kind))
        }
        line.removeAll(keepingCapacity: true)
        line.append(contentsOf: name.utf8)
        if !labels.isEmpty {
            line.append(UInt8(ascii: "{"))
            for (offset, (label, labelValue)) in labels.enumerated() {
                if offset > 0 { line.append(UInt8(ascii: ",")) }
                line.append(contentsOf: label.utf8)
                line.append(contentsOf: #"=""#.utf8)
                Self.appendEscaped(labelValue, into: &line, quote: true)
                line.append(UInt8(ascii: "\""))
            }
            line.append(UInt8(ascii: "}"))
        }
        line.append(UInt8(ascii: " "))
        families[position].add(series: line, value: value)
    }

    /// The exposition as text.
    var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The exposition as UTF-8, in one buffer reserved at once (its size, a few bytes per family
    /// over): at 10,000 certificates it is 10 MB, and a buffer grown by doubling held 14 MB
    /// beside the last one.
    var bytes: [UInt8] {
        var size = 0
        for family in families {
            size += family.name.utf8.count * 2 + family.help.utf8.count * 2 + 32
            for sample in family.samples { size += sample.series.count + sample.value.count + 1 }
        }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(size)
        for family in families {
            buffer.append(contentsOf: "# HELP \(family.name) ".utf8)
            Self.appendEscaped(family.help, into: &buffer, quote: false)
            buffer.append(contentsOf: "\n# TYPE \(family.name) \(family.kind.rawValue)\n".utf8)
            for sample in family.samples {
                buffer.append(contentsOf: family.series[sample.series])
                buffer.append(contentsOf: family.values[sample.value])
                buffer.append(UInt8(ascii: "\n"))
            }
        }
        return buffer
    }

    static func format(_ value: Double) -> [UInt8] {
        if value.isNaN { return Array("NaN".utf8) }
        if value.isInfinite { return Array((value < 0 ? "-Inf" : "+Inf").utf8) }
        return Array(value.description.utf8)
    }

    private static func appendEscaped(_ text: String, into buffer: inout [UInt8], quote: Bool) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): buffer.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): buffer.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\"") where quote: buffer.append(contentsOf: #"\""#.utf8)
            default: buffer.append(byte)
            }
        }
    }
}
