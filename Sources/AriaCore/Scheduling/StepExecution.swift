/// The attempt state machine of one step, as a worker sees it: starting an attempt on a delivery and
/// recording its outcome under a fencing token. Pure; the worker applies the actions in a transaction.
public struct StepExecution: Sendable, Equatable {
    /// Events a worker feeds in.
    public enum Event: Sendable, Equatable {
        /// A dispatch message was delivered (first delivery or redelivery).
        case deliver
        /// The attempt holding `fencingToken` ended with `outcome`.
        case finish(fencingToken: Int64, outcome: Outcome)
    }

    /// How an attempt ended.
    public enum Outcome: Sendable, Equatable {
        /// The skill returned an output.
        case succeeded
        /// The skill failed.
        case failed(AriaError)
    }

    /// What the worker must do.
    public enum Action: Sendable, Equatable {
        /// Record attempt `number` as running with `fencingToken`; if `superseding` is set, mark that earlier
        /// attempt superseded (its worker is presumed dead: its message was redelivered).
        case startAttempt(number: Int, fencingToken: Int64, superseding: Int?)
        /// Record the attempt's outcome and the step's new status; tell the scheduler.
        case record(Outcome)
        /// The step already ended: acknowledge the delivery and tell the scheduler again (idempotent).
        case alreadyFinished(StepStatus)
        /// The result comes from an attempt that no longer holds the lease: drop it.
        case rejectStale(expected: Int64, got: Int64)
        /// The delivery is not for a step that should run (pending, waiting, skipped, cancelled), or the result
        /// is for a cancelled step: acknowledge and drop it.
        case drop(String)
        /// The delivery or result names a step that does not exist: its run was never committed (a dispatch
        /// sent ahead of a transaction that rolled back, or that has not committed yet) or is gone.
        case unknownStep
    }

    /// The step's status.
    public private(set) var status: StepStatus
    /// How many attempts were started.
    public private(set) var attempts: Int
    /// The fencing token of the current attempt (0 before the first).
    public private(set) var fencingToken: Int64

    /// Creates the machine from a committed snapshot.
    public init(status: StepStatus, attempts: Int, fencingToken: Int64) {
        self.status = status
        self.attempts = attempts
        self.fencingToken = fencingToken
    }

    /// Applies `event` and returns the actions.
    public mutating func handle(_ event: Event) -> [Action] {
        switch (status, event) {
        case (.dispatched, .deliver), (.running, .deliver):
            let superseding = status == .running ? attempts : nil
            attempts += 1
            fencingToken += 1
            status = .running
            return [.startAttempt(number: attempts, fencingToken: fencingToken, superseding: superseding)]
        case (.succeeded, .deliver), (.failed, .deliver):
            return [.alreadyFinished(status)]
        case (.pending, .deliver), (.waiting, .deliver), (.skipped, .deliver), (.cancelled, .deliver):
            return [.drop("step is \(status.rawValue)")]
        case (.running, .finish(let token, let outcome)):
            guard token == fencingToken else { return [.rejectStale(expected: fencingToken, got: token)] }
            switch outcome {
            case .succeeded: status = .succeeded
            case .failed: status = .failed
            }
            return [.record(outcome)]
        case (.cancelled, .finish):
            return [.drop("step was cancelled; the result is discarded")]
        case (_, .finish(let token, _)):
            return [.rejectStale(expected: fencingToken, got: token)]
        }
    }
}
