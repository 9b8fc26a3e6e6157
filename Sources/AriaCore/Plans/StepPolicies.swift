import Foundation

/// A step's error policy: what happens once the step has failed for good (after its retries, if any).
public enum OnError: String, Codable, Sendable, Equatable, CaseIterable {
    /// The run fails; steps not yet started are skipped, running ones are told to stop.
    case abort
    /// The step stays failed and the run goes on; dependents follow their join rule.
    case `continue`
    /// The step is retried under its retry policy (a default one when it sets none); when the attempts are
    /// used up, or the error is not retryable, the run fails as under `abort`.
    case retry
    /// After the step's retries (if any), its `fallback_skill` runs once with `fallback_params`; the step
    /// succeeds with the fallback's output, or the run fails as under `abort`.
    case fallback
}

/// When a step whose dependencies have all ended runs.
public enum JoinRule: String, Codable, Sendable, Equatable, CaseIterable {
    /// Runs only if every dependency succeeded; skipped (with the reason) if any was skipped or failed
    /// under `continue`. The default.
    case allSucceeded = "all_succeeded"
    /// Runs once every dependency has ended, whatever the outcome; references to the output of a dependency
    /// that did not succeed resolve to `null`.
    case allDone = "all_done"
}

/// How the delay between two attempts grows.
public enum Backoff: String, Codable, Sendable, Equatable, CaseIterable {
    /// Always `initial_delay`.
    case constant
    /// `initial_delay × n` before retry n.
    case linear
    /// `initial_delay × 2^(n-1)` before retry n.
    case exponential
}

/// A step's retry policy.
///
/// Before retry `n` (attempt `n + 1`), the delay is the backoff's base delay capped at `max_delay`, then
/// spread uniformly over ±`jitter` of itself and capped again. Only errors whose category is in
/// `retryable` are retried.
public struct RetryPolicy: Codable, Sendable, Equatable {
    /// Attempts in all, the first included (1...20).
    public var maxAttempts: Int
    /// How the delay grows.
    public var backoff: Backoff
    /// The delay before the first retry.
    public var initialDelay: AriaDuration
    /// The largest delay.
    public var maxDelay: AriaDuration
    /// The fraction (0...1) of the delay that is randomized.
    public var jitter: Double
    /// The error categories worth another attempt.
    public var retryable: [ErrorCategory]

    /// The policy of `on_error: retry` without a `retry` object: 3 attempts, exponential from 1 s up to
    /// 1 min, 20 % jitter, transient and resource errors.
    public static let standard = RetryPolicy()

    /// Creates a policy.
    public init(maxAttempts: Int = 3, backoff: Backoff = .exponential, initialDelay: AriaDuration = .seconds(1), maxDelay: AriaDuration = .minutes(1), jitter: Double = 0.2, retryable: [ErrorCategory] = [.transient, .resource]) {
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.jitter = jitter
        self.retryable = retryable
    }

    /// Whether an error of `error`'s category may be retried.
    public func isRetryable(_ error: AriaError) -> Bool { retryable.contains(error.category) }

    /// The delay before retry `retry` (1 = the second attempt); `unit` is a random number in 0..<1.
    public func delay(beforeRetry retry: Int, unit: Double) -> AriaDuration {
        let n = max(1, retry)
        let initial = Double(initialDelay.milliseconds)
        let base: Double
        switch backoff {
        case .constant: base = initial
        case .linear: base = initial * Double(n)
        case .exponential: base = initial * pow(2, Double(min(n - 1, 40)))
        }
        let cap = Double(maxDelay.milliseconds)
        let capped = min(base, cap)
        let spread = capped * (1 + jitter * (2 * min(max(unit, 0), 1) - 1))
        return AriaDuration(milliseconds: Int64(min(max(spread, 0), cap).rounded()))
    }

    enum CodingKeys: String, CodingKey {
        case maxAttempts = "max_attempts", backoff, jitter
        case initialDelay = "initial_delay"
        case maxDelay = "max_delay"
        case retryable = "retryable_categories"
    }
}

/// A test on an earlier step's output that decides whether a step runs (false: the step is skipped).
public struct StepCondition: Codable, Sendable, Equatable {
    /// The step whose output is tested; must be one of the step's (direct or indirect) dependencies.
    public var stepID: StepID
    /// A dotted path into that output (`status`, `items.0.name`); absent for the whole output.
    public var field: String?
    /// The comparison.
    public var op: ConditionOperator
    /// The operand (absent for `exists` and `not_exists`).
    public var value: JSONValue?

    /// Creates a condition.
    public init(stepID: StepID, field: String? = nil, op: ConditionOperator, value: JSONValue? = nil) {
        self.stepID = stepID
        self.field = field
        self.op = op
        self.value = value
    }

    /// Evaluates the condition on the tested step's output (nil when that step produced none: it was
    /// skipped or failed). A missing field makes every operator false except `not_exists`.
    public func evaluate(output: JSONValue?) -> Bool {
        let path = field.map { $0.split(separator: ".").map(String.init) } ?? []
        let found = output?.value(atPath: path)
        let present = found.map { !$0.isNull } ?? false
        switch op {
        case .exists: return present
        case .notExists: return !present
        default: break
        }
        guard let found, present, let value else { return false }
        switch op {
        case .eq: return Self.equal(found, value)
        case .ne: return !Self.equal(found, value)
        case .gt, .lt:
            if let a = found.doubleValue, let b = value.doubleValue { return op == .gt ? a > b : a < b }
            if let a = found.stringValue, let b = value.stringValue { return op == .gt ? a > b : a < b }
            return false
        case .contains:
            switch found {
            case .string(let text): return value.stringValue.map { text.contains($0) } ?? false
            case .array(let items): return items.contains { Self.equal($0, value) }
            case .object(let fields): return value.stringValue.map { fields[$0] != nil } ?? false
            default: return false
            }
        case .matches:
            guard let text = found.stringValue, let pattern = value.stringValue,
                  let regex = try? NSRegularExpression(pattern: pattern) else { return false }
            return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        case .exists, .notExists:
            return false
        }
    }

    /// JSON equality where `1` equals `1.0`.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        if let x = a.doubleValue, let y = b.doubleValue { return x == y }
        return a == b
    }

    enum CodingKeys: String, CodingKey {
        case stepID = "step_id", field, value
        case op = "operator"
    }
}

/// The comparisons a condition may make.
public enum ConditionOperator: String, Codable, Sendable, Equatable, CaseIterable {
    /// Equal (numbers compare by value).
    case eq
    /// Not equal (a missing field is neither equal nor unequal: false).
    case ne
    /// Greater than (numbers, or strings by code point).
    case gt
    /// Less than (numbers, or strings by code point).
    case lt
    /// The field is present and not null.
    case exists
    /// The field is absent or null (also when the tested step produced no output).
    case notExists = "not_exists"
    /// A string contains the substring, an array contains the element, an object has the key.
    case contains
    /// A string matches the regular expression (ICU syntax, unanchored).
    case matches

    /// Whether the operator takes a `value`.
    public var needsValue: Bool { self != .exists && self != .notExists }
}
