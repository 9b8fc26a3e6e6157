import AriaCore
import Foundation
import Testing

private let now = Date(timeIntervalSince1970: 1_800_000_000)
private let settings = CircuitBreakerSettings(failureThreshold: 3, cooldown: .seconds(30))
private let earlier = AriaError(.stepTimeout, "an earlier timeout", category: .transient)

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    /// Stored snapshots covering every state and the boundaries that matter.
    enum Snapshot: String, CaseIterable, Sendable {
        case closedFresh, closedOneFailure, closedAtEdge
        case openCooling, openCooled
        case halfOpenIdle, halfOpenProbing, halfOpenProbeLost

        var breaker: CircuitBreaker {
            switch self {
            case .closedFresh: CircuitBreaker()
            case .closedOneFailure: CircuitBreaker(state: .closed, consecutiveFailures: 1, lastError: earlier)
            case .closedAtEdge: CircuitBreaker(state: .closed, consecutiveFailures: 2, lastError: earlier)
            case .openCooling: CircuitBreaker(state: .open, consecutiveFailures: 3, openedAt: now - 10, lastError: earlier)
            case .openCooled: CircuitBreaker(state: .open, consecutiveFailures: 3, openedAt: now - 30, lastError: earlier)
            case .halfOpenIdle: CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 60, lastError: earlier)
            case .halfOpenProbing: CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 60, probeAt: now - 5, lastError: earlier)
            case .halfOpenProbeLost: CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 90, probeAt: now - 30, lastError: earlier)
            }
        }
    }

    /// Every event: outcomes of each error category, a success, and a gate check.
    enum Event: String, CaseIterable, Sendable {
        case success, transient, resource, validation, permission, permanent, budget, gate

        var error: AriaError? {
            switch self {
            case .success, .gate: nil
            case .transient: AriaError(.stepTimeout, "timed out", category: .transient)
            case .resource: AriaError(.httpFailed, "too large", category: .resource)
            case .validation: AriaError(.invalidParams, "bad params", category: .validation)
            case .permission: AriaError(.destinationRefused, "refused", category: .permission)
            case .permanent: AriaError(.skillFailed, "gave up", category: .permanent)
            case .budget: AriaError(.skillFailed, "over budget", category: .budget)
            }
        }

        var counts: Bool { self == .transient || self == .resource }
    }

    /// The breaker after the event, whether it changed, and the gate answer (gate events only).
    static func expected(_ snapshot: Snapshot, _ event: Event) -> (CircuitBreaker, changed: Bool, gate: BreakerGate?) {
        let before = snapshot.breaker
        let unchanged = (before, changed: false, gate: BreakerGate?.none)
        switch (snapshot, event) {
        // Closed: counted failures add up and open at the threshold; a success resets; others change nothing.
        case (.closedFresh, .success): return unchanged
        case (.closedOneFailure, .success), (.closedAtEdge, .success):
            return (CircuitBreaker(state: .closed, consecutiveFailures: 0, lastError: earlier), true, nil)
        case (.closedFresh, _) where event.counts:
            return (CircuitBreaker(state: .closed, consecutiveFailures: 1, lastError: event.error), true, nil)
        case (.closedOneFailure, _) where event.counts:
            return (CircuitBreaker(state: .closed, consecutiveFailures: 2, lastError: event.error), true, nil)
        case (.closedAtEdge, _) where event.counts:
            return (CircuitBreaker(state: .open, consecutiveFailures: 3, openedAt: now, lastError: event.error), true, nil)
        case (.closedFresh, .gate), (.closedOneFailure, .gate), (.closedAtEdge, .gate): return (before, false, .allow)
        case (.closedFresh, _), (.closedOneFailure, _), (.closedAtEdge, _): return unchanged

        // Open: outcomes are stragglers and ignored; the gate waits out the cooldown, then takes the probe.
        case (.openCooling, .gate): return (before, false, .wait(until: now + 20))
        case (.openCooled, .gate):
            return (CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 30, probeAt: now, lastError: earlier), true, .probe)
        case (.openCooling, _), (.openCooled, _): return unchanged

        // Half open: success closes, a counted failure reopens, other failures free the probe.
        case (.halfOpenIdle, .success), (.halfOpenProbing, .success), (.halfOpenProbeLost, .success):
            return (CircuitBreaker(state: .closed, consecutiveFailures: 0, lastError: earlier), true, nil)
        case (.halfOpenIdle, _) where event.counts, (.halfOpenProbing, _) where event.counts, (.halfOpenProbeLost, _) where event.counts:
            return (CircuitBreaker(state: .open, consecutiveFailures: 4, openedAt: now, lastError: event.error), true, nil)
        case (.halfOpenIdle, .gate):
            return (CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 60, probeAt: now, lastError: earlier), true, .probe)
        case (.halfOpenProbing, .gate): return (before, false, .wait(until: now + 25))
        case (.halfOpenProbeLost, .gate):
            return (CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 90, probeAt: now, lastError: earlier), true, .probe)
        case (.halfOpenIdle, _): return unchanged
        case (.halfOpenProbing, _):
            return (CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 60, lastError: earlier), true, nil)
        case (.halfOpenProbeLost, _):
            return (CircuitBreaker(state: .halfOpen, consecutiveFailures: 3, openedAt: now - 90, lastError: earlier), true, nil)
        }
    }

    @Test("every (state, event) pair", arguments: Snapshot.allCases, Event.allCases)
    func everyPair(_ snapshot: Snapshot, _ event: Event) {
        var breaker = snapshot.breaker
        let (after, changed, gate) = Self.expected(snapshot, event)
        if event == .gate {
            let answer = breaker.gate(now: now, settings: settings)
            #expect(answer == gate)
            #expect((breaker != snapshot.breaker) == changed)
        } else {
            let didChange = breaker.record(event.error, now: now, settings: settings)
            #expect(didChange == changed)
        }
        #expect(breaker == after)
    }

    @Test("only transient and resource failures count")
    func countedCategories() {
        #expect(ErrorCategory.allCases.filter(CircuitBreaker.counts) == [.transient, .resource])
    }

    @Test("a full cycle: closed, open after the threshold, one probe after the cooldown, closed again")
    func fullCycle() {
        var breaker = CircuitBreaker.closed
        let failure = AriaError(.httpFailed, "connection refused", category: .transient)
        func record(_ error: AriaError?, _ at: Date) -> Bool { breaker.record(error, now: at, settings: settings) }
        func gate(_ at: Date) -> BreakerGate { breaker.gate(now: at, settings: settings) }
        #expect(record(failure, now))
        #expect(record(AriaError(.invalidParams, "bad", category: .validation), now) == false)
        #expect(record(failure, now))
        #expect(breaker.state == .closed)
        #expect(gate(now) == .allow)
        #expect(record(failure, now + 1))
        #expect(breaker.state == .open && breaker.openedAt == now + 1)
        #expect(gate(now + 2) == .wait(until: now + 31))
        #expect(gate(now + 31) == .probe)
        // The probe is out: the next caller waits, whatever it is.
        #expect(gate(now + 32) == .wait(until: now + 61))
        #expect(record(failure, now + 33))
        #expect(breaker.state == .open)
        #expect(gate(now + 40) == .wait(until: now + 63))
        #expect(gate(now + 63) == .probe)
        #expect(record(nil, now + 64))
        #expect(breaker.state == .closed && breaker.consecutiveFailures == 0 && breaker.openedAt == nil && breaker.probeAt == nil)
        #expect(gate(now + 64) == .allow)
        #expect(record(nil, now + 65) == false)
    }

    @Test("settings come from ARIA_BREAKER_* with defaults and bounds")
    func settingsFromEnvironment() throws {
        let defaults = try CircuitBreakerSettings(reader: ConfigReader(environment: [:]))
        #expect(defaults == CircuitBreakerSettings(failureThreshold: 5, cooldown: .seconds(30)))
        let custom = try CircuitBreakerSettings(reader: ConfigReader(environment: ["ARIA_BREAKER_FAILURE_THRESHOLD": "2", "ARIA_BREAKER_COOLDOWN": "1m30s"]))
        #expect(custom.failureThreshold == 2 && custom.cooldown == AriaDuration(milliseconds: 90_000))
        #expect(throws: AriaError.self) { try CircuitBreakerSettings(reader: ConfigReader(environment: ["ARIA_BREAKER_FAILURE_THRESHOLD": "0"])) }
        #expect(throws: AriaError.self) { try CircuitBreakerSettings(reader: ConfigReader(environment: ["ARIA_BREAKER_COOLDOWN": "soon"])) }
    }
}
