import AriaBus
import AriaCore
import AriaNATS
import AriaRuntime
import AriaStore
import Logging
import ServiceLifecycle

/// Drives runs: on a run start or a step completion it applies ``RunScheduler`` to the run's committed
/// state under a row lock, dispatching ready steps and finishing the run. Stateless; any number of replicas.
public struct Scheduler: Sendable {
    let context: ServiceContext
    let catalog: SkillCatalog

    /// Creates a scheduler.
    public init(context: ServiceContext, catalog: SkillCatalog = .builtIn) {
        self.context = context
        self.catalog = catalog
    }

    /// The scheduler's components: its consumer.
    public func services() async throws -> [any Service] {
        try await BusProvisioner(jetStream: context.jetStream, logger: context.logger).requireConsumer(stream: Streams.schedule, consumer: Consumers.scheduler)
        return [Reconciler(scheduler: self), RetryTimer(scheduler: self), ConsumerLoop(
            jetStream: context.jetStream, stream: Streams.schedule, consumer: Consumers.scheduler,
            slots: context.configuration.fetchBatch * 4, fetchBatch: context.configuration.fetchBatch,
            handlerBatch: context.configuration.fetchBatch, store: context.store,
            logger: context.logger) { messages in
                await self.handle(messages)
            }]
    }

    /// Decodes a scheduler message into the run and event it carries.
    static func decode(_ message: NATSMessage) -> Result<(TenantID, RunID, RunScheduler.Event), AriaError> {
        guard let header = try? Wire.peek(message.payload) else {
            return .failure(AriaError(.undecodableMessage, "cannot decode the envelope on \(message.subject)"))
        }
        switch header.type {
        case .runStart:
            return decodeInternal(EmptyBody.self, message, expecting: .runStart).flatMap { envelope in
                guard let run = envelope.run else { return .failure(AriaError(.undecodableMessage, "run.start without a run")) }
                return .success((envelope.tenant, run, .start))
            }
        case .stepFinished:
            return decodeInternal(StepFinishedBody.self, message, expecting: .stepFinished).flatMap { envelope in
                guard let run = envelope.run, let step = envelope.step else {
                    return .failure(AriaError(.undecodableMessage, "step.finished without a run or step"))
                }
                return .success((envelope.tenant, run, .stepFinished(step)))
            }
        default:
            return .failure(AriaError(.undecodableMessage, "the scheduler does not handle \(header.type)"))
        }
    }

    func handle(_ messages: [NATSMessage]) async -> [HandlingOutcome] {
        var outcomes = [HandlingOutcome](repeating: .committed, count: messages.count)
        var batch: [(index: Int, item: (tenant: TenantID, run: RunID, event: RunScheduler.Event))] = []
        var seen = Set<String>()
        for (index, message) in messages.enumerated() {
            switch Self.decode(message) {
            case .success(let (tenant, run, event)):
                // Level-triggered: two events of one run in a batch need only one evaluation.
                if seen.insert(run.description).inserted { batch.append((index, (tenant, run, event))) }
            case .failure(let error):
                outcomes[index] = .undecodable(error)
            }
        }
        guard !batch.isEmpty else { return outcomes }
        do {
            let (results, outbox) = try await context.store.advance(batch: batch.map(\.item), catalog: catalog)
            context.relay.publish(outbox)
            context.sendCancelNotices(results)
            log(results, items: batch.map(\.item))
        } catch {
            guard batch.count > 1 else {
                context.logger.warning("scheduling failed; will retry", metadata: ["run": "\(batch[0].item.run)", "error": "\(error)"])
                outcomes[batch[0].index] = .transient(transientError(error))
                return outcomes
            }
            for (index, item) in batch {
                do {
                    let (result, outbox) = try await context.store.advance(tenant: item.tenant, run: item.run, event: item.event, catalog: catalog)
                    context.relay.publish(outbox)
                    context.sendCancelNotices([result])
                    log([result], items: [item])
                } catch {
                    context.logger.warning("scheduling failed; will retry", metadata: ["run": "\(item.run)", "error": "\(error)"])
                    outcomes[index] = .transient(transientError(error))
                }
            }
        }
        return outcomes
    }

    private func log(_ results: [SchedulingResult], items: [(tenant: TenantID, run: RunID, event: RunScheduler.Event)]) {
        guard context.logger.logLevel <= .debug else { return }
        for (result, item) in zip(results, items) {
            context.logger.debug("scheduled", metadata: ["run": "\(item.run)", "actions": "\(result.actions)", "status": "\(result.status?.rawValue ?? "-")", "traceparent": "\(result.traceparent ?? "-")"])
        }
    }
}

/// Re-drives runs whose Postgres state says they should be moving but have not changed for a while: a
/// lost `run.start`, a lost dispatch, a lost `step.finished`, a step whose worker and message are gone.
/// Losing a bus message therefore delays work, never loses it. Any number of schedulers may run it: each
/// run is handled under its row lock, and a re-dispatch renews the step's timestamps.
struct Reconciler: Service {
    let scheduler: Scheduler

    func run() async throws {
        let context = scheduler.context
        let configuration = context.configuration
        let staleness = Staleness(dispatched: configuration.reconcileDispatchedAfter, running: configuration.reconcileRunningAfter)
        await everyInterval(configuration.reconcileInterval, context: context, failure: "reconciliation failed; will try again") {
            for (tenant, run) in try await context.store.idleRuns(idle: configuration.reconcileIdleAfter, limit: 200) {
                let (result, outbox) = try await context.store.reconcile(tenant: tenant, run: run, staleness: staleness, catalog: scheduler.catalog)
                context.relay.publish(outbox)
                context.sendCancelNotices([result])
                let moved = result.actions.filter { if case .ignore = $0 { false } else { true } }
                if !moved.isEmpty {
                    context.logger.notice("reconciler re-drove a run", metadata: ["run": "\(run)", "actions": "\(moved)", "traceparent": "\(result.traceparent ?? "-")"])
                }
            }
            // The watchdog: a run with no progress at all for the configured time fails, with a reason.
            let after = configuration.watchdogAfter
            for (tenant, run, waitingFor) in try await context.store.stalledRuns(after: after, limit: 100) {
                let error = RunStore.stalledError(after: after, waitingFor: waitingFor)
                let (result, outbox) = try await context.store.advance(tenant: tenant, run: run, event: .stalled(error), catalog: scheduler.catalog)
                context.relay.publish(outbox)
                context.sendCancelNotices([result])
                if result.status == .failed {
                    context.logger.warning("watchdog failed a stalled run", metadata: ["run": "\(run)", "reason": "\(error.message)"])
                }
            }
        }
    }
}

/// Dispatches waiting steps whose time has come (retry backoff over, breaker probe time), polling
/// Postgres every `ARIA_TIMER_INTERVAL`. Any number of schedulers may run it: each run is advanced under
/// its row lock and a step is dispatched once.
struct RetryTimer: Service {
    let scheduler: Scheduler

    func run() async throws {
        let context = scheduler.context
        await everyInterval(context.configuration.timerInterval, context: context, failure: "timer pass failed; will try again") {
            let due = try await context.store.dueRuns(limit: 200)
            guard !due.isEmpty else { return }
            let (results, outbox) = try await context.store.advance(batch: due.map { ($0.tenant, $0.run, .timer) }, catalog: scheduler.catalog)
            context.relay.publish(outbox)
            context.sendCancelNotices(results)
        }
    }
}
