import Foundation

/// Whether a scheduler may dispatch a step of a skill now, as its circuit breaker says.
public enum BreakerGate: Sendable, Equatable {
    /// The breaker is closed: dispatch.
    case allow
    /// The breaker is half open and this caller holds its single probe: dispatch this one step; its
    /// outcome closes the breaker again (success) or reopens it (a counted failure).
    case probe
    /// The breaker is open, or half open with its probe out: do not dispatch before `until`.
    case wait(until: Date)
}

/// The settings of every skill's circuit breaker.
public struct CircuitBreakerSettings: Sendable, Equatable, CustomStringConvertible {
    /// `ARIA_BREAKER_FAILURE_THRESHOLD`: consecutive counted failures that open a closed breaker. Default 5.
    public var failureThreshold: Int
    /// `ARIA_BREAKER_COOLDOWN`: how long an open breaker stays open before it lets one probe through; also
    /// how long a probe may stay unanswered before it is presumed lost and another is let through. Default 30s.
    public var cooldown: AriaDuration

    /// Creates settings.
    public init(failureThreshold: Int = 5, cooldown: AriaDuration = .seconds(30)) {
        self.failureThreshold = max(1, failureThreshold)
        self.cooldown = cooldown
    }

    /// Reads `ARIA_BREAKER_FAILURE_THRESHOLD` (1...10000) and `ARIA_BREAKER_COOLDOWN`.
    public init(reader: ConfigReader) throws(AriaError) {
        self.init(
            failureThreshold: try reader.int("ARIA_BREAKER_FAILURE_THRESHOLD", default: 5, range: 1...10_000),
            cooldown: try reader.duration("ARIA_BREAKER_COOLDOWN", default: .seconds(30)))
    }

    /// `threshold=<n> cooldown=<duration>`.
    public var description: String { "threshold=\(failureThreshold) cooldown=\(cooldown)" }
}

/// The circuit breaker of one skill, shared by the whole cluster (its state lives in Postgres).
///
/// Closed, it lets every step through and counts consecutive failures whose category says the skill
/// (or what it calls) is unwell: `transient` and `resource`. After `failureThreshold` of them it opens:
/// nothing is dispatched for a cooldown. Then a gate check turns it half open and lets one probe
/// through. The probe's success closes it; a counted failure opens it again for another cooldown. Other
/// failures (`validation`, `permission`, `permanent`, `budget`) say nothing about the skill's health:
/// they leave a closed breaker as it is and, in half open, free the probe for another step.
///
/// Outcomes that arrive while open (steps dispatched before it opened) are ignored. In half open any
/// outcome is taken as the probe's. Pure: the store reads a row, applies an event and writes the row back
/// only when the breaker changed.
public struct CircuitBreaker: Sendable, Equatable {
    /// The three states, as stored (`closed`, `open`, `half_open`).
    public enum State: String, Sendable, Equatable, Codable, CaseIterable {
        /// Steps go through; failures are counted.
        case closed
        /// No step goes through until the cooldown has passed.
        case open
        /// One probe step goes through at a time.
        case halfOpen = "half_open"
    }

    /// The state.
    public private(set) var state: State
    /// Consecutive counted failures while closed (the count that opened it, while open or half open).
    public private(set) var consecutiveFailures: Int
    /// When the breaker last opened (nil while it has never opened since it last closed).
    public private(set) var openedAt: Date?
    /// When the current probe was let through (half open only; nil when no probe is out).
    public private(set) var probeAt: Date?
    /// The last counted failure.
    public private(set) var lastError: AriaError?

    /// Creates a breaker from a stored snapshot.
    public init(state: State = .closed, consecutiveFailures: Int = 0, openedAt: Date? = nil, probeAt: Date? = nil, lastError: AriaError? = nil) {
        self.state = state
        self.consecutiveFailures = consecutiveFailures
        self.openedAt = openedAt
        self.probeAt = probeAt
        self.lastError = lastError
    }

    /// A closed breaker with no failures: what a skill without a stored breaker has.
    public static let closed = CircuitBreaker()

    /// Whether a failure of `category` counts toward opening the breaker (`transient`, `resource`).
    public static func counts(_ category: ErrorCategory) -> Bool {
        switch category {
        case .transient, .resource: true
        case .permanent, .permission, .validation, .budget: false
        }
    }

    /// Records the outcome of an attempt: `error` nil for a success. Returns whether the breaker changed
    /// (and must be stored); a success of a closed breaker without failures changes nothing.
    @discardableResult
    public mutating func record(_ error: AriaError?, now: Date, settings: CircuitBreakerSettings) -> Bool {
        let before = self
        let counted = error.map { Self.counts($0.category) }
        switch (state, counted) {
        case (.closed, nil):
            consecutiveFailures = 0
        case (.closed, true?):
            consecutiveFailures += 1
            lastError = error
            if consecutiveFailures >= settings.failureThreshold {
                state = .open
                openedAt = now
            }
        case (.closed, false?):
            break
        case (.open, _):
            break
        case (.halfOpen, nil):
            self = .closed
            lastError = before.lastError
        case (.halfOpen, true?):
            state = .open
            openedAt = now
            probeAt = nil
            consecutiveFailures += 1
            lastError = error
        case (.halfOpen, false?):
            probeAt = nil
        }
        return self != before
    }

    /// Decides whether a step may be dispatched now. Past an open breaker's cooldown (or a probe's), the
    /// caller takes the probe and the breaker changes: store it in the same transaction, under the row's
    /// lock, so that only one caller gets the probe.
    public mutating func gate(now: Date, settings: CircuitBreakerSettings) -> BreakerGate {
        let cooldown = TimeInterval(settings.cooldown.milliseconds) / 1000
        switch state {
        case .closed:
            return .allow
        case .open:
            let reopensAt = (openedAt ?? now).addingTimeInterval(cooldown)
            guard now >= reopensAt else { return .wait(until: reopensAt) }
            state = .halfOpen
            probeAt = now
            return .probe
        case .halfOpen:
            if let probeAt {
                let presumedLostAt = probeAt.addingTimeInterval(cooldown)
                guard now >= presumedLostAt else { return .wait(until: presumedLostAt) }
            }
            probeAt = now
            return .probe
        }
    }
}
