import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// What standard output is: its width for tables, whether it takes colour.
enum Terminal {
    /// `COLUMNS` when set, else the terminal's width, else 100 (a pipe, a file, `kubectl logs`).
    static var width: Int {
        if let value = ProcessInfo.processInfo.environment["COLUMNS"], let columns = Int(value), columns > 0 {
            return columns
        }
        var size = winsize()
        if isatty(STDOUT_FILENO) == 1, ioctl(STDOUT_FILENO, UInt(clamping: TIOCGWINSZ), &size) == 0, size.ws_col > 0 {
            return Int(clamping: size.ws_col)
        }
        return 100
    }

    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// Colour on a terminal unless `NO_COLOR` is set (no-color.org).
    static var colour: Bool { isTerminal && ProcessInfo.processInfo.environment["NO_COLOR"] == nil }
}
