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

    private struct Family {
        var name: String
        var help: String
        var kind: Kind
        /// Each sample's `name{labels} ` prefix and its value.
        var samples: [(series: [UInt8], value: [UInt8])] = []
        /// The position of a label set in `samples`, for a repeated one.
        var index: [[UInt8]: Int] = [:]
    }

    private var families: [Family] = []
    private var familyIndex: [String: Int] = [:]

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
        var series = Array(name.utf8)
        if !labels.isEmpty {
            series.append(UInt8(ascii: "{"))
            for (offset, (label, labelValue)) in labels.enumerated() {
                if offset > 0 { series.append(UInt8(ascii: ",")) }
                series.append(contentsOf: label.utf8)
                series.append(contentsOf: #"=""#.utf8)
                Self.appendEscaped(labelValue, into: &series, quote: true)
                series.append(UInt8(ascii: "\""))
            }
            series.append(UInt8(ascii: "}"))
        }
        series.append(UInt8(ascii: " "))
        if let existing = families[position].index[series] {
            families[position].samples[existing].value = value
        } else {
            families[position].index[series] = families[position].samples.count
            families[position].samples.append((series, value))
        }
    }

    /// The exposition as text.
    var text: String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(families.reduce(0) { $0 + $1.samples.count * 120 })
        for family in families {
            buffer.append(contentsOf: "# HELP \(family.name) ".utf8)
            Self.appendEscaped(family.help, into: &buffer, quote: false)
            buffer.append(contentsOf: "\n# TYPE \(family.name) \(family.kind.rawValue)\n".utf8)
            for sample in family.samples {
                buffer.append(contentsOf: sample.series)
                buffer.append(contentsOf: sample.value)
                buffer.append(UInt8(ascii: "\n"))
            }
        }
        return String(decoding: buffer, as: UTF8.self)
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
