import Basics
import Foundation

/// Left-aligned text columns separated by two spaces; a cell may be styled (colour) after its
/// width is measured, so escape codes never break the alignment.
public enum TextTable {
    public static func render(
        _ rows: [[String]], style: ((_ row: Int, _ column: Int, _ padded: String) -> String)? = nil
    ) -> String {
        guard rows.first != nil else { return "" }
        // Cells hold values from outside (a record's last failure, a name): no escape sequence
        // or line break of theirs reaches the terminal.
        let rows = rows.map { $0.map(Bounded.printable) }
        let first = rows[0]
        var widths = Array(repeating: 0, count: first.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        return rows.enumerated().map { rowIndex, row in
            row.enumerated().map { index, cell in
                let padded =
                    index == row.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
                return style?(rowIndex, index, padded) ?? padded
            }.joined(separator: "  ").trimmingTrailingSpaces
        }.joined(separator: "\n") + "\n"
    }

    /// How one column gives way when the table is wider than the terminal.
    public struct Column: Sendable {
        /// Cut to no fewer than this many characters (with a marker); nil: never cut.
        public var shrinksTo: Int?
        /// Left out when cutting is not enough: lower goes first; nil: always shown.
        public var dropOrder: Int?
        /// Left out before any other cell is cut (a column that repeats another's facts).
        public var dropsBeforeCutting: Bool
        /// Cut in the middle (names, whose ends tell them apart: `kubelego-…-binder`), not at the end.
        public var cutsMiddle: Bool

        public init(
            shrinksTo: Int? = nil, dropOrder: Int? = nil, dropsBeforeCutting: Bool = false, cutsMiddle: Bool = false
        ) {
            self.shrinksTo = shrinksTo
            self.dropOrder = dropOrder
            self.dropsBeforeCutting = dropsBeforeCutting
            self.cutsMiddle = cutsMiddle
        }
    }

    /// The rows made to fit `width` characters: columns that repeat others dropped first, the
    /// others cut (with "…") down to their minimum, and dropped by `dropOrder` when that is not
    /// enough; what space is left is given back in `growOrder`. Returns the kept columns' indices and whether anything was cut or dropped.
    public static func fit(
        _ rows: [[String]], columns: [Column], width: Int, growOrder: [Int]
    ) -> (rows: [[String]], kept: [Int], cut: Bool) {
        guard let first = rows.first, first.count == columns.count, width > 0 else { return (rows, [], false) }
        var natural = Array(repeating: 0, count: first.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < natural.count {
                natural[index] = max(natural[index], cell.count)
            }
        }
        var kept = Array(first.indices)
        func minimum(_ index: Int) -> Int { min(natural[index], columns[index].shrinksTo ?? natural[index]) }
        func total(_ widths: (Int) -> Int) -> Int {
            kept.map(widths).reduce(0, +) + 2 * max(kept.count - 1, 0)
        }
        if total({ natural[$0] }) <= width { return (rows, kept, false) }
        let droppable = first.indices.filter { columns[$0].dropOrder != nil }
            .sorted { (columns[$0].dropOrder ?? 0) < (columns[$1].dropOrder ?? 0) }
        for index in droppable where columns[index].dropsBeforeCutting && total({ natural[$0] }) > width {
            kept.removeAll { $0 == index }
        }
        for index in droppable where total(minimum) > width {
            kept.removeAll { $0 == index }
        }
        var widths = Dictionary(uniqueKeysWithValues: kept.map { ($0, minimum($0)) })
        var spare = width - total { widths[$0] ?? 0 }
        for index in growOrder + kept where spare > 0 && kept.contains(index) {
            let grow = min(spare, natural[index] - (widths[index] ?? 0))
            widths[index, default: 0] += grow
            spare -= grow
        }
        var cut = kept.count < first.count
        let fitted = rows.enumerated().map { rowIndex, row in
            kept.map { index in
                let cell = row[index]
                let limit = widths[index] ?? cell.count
                guard cell.count > limit, limit > 0 else { return cell }
                if rowIndex > 0 { cut = true }
                guard columns[index].cutsMiddle, rowIndex > 0, limit >= 5 else {
                    return String(cell.prefix(limit - 1)) + "…"
                }
                let tail = (limit - 1) / 2
                return String(cell.prefix(limit - 1 - tail)) + "…" + String(cell.suffix(tail))
            }
        }
        return (fitted, kept, cut)
    }
}

extension String {
    var trimmingTrailingSpaces: String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}

/// `1 certificate`, `2 certificates`: a count and its noun (`plural` when it is not `noun + "s"`).
public func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}
