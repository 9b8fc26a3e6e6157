import AriaBus
import AriaCore
import AriaNATS
import AriaRuntime
import AriaStore
import Foundation
import Logging
import ServiceLifecycle

/// Executes step attempts of one skill pool. Records the attempt before executing it, records the result
/// under the attempt's fencing token, and acknowledges only after that commit.
public struct Worker: Sendable {
    let context: ServiceContext
    let skills: SkillSet
    let catalog: SkillCatalog

    /// Creates a worker.
    public init(context: ServiceContext, skills: SkillSet = .builtIn, catalog: SkillCatalog = .builtIn) {
        self.context = context
        self.skills = skills
        self.catalog = catalog
    }

    /// The worker's components: its presence (``WorkerPresenceService``), the cancel listener and its
    /// consumer, with `ARIA_WORKER_SLOTS` slots.
    public func services() async throws -> [any Service] {
        let consumer = Consumers.worker(pool: context.configuration.workerPool)
        try await BusProvisioner(jetStream: context.jetStream, logger: context.logger).requireConsumer(stream: Streams.work, consumer: consumer)
        // A running step extends its lease (JetStream in-progress ack and Postgres lease) three times per ack
        // wait, so a step may run longer than the ack wait while a dead worker's steps come back after one.
        let ackWait = try await context.jetStream.consumerInfo(stream: Streams.work, consumer: consumer).config.ackWait
        let heartbeat = max(ackWait / 3, .milliseconds(100))
        let lease = AriaDuration(milliseconds: max(1, Int64(ackWait.components.seconds * 1000 + ackWait.components.attoseconds / 1_000_000_000_000_000)))
        context.logger.info("lease heartbeat", metadata: ["ack_wait": "\(ackWait)", "interval": "\(heartbeat)"])
        let attempts = RunningAttempts()
        // Attempt starts and results of concurrent slots share transactions (group commit).
        let store = context.store, relay = context.relay, worker = context.configuration.instance, catalog = catalog
        let inline = inlineExecution()
        let commits = AttemptCommits(
            begin: GroupCommitter(lanes: 2, maxBatch: 64) { starts in
                let (decisions, outbox) = try await store.beginAttempts(starts, worker: worker)
                relay.publish(outbox)
                return decisions
            },
            finish: GroupCommitter(lanes: 2, maxBatch: 64) { finishes in
                let (actions, outbox, scheduling) = try await store.finishAttempts(finishes, catalog: catalog, inline: inline)
                relay.publish(outbox)
                context.sendCancelNotices(scheduling)
                return actions
            })
        let inFlight = SharedCounter()
        // Presence first: it stops after the consumer has drained.
        return [try await WorkerPresenceService.make(context: context, skills: skills, inFlight: inFlight),
                CancelListener(connection: context.nats, attempts: attempts, logger: context.logger), ConsumerLoop(
            jetStream: context.jetStream, stream: Streams.work, consumer: consumer,
            slots: context.configuration.workerSlots, fetchBatch: min(context.configuration.fetchBatch, context.configuration.workerSlots),
            handlerBatch: 1, store: context.store, logger: context.logger, inFlight: inFlight) { messages in
                var outcomes: [HandlingOutcome] = []
                for message in messages { outcomes.append(await self.handle(message, heartbeat: heartbeat, lease: lease, attempts: attempts, commits: commits)) }
                return outcomes
            }]
    }

    /// How this worker's result transactions execute the pure steps they dispatch (nil: off): the skills
    /// of its own pool that compute their output at once (``InlineSkill``), checked against their schemas
    /// as on any other path, and recorded as optimistic attempts of this worker.
    func inlineExecution() -> InlineExecution? {
        let ownPool = Subjects.workIntake(pool: context.configuration.workerPool)
        return InlineExecution.pure(skills.skills.values.compactMap { $0 as? any InlineSkill }, limit: context.configuration.workerInlineSteps,
                                    instance: context.configuration.instance, logger: context.logger) { $0 == ownPool }
    }

    /// How an attempt's execution ended on this worker.
    enum AttemptEnd: Sendable {
        /// The skill returned (or the ledger had the result).
        case finished(StepExecution.Outcome, JSONValue?)
        /// The attempt was told to stop (cancel notice) or lost its lease.
        case stopped(String)
    }

    /// The group committers of attempt starts and results.
    struct AttemptCommits: Sendable {
        let begin: GroupCommitter<AttemptStart, AttemptDecision>
        let finish: GroupCommitter<AttemptFinish, StepExecution.Action>
    }

    func handle(_ message: NATSMessage, heartbeat: Duration, lease: AriaDuration, attempts: RunningAttempts, commits: AttemptCommits) async -> HandlingOutcome {
        let envelope: Envelope<StepDispatchBody>
        switch decodeInternal(StepDispatchBody.self, message, expecting: .stepDispatch) {
        case .success(let decoded): envelope = decoded
        case .failure(let error): return .undecodable(error)
        }
        guard let run = envelope.run, let step = envelope.step else {
            return .undecodable(AriaError(.undecodableMessage, "step.dispatch without a run or step"))
        }
        var logger = context.logger
        logger[metadataKey: "run"] = "\(run)"
        logger[metadataKey: "step"] = "\(step)"
        if let trace = envelope.traceparent { logger[metadataKey: "traceparent"] = "\(trace)" }
        let body = envelope.body
        // Sent while the transaction creating its run was committing: the store waits for it.
        let ahead = message.header(AriaHeader.ahead) != nil
        if skills.skills[body.skill]?.descriptor.pure == true {
            return await runOptimistically(envelope, run: run, step: step, ahead: ahead, commits: commits, logger: logger)
        }
        let decision: AttemptDecision
        do {
            let start = AttemptStart(tenant: envelope.tenant, run: run, step: step, skill: body.skill, traceparent: envelope.traceparent, lease: lease, ahead: ahead)
            decision = try await commits.begin.submit(start)
        } catch {
            logger.warning("cannot start attempt; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
        if decision.action == .unknownStep { return Self.unknownStep(ahead: ahead) }
        guard case .startAttempt(let attempt, let token, let superseding) = decision.action else {
            logger.debug("delivery needs no execution", metadata: ["decision": "\(decision.action)"])
            return .committed
        }
        if let superseding { logger.notice("took over a step from a presumed-dead attempt", metadata: ["superseded": "\(superseding)", "attempt": "\(attempt)"]) }
        let stepLogger = logger
        let skillContext = SkillContext(tenant: envelope.tenant, run: run, step: step, attempt: attempt, idempotencyKey: decision.idempotencyKey)
        let (stopSignal, stop) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingNewest(1))
        let attemptKey = RunningAttempts.key(run: run, step: step)
        await attempts.register(attemptKey, stop: stop)
        let end: AttemptEnd = await withTaskGroup(of: AttemptEnd?.self) { group in
            group.addTask {
                // Lease extension: tell JetStream the message is still being worked on, and renew the
                // attempt's lease in Postgres; a lost lease means another attempt (or a cancel) took the step.
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { break }
                    do { try message.inProgress() } catch { stepLogger.warning("cannot extend the lease", metadata: ["error": "\(error)"]) }
                    do {
                        if try await !self.context.store.renewLease(run: run, step: step, fencingToken: token, lease: lease) {
                            return .stopped("the attempt lost its lease (cancelled or superseded)")
                        }
                    } catch { stepLogger.warning("cannot renew the lease in Postgres", metadata: ["error": "\(error)"]) }
                }
                return nil
            }
            group.addTask {
                for await reason in stopSignal { return .stopped(reason) }
                return nil
            }
            group.addTask {
                if let recorded = decision.recorded {
                    // The execution ledger holds this execution's result: its side effect already happened.
                    stepLogger.notice("execution ledger: returning the recorded result instead of executing again", metadata: ["key": "\(decision.idempotencyKey)"])
                    return .finished(.succeeded, recorded)
                }
                let (outcome, output) = await self.execute(body, context: skillContext, logger: stepLogger)
                if case .succeeded = outcome, let output, self.recordsExecution(skill: body.skill) {
                    do {
                        try await self.context.store.recordExecution(key: decision.idempotencyKey, tenant: envelope.tenant, run: run, step: step,
                                                                     skill: body.skill, attempt: attempt, output: output)
                    } catch {
                        stepLogger.warning("cannot record the execution in the ledger", metadata: ["error": "\(error)"])
                    }
                    FaultInjection.afterLedgerRecord(skill: body.skill)
                }
                return .finished(outcome, output)
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return .finished(.failed(AriaError(.internal, "skill cancelled", category: .transient)), nil)
        }
        stop.finish()
        await attempts.remove(attemptKey)
        if Task.isCancelled {
            // Shutting down past the grace period: leave the step to a redelivery, which supersedes this attempt.
            return .shutdown
        }
        let outcome: StepExecution.Outcome
        let output: JSONValue?
        switch end {
        case .finished(let finished, let result):
            outcome = finished
            output = result
        case .stopped(let reason):
            logger.notice("attempt stopped", metadata: ["reason": "\(reason)"])
            outcome = .failed(AriaError(.runCancelled, reason))
            output = nil
        }
        do {
            let action = try await commits.finish.submit(AttemptFinish(
                tenant: envelope.tenant, run: run, step: step, skill: body.skill, attempt: attempt, fencingToken: token,
                outcome: outcome, output: output, traceparent: envelope.traceparent))
            switch action {
            case .rejectStale(let expected, let got):
                logger.warning("late result rejected: a newer attempt holds the step", metadata: ["expected_token": "\(expected)", "token": "\(got)"])
            case .drop(let reason):
                logger.notice("result discarded", metadata: ["reason": "\(reason)"])
            default:
                break
            }
            return .committed
        } catch {
            logger.warning("cannot record result; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
    }

    /// A pure skill's step (no side effect, no waiting): executed at once, then started and recorded in one
    /// transaction. A concurrent or earlier attempt is handled by ``StepExecution`` there (the step already
    /// ended: nothing is recorded; a cancelled step: dropped). Repeating a pure skill is harmless, so no
    /// lease or ledger is needed.
    func runOptimistically(_ envelope: Envelope<StepDispatchBody>, run: RunID, step: StepID, ahead: Bool, commits: AttemptCommits, logger: Logger) async -> HandlingOutcome {
        let body = envelope.body
        let key = executionKey(run: run, step: step, phase: .primary)
        let skillContext = SkillContext(tenant: envelope.tenant, run: run, step: step, attempt: 0, idempotencyKey: key)
        // A skill that computes its output at once needs no task for its timeout.
        let (outcome, output) = if let skill = skills.skills[body.skill] as? any InlineSkill {
            InlineExecution.run(skill, body, context: skillContext, logger: logger)
        } else {
            await execute(body, context: skillContext, logger: logger)
        }
        if Task.isCancelled { return .shutdown }
        do {
            let action = try await commits.finish.submit(AttemptFinish(
                tenant: envelope.tenant, run: run, step: step, skill: body.skill, attempt: 0, fencingToken: 0,
                outcome: outcome, output: output, traceparent: envelope.traceparent, optimistic: true, worker: context.configuration.instance, ahead: ahead,
                assumed: body.run))
            if case .drop(let reason) = action { logger.debug("result discarded", metadata: ["reason": "\(reason)"]) }
            if action == .unknownStep { return Self.unknownStep(ahead: ahead) }
            return .committed
        } catch {
            logger.warning("cannot record result; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
    }

    /// A dispatch for a step that does not exist: one sent ahead of its run's commit may have overtaken the
    /// transaction creating the run (retried shortly, then dropped); any other is dropped.
    static func unknownStep(ahead: Bool) -> HandlingOutcome {
        ahead ? .early(AriaError(.notFound, "the dispatch's run does not exist (yet)", category: .transient)) : .committed
    }

    /// Whether a successful execution of `skill` is recorded in the execution ledger: skills whose risk
    /// class is above `read_only` (they change something), whose repetition would be visible.
    func recordsExecution(skill: String) -> Bool {
        (skills.skills[skill]?.descriptor.risk ?? .external) > .readOnly
    }

    /// Runs the skill with input validation and its timeout.
    func execute(_ body: StepDispatchBody, context: SkillContext, logger: Logger) async -> (StepExecution.Outcome, JSONValue?) {
        guard let skill = skills.skills[body.skill] else {
            return (.failed(AriaError(.unknownSkill, "this worker pool has no skill '\(body.skill)'", category: .permanent)), nil)
        }
        if let refused = SkillContract.refuseInput(skill, body.params) { return refused }
        let timeout = Duration.milliseconds(max(1, body.timeoutMilliseconds))
        let result: Result<JSONValue, AriaError> = await withTaskGroup(of: Result<JSONValue, AriaError>?.self) { group in
            group.addTask {
                do { return .success(try await skill.execute(body.params, context: context)) } catch let error as AriaError {
                    return .failure(error)
                } catch is CancellationError {
                    return nil
                } catch {
                    return .failure(AriaError(.skillFailed, "\(error)"))
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : .failure(AriaError(.stepTimeout, "step exceeded its timeout of \(AriaDuration(milliseconds: body.timeoutMilliseconds))"))
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
                if Task.isCancelled { break }
            }
            return .failure(AriaError(.internal, "skill cancelled", category: .transient))
        }
        switch result {
        case .success(let output):
            let checked = SkillContract.checkOutput(skill, output)
            InlineExecution.logIfInvalidOutput(checked.0, skill: skill, logger: logger)
            return checked
        case .failure(let error): return (.failed(error), nil)
        }
    }
}
