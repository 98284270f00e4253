import Foundation

/// Label selectors as `k8s.io/apimachinery/pkg/labels.Parse` reads them, with its error texts
/// (`unable to parse requirement: found '=', expected: identifier`).
struct LabelSelector: Sendable {
    struct ParseError: Error {
        var message: String
    }

    enum Operator: String, Sendable {
        case exists
        case doesNotExist = "!"
        case equals = "="
        case doubleEquals = "=="
        case notEquals = "!="
        case `in`
        case notIn = "notin"
        case greaterThan = "gt"
        case lessThan = "lt"
    }

    struct Requirement: Sendable {
        var key: String
        var op: Operator
        var values: [String]

        func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            case .equals, .doubleEquals, .in: return value.map(values.contains) ?? false
            case .notEquals, .notIn: return value.map { !values.contains($0) } ?? true
            case .greaterThan, .lessThan:
                guard let value, let number = Int64(value), let bound = values.first.flatMap({ Int64($0) }) else {
                    return false
                }
                return op == .greaterThan ? number > bound : number < bound
            }
        }
    }

    var requirements: [Requirement] = []

    func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    // MARK: Lexer

    private enum Token: Equatable {
        case identifier(String)
        case symbol(String)
        case end

        var literal: String {
            switch self {
            case .identifier(let text), .symbol(let text): text
            case .end: ""
            }
        }
    }

    private static let symbols: Set<String> = ["!", "!=", "(", ")", ",", "=", "==", ">", "<"]
    private static let specials: Set<Character> = ["=", "!", "(", ")", ",", ">", "<"]

    private static func tokens(_ text: String) -> [Token] {
        var result: [Token] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character.isWhitespace {
                index = text.index(after: index)
            } else if specials.contains(character) {
                var symbol = String(character)
                var next = text.index(after: index)
                while next < text.endIndex, symbols.contains(symbol + String(text[next])) {
                    symbol.append(text[next])
                    next = text.index(after: next)
                }
                result.append(.symbol(symbol))
                index = next
            } else {
                var word = ""
                while index < text.endIndex, !text[index].isWhitespace, !specials.contains(text[index]) {
                    word.append(text[index])
                    index = text.index(after: index)
                }
                result.append(.identifier(word))
            }
        }
        result.append(.end)
        return result
    }

    // MARK: Parser

    init(_ text: String) throws(ParseError) {
        let tokens = Self.tokens(text)
        var position = 0
        func peek() -> Token { tokens[min(position, tokens.count - 1)] }
        func next() -> Token {
            defer { position += 1 }
            return peek()
        }
        func fail(_ message: String, requirement: Bool = true) -> ParseError {
            ParseError(message: requirement ? "unable to parse requirement: \(message)" : message)
        }
        func isKeyStart(_ token: Token) -> Bool {
            if case .identifier = token { return true }
            return token == .symbol("!")
        }
        while true {
            let token = peek()
            if token == .end { return }
            guard isKeyStart(token) else {
                throw fail("found '\(token.literal)', expected: !, identifier, or 'end of string'", requirement: false)
            }
            // The key, and an operator inferred from what follows it.
            var negated = false
            var keyToken = next()
            if keyToken == .symbol("!") {
                negated = true
                keyToken = next()
            }
            guard case .identifier(let key) = keyToken else {
                throw fail("found '\(keyToken.literal)', expected: identifier")
            }
            let keyErrors = NameRules.qualifiedName(key)
            if !keyErrors.isEmpty {
                throw fail("Invalid value: \(GoTime.quote(key)): \(keyErrors.joined(separator: "; "))")
            }
            let after = peek()
            if negated || after == .end || after == .symbol(",") {
                requirements.append(Requirement(key: key, op: negated ? .doesNotExist : .exists, values: []))
            } else {
                let operatorToken = next()
                let op: Operator
                switch operatorToken {
                case .identifier("in"): op = .in
                case .identifier("notin"): op = .notIn
                case .symbol("="): op = .equals
                case .symbol("=="): op = .doubleEquals
                case .symbol("!="): op = .notEquals
                case .symbol(">"): op = .greaterThan
                case .symbol("<"): op = .lessThan
                default:
                    throw fail("found '\(operatorToken.literal)', expected: !=, <, =, ==, >, in, notin")
                }
                var values: [String] = []
                if op == .in || op == .notIn {
                    let open = next()
                    guard open == .symbol("(") else { throw fail("found '\(open.literal)', expected: '('") }
                    while true {
                        let item = next()
                        switch item {
                        case .identifier(let value):
                            values.append(value)
                            let separator = next()
                            if separator == .symbol(")") { break }
                            guard separator == .symbol(",") else {
                                throw fail("found '\(separator.literal)', expected: ',' or ')'")
                            }
                            continue
                        case .symbol(")"):
                            break
                        case .symbol(","):
                            values.append("")
                            continue
                        default:
                            throw fail("found '\(item.literal)', expected: ',', ')' or identifier")
                        }
                        break
                    }
                    if values.isEmpty { throw fail("for 'in', 'notin' operators, values set can't be empty") }
                } else {
                    let value = peek()
                    if value == .end || value == .symbol(",") {
                        values = [""]
                    } else if case .identifier(let text) = next() {
                        values = [text]
                    } else {
                        throw fail("found '\(value.literal)', expected: identifier")
                    }
                    if op == .greaterThan || op == .lessThan, Int64(values[0]) == nil {
                        throw fail(
                            "for 'Gt', 'Lt' operators, the value must be an integer")
                    }
                }
                for value in values {
                    let errors = NameRules.labelValue(value)
                    if !errors.isEmpty {
                        throw fail("Invalid value: \(GoTime.quote(value)): \(errors.joined(separator: "; "))")
                    }
                }
                requirements.append(Requirement(key: key, op: op, values: values))
            }
            let separator = next()
            switch separator {
            case .end: return
            case .symbol(","):
                guard isKeyStart(peek()) else {
                    throw fail("found '\(peek().literal)', expected: identifier after ','", requirement: false)
                }
            default:
                throw fail("found '\(separator.literal)', expected: ',' or 'end of string'", requirement: false)
            }
        }
    }
}

/// Field selectors (`fields.ParseSelector`): `a=b`, `a==b`, `a!=b`, comma-separated, `\` escapes.
struct FieldSelector: Sendable {
    struct Requirement: Sendable {
        var field: String
        var value: String
        var negated: Bool
    }

    var requirements: [Requirement] = []

    init(_ text: String) throws(LabelSelector.ParseError) {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                current.append(character)
                escaped = true
            } else if character == "," {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        for part in parts where !part.isEmpty {
            let operators = ["!=", "==", "="]
            guard let (op, range) = operators.lazy.compactMap({ op in part.range(of: op).map { (op, $0) } }).first
            else {
                throw LabelSelector.ParseError(message: "invalid selector: '\(text)'; can't understand '\(part)'")
            }
            let value = String(part[range.upperBound...]).replacingOccurrences(of: "\\,", with: ",")
                .replacingOccurrences(of: "\\=", with: "=").replacingOccurrences(of: "\\\\", with: "\\")
            requirements.append(
                Requirement(field: String(part[..<range.lowerBound]), value: value, negated: op == "!="))
        }
    }
}
