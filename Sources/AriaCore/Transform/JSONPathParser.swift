extension JSONPathExpression {
    /// Tokens of the expression language.
    enum Token: Equatable {
        case identifier(String), quoted(String), rawString(String), json(String), number(Int)
        case dot, star, lbracket, rbracket, filter, flatten, lbrace, rbrace, lparen, rparen, comma, colon
        case pipe, or, and, not, comparator(String), current, end

        /// Left binding power (JMESPath's table).
        var power: Int {
            switch self {
            case .pipe: 1
            case .or: 2
            case .and: 3
            case .comparator: 5
            case .flatten: 9
            case .star: 20
            case .filter: 21
            case .dot: 40
            case .not: 45
            case .lbrace: 50
            case .lbracket: 55
            case .lparen: 60
            default: 0
            }
        }
    }

    /// A Pratt parser over the token stream.
    struct Parser {
        let text: [Unicode.Scalar]
        var position = 0
        var tokens: [(Token, Int)] = []
        var index = 0

        init(_ text: [Unicode.Scalar]) { self.text = text }

        var atEnd: Bool { current == .end }
        var current: Token { index < tokens.count ? tokens[index].0 : .end }
        var peekDescription: String { "\(current)" }

        func error(_ message: String) -> AriaError {
            let at = index < tokens.count ? tokens[index].1 : text.count
            return AriaError(.invalidParams, "expression: \(message) at character \(at)")
        }

        mutating func advance() { index += 1 }

        mutating func expect(_ token: Token) throws(AriaError) {
            guard current == token else { throw error("expected \(token), found \(current)") }
            advance()
        }

        mutating func tokenize() throws(AriaError) {
            tokens = []
            var i = 0
            func isIdentStart(_ c: Unicode.Scalar) -> Bool { c == "_" || (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") }
            func isIdent(_ c: Unicode.Scalar) -> Bool { isIdentStart(c) || (c >= "0" && c <= "9") }
            while i < text.count {
                let c = text[i]
                let start = i
                if c == " " || c == "\t" || c == "\n" || c == "\r" { i += 1; continue }
                if isIdentStart(c) {
                    var name = ""
                    while i < text.count, isIdent(text[i]) { name.unicodeScalars.append(text[i]); i += 1 }
                    tokens.append((.identifier(name), start)); continue
                }
                if (c >= "0" && c <= "9") || (c == "-" && i + 1 < text.count && text[i + 1] >= "0" && text[i + 1] <= "9") {
                    var digits = String(c); i += 1
                    while i < text.count, text[i] >= "0", text[i] <= "9" { digits.unicodeScalars.append(text[i]); i += 1 }
                    guard let number = Int(digits) else { throw AriaError(.invalidParams, "expression: bad number at character \(start)") }
                    tokens.append((.number(number), start)); continue
                }
                if c == "\"" || c == "'" || c == "`" {
                    var body = ""; i += 1
                    var closed = false
                    while i < text.count {
                        if text[i] == "\\", i + 1 < text.count, text[i + 1] == c { body.unicodeScalars.append(c); i += 2; continue }
                        if text[i] == c { closed = true; i += 1; break }
                        body.unicodeScalars.append(text[i]); i += 1
                    }
                    guard closed else { throw AriaError(.invalidParams, "expression: unterminated \(c) at character \(start)") }
                    tokens.append((c == "\"" ? .quoted(body) : c == "'" ? .rawString(body) : .json(body), start)); continue
                }
                let next: Unicode.Scalar? = i + 1 < text.count ? text[i + 1] : nil
                switch c {
                case ".": tokens.append((.dot, start)); i += 1
                case "*": tokens.append((.star, start)); i += 1
                case "@": tokens.append((.current, start)); i += 1
                case "]": tokens.append((.rbracket, start)); i += 1
                case "{": tokens.append((.lbrace, start)); i += 1
                case "}": tokens.append((.rbrace, start)); i += 1
                case "(": tokens.append((.lparen, start)); i += 1
                case ")": tokens.append((.rparen, start)); i += 1
                case ",": tokens.append((.comma, start)); i += 1
                case ":": tokens.append((.colon, start)); i += 1
                case "[":
                    if next == "?" { tokens.append((.filter, start)); i += 2 }
                    else if next == "]" { tokens.append((.flatten, start)); i += 2 }
                    else { tokens.append((.lbracket, start)); i += 1 }
                case "|":
                    if next == "|" { tokens.append((.or, start)); i += 2 } else { tokens.append((.pipe, start)); i += 1 }
                case "&":
                    guard next == "&" else { throw AriaError(.invalidParams, "expression: '&' must be '&&' at character \(start)") }
                    tokens.append((.and, start)); i += 2
                case "!":
                    if next == "=" { tokens.append((.comparator("!="), start)); i += 2 } else { tokens.append((.not, start)); i += 1 }
                case "=":
                    guard next == "=" else { throw AriaError(.invalidParams, "expression: '=' must be '==' at character \(start)") }
                    tokens.append((.comparator("=="), start)); i += 2
                case "<", ">":
                    if next == "=" { tokens.append((.comparator(String(c) + "="), start)); i += 2 } else { tokens.append((.comparator(String(c)), start)); i += 1 }
                default:
                    throw AriaError(.invalidParams, "expression: unexpected '\(c)' at character \(start)")
                }
            }
        }

        mutating func parseExpression(_ power: Int) throws(AriaError) -> Node {
            if tokens.isEmpty && index == 0 {
                try tokenize()
                guard !tokens.isEmpty else { throw error("empty expression") }
            }
            var left = try nud()
            while power < current.power {
                left = try led(left)
            }
            return left
        }

        mutating func nud() throws(AriaError) -> Node {
            let token = current
            advance()
            switch token {
            case .identifier(let name):
                if current == .lparen { return try function(name) }
                return .field(name)
            case .quoted(let name): return .field(name)
            case .rawString(let text): return .literal(.string(text))
            case .json(let text):
                do { return .literal(try JSONValue(parsing: Array(text.utf8))) } catch {
                    throw self.error("bad JSON literal")
                }
            case .current: return .current
            case .star: return .valuesProjection(.current, try projectionRHS(Token.star.power))
            case .not: return .not(try parseExpression(Token.not.power))
            case .lparen:
                let inner = try parseExpression(0)
                try expect(.rparen)
                return inner
            case .lbrace: return try multiHash()
            case .flatten: return .flattenProjection(.current, try projectionRHS(Token.flatten.power))
            case .filter: return try filter(.current)
            case .lbracket:
                if case .number(let n) = current {
                    advance(); try expect(.rbracket)
                    return .index(n)
                }
                if current == .star, index + 1 < tokens.count, tokens[index + 1].0 == .rbracket {
                    advance(); advance()
                    return .projection(.current, try projectionRHS(Token.star.power))
                }
                return try multiList()
            default:
                throw error("unexpected \(token)")
            }
        }

        mutating func led(_ left: Node) throws(AriaError) -> Node {
            let token = current
            advance()
            switch token {
            case .dot:
                if current == .star {
                    advance()
                    return .valuesProjection(left, try projectionRHS(Token.star.power))
                }
                return .subexpression(left, try dotRHS(Token.dot.power))
            case .lbracket:
                if case .number(let n) = current {
                    advance(); try expect(.rbracket)
                    return .subexpression(left, .index(n))
                }
                try expect(.star); try expect(.rbracket)
                return .projection(left, try projectionRHS(Token.star.power))
            case .flatten: return .flattenProjection(left, try projectionRHS(Token.flatten.power))
            case .filter: return try filter(left)
            case .pipe: return .pipe(left, try parseExpression(Token.pipe.power))
            case .or: return .or(left, try parseExpression(Token.or.power))
            case .and: return .and(left, try parseExpression(Token.and.power))
            case .comparator(let op): return .comparison(op, left, try parseExpression(Token.comparator("").power))
            default: throw error("unexpected \(token)")
            }
        }

        mutating func filter(_ left: Node) throws(AriaError) -> Node {
            let condition = try parseExpression(0)
            try expect(.rbracket)
            return .filterProjection(left, condition, try projectionRHS(Token.filter.power))
        }

        mutating func projectionRHS(_ power: Int) throws(AriaError) -> Node {
            if current.power < 10 { return .current }
            switch current {
            case .lbracket, .filter, .flatten: return try parseExpression(power)
            case .dot:
                advance()
                return try dotRHS(power)
            default: throw error("unexpected \(current) after a projection")
            }
        }

        mutating func dotRHS(_ power: Int) throws(AriaError) -> Node {
            switch current {
            case .identifier, .quoted, .star: return try parseExpression(power)
            case .lbracket:
                advance()
                return try multiList()
            case .lbrace:
                advance()
                return try multiHash()
            default: throw error("expected a field name after '.'")
            }
        }

        mutating func multiList() throws(AriaError) -> Node {
            var items: [Node] = []
            while true {
                items.append(try parseExpression(0))
                if current == .comma { advance(); continue }
                try expect(.rbracket)
                return .multiList(items)
            }
        }

        mutating func multiHash() throws(AriaError) -> Node {
            var pairs: [(String, Node)] = []
            while true {
                let key: String
                switch current {
                case .identifier(let name), .quoted(let name): key = name
                default: throw error("expected a key in '{...}'")
                }
                advance()
                try expect(.colon)
                pairs.append((key, try parseExpression(0)))
                if current == .comma { advance(); continue }
                try expect(.rbrace)
                return .multiHash(pairs)
            }
        }

        mutating func function(_ name: String) throws(AriaError) -> Node {
            try expect(.lparen)
            var arguments: [Node] = []
            if current == .rparen { advance(); return .function(name, arguments) }
            while true {
                arguments.append(try parseExpression(0))
                if current == .comma { advance(); continue }
                try expect(.rparen)
                return .function(name, arguments)
            }
        }
    }
}
