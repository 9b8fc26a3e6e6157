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

    /// Creates a worker.
    public init(context: ServiceContext, skills: SkillSet = .builtIn) {
        self.context = context
        self.skills = skills
    }

    /// The worker's components: its presence (``WorkerPresenceService``) and its consumer, with `ARIA_WORKER_SLOTS` slots.
    public func services() async throws -> [any Service] {
        let consumer = Consumers.worker(pool: context.configuration.workerPool)
        try await BusProvisioner(jetStream: context.jetStream, logger: context.logger).requireConsumer(stream: Streams.work, consumer: consumer)
        // A running step extends its lease three times per ack wait, so a step may run longer than the ack
        // wait while a dead worker's steps are redelivered after one ack wait.
        let ackWait = try await context.jetStream.consumerInfo(stream: Streams.work, consumer: consumer).config.ackWait
        let heartbeat = max(ackWait / 3, .milliseconds(100))
        context.logger.info("lease heartbeat", metadata: ["ack_wait": "\(ackWait)", "interval": "\(heartbeat)"])
        let inFlight = SharedCounter()
        // Presence first: it stops after the consumer has drained.
        return [try await WorkerPresenceService.make(context: context, skills: skills, inFlight: inFlight), ConsumerLoop(
            jetStream: context.jetStream, stream: Streams.work, consumer: consumer,
            slots: context.configuration.workerSlots, fetchBatch: min(context.configuration.fetchBatch, context.configuration.workerSlots),
            handlerBatch: 1, store: context.store, logger: context.logger, inFlight: inFlight) { messages in
                var outcomes: [HandlingOutcome] = []
                for message in messages { outcomes.append(await self.handle(message, heartbeat: heartbeat)) }
                return outcomes
            }]
    }

    func handle(_ message: NATSMessage, heartbeat: Duration) async -> HandlingOutcome {
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
        let decision: StepExecution.Action
        do {
            let start = AttemptStart(tenant: envelope.tenant, run: run, step: step, skill: body.skill, traceparent: envelope.traceparent)
            let (decisions, outbox) = try await context.store.beginAttempts([start], worker: context.configuration.instance)
            context.relay.publish(outbox)
            decision = decisions.first ?? .drop("no decision")
        } catch {
            logger.warning("cannot start attempt; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
        guard case .startAttempt(let attempt, let token, let superseding) = decision else {
            logger.debug("delivery needs no execution", metadata: ["decision": "\(decision)"])
            return .committed
        }
        if let superseding { logger.notice("took over a step from a presumed-dead attempt", metadata: ["superseded": "\(superseding)", "attempt": "\(attempt)"]) }
        let stepLogger = logger
        let skillContext = SkillContext(tenant: envelope.tenant, run: run, step: step)
        let (outcome, output) = await withTaskGroup(of: (StepExecution.Outcome, JSONValue?)?.self) { group in
            group.addTask {
                // Lease extension: tell JetStream the message is still being worked on.
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { break }
                    do { try message.inProgress() } catch { stepLogger.warning("cannot extend the lease", metadata: ["error": "\(error)"]) }
                }
                return nil
            }
            group.addTask { await self.execute(body, context: skillContext, logger: stepLogger) }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return (.failed(AriaError(.internal, "skill cancelled", category: .transient)), nil)
        }
        if Task.isCancelled {
            // Shutting down past the grace period: leave the step to a redelivery, which supersedes this attempt.
            return .shutdown
        }
        do {
            let (action, outbox) = try await context.store.finishAttempt(
                tenant: envelope.tenant, run: run, step: step, skill: body.skill, attempt: attempt, fencingToken: token,
                outcome: outcome, output: output, traceparent: envelope.traceparent)
            context.relay.publish(outbox)
            if case .rejectStale(let expected, let got) = action {
                logger.warning("late result rejected: a newer attempt holds the step", metadata: ["expected_token": "\(expected)", "token": "\(got)"])
            }
            return .committed
        } catch {
            logger.warning("cannot record result; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
    }

    /// Runs the skill with input validation and its timeout.
    func execute(_ body: StepDispatchBody, context: SkillContext, logger: Logger) async -> (StepExecution.Outcome, JSONValue?) {
        guard let skill = skills.skills[body.skill] else {
            return (.failed(AriaError(.unknownSkill, "this worker pool has no skill '\(body.skill)'", category: .permanent)), nil)
        }
        let problems = skill.descriptor.problems(in: body.params)
        guard problems.isEmpty else {
            return (.failed(AriaError(.invalidParams, problems.joined(separator: "; "))), nil)
        }
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
        case .success(let output): return (.succeeded, output)
        case .failure(let error): return (.failed(error), nil)
        }
    }
}
