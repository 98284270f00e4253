import Foundation

/// Left-aligned text columns separated by two spaces; a cell may be styled (colour) after its
/// width is measured, so escape codes never break the alignment.
public enum TextTable {
    public static func render(
        _ rows: [[String]], style: ((_ row: Int, _ column: Int, _ padded: String) -> String)? = nil
    ) -> String {
        guard let first = rows.first else { return "" }
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
