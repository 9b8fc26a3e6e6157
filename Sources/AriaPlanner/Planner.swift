import AriaBus
import AriaCore
import AriaNATS
import AriaRuntime
import AriaStore
import Logging
import ServiceLifecycle

/// Turns accepted template jobs into validated plans and hands them to the scheduler.
public struct Planner: Sendable {
    let context: ServiceContext
    let library: PlanTemplateLibrary
    let parser: JobSubmissionParser
    let validator: PlanValidator

    /// Creates a planner with the templates in `library`.
    public init(context: ServiceContext, library: PlanTemplateLibrary, catalog: SkillCatalog = .builtIn) {
        self.context = context
        self.library = library
        parser = JobSubmissionParser(maxBytes: context.configuration.maxJobBytes, maxSteps: context.configuration.maxPlanSteps)
        validator = PlanValidator(catalog: catalog, maxSteps: context.configuration.maxPlanSteps)
    }

    /// The planner's components: its consumer.
    public func services() async throws -> [any Service] {
        try await BusProvisioner(jetStream: context.jetStream, logger: context.logger).requireConsumer(stream: Streams.plan, consumer: Consumers.planner)
        context.logger.info("plan templates loaded", metadata: ["templates": "\(library.templates.keys.sorted().joined(separator: ","))"])
        return [PlanReconciler(planner: self), ConsumerLoop(
            jetStream: context.jetStream, stream: Streams.plan, consumer: Consumers.planner,
            slots: context.configuration.fetchBatch * 2, fetchBatch: context.configuration.fetchBatch, handlerBatch: 1,
            store: context.store, logger: context.logger) { messages in
                var outcomes: [HandlingOutcome] = []
                for message in messages { outcomes.append(await self.handle(message)) }
                return outcomes
            }]
    }

    func handle(_ message: NATSMessage) async -> HandlingOutcome {
        let envelope: Envelope<EmptyBody>
        switch decodeInternal(EmptyBody.self, message, expecting: .planRequest) {
        case .success(let decoded): envelope = decoded
        case .failure(let error): return .undecodable(error)
        }
        guard let run = envelope.run else { return .undecodable(AriaError(.undecodableMessage, "plan.request without a run")) }
        return await plan(run: run, traceparent: envelope.traceparent)
    }

    /// Plans one accepted template run (from a message or the reconciler); idempotent.
    func plan(run: RunID, traceparent: String?) async -> HandlingOutcome {
        var logger = context.logger
        logger[metadataKey: "run"] = "\(run)"
        if let trace = traceparent { logger[metadataKey: "traceparent"] = "\(trace)" }
        do {
            guard let request = try await context.store.planningRequest(run: run) else {
                logger.warning("plan request for a run that does not exist; dropped")
                return .committed
            }
            guard request.status == .accepted else { return .committed }
            guard case .template(let name, let params) = request.job.source else {
                return .committed
            }
            let outbox: [OutboxMessage]
            do {
                let plan = try library.plan(template: name, params: params, goal: request.job.goal, parser: parser, validator: validator)
                outbox = try await context.store.storePlan(plan, for: request)
                logger.debug("planned", metadata: ["template": "\(name)", "steps": "\(plan.steps.count)"])
            } catch let error as AriaError where error.category != .transient {
                outbox = try await context.store.rejectRun(request, error: error)
                logger.info("run rejected by the planner", metadata: ["code": "\(error.code)", "reason": "\(error.message)"])
            }
            context.relay.publish(outbox)
            return .committed
        } catch {
            logger.warning("planning failed; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
    }
}

/// Plans template runs whose planning request was lost (accepted, no plan, unchanged for a while).
struct PlanReconciler: Service {
    let planner: Planner

    func run() async throws {
        let context = planner.context
        let configuration = context.configuration
        await everyInterval(configuration.reconcileInterval, context: context, failure: "plan reconciliation failed; will try again") {
            for run in try await context.store.unplannedRuns(idle: configuration.reconcileIdleAfter, limit: 200) {
                context.logger.notice("reconciler plans a run whose request was lost", metadata: ["run": "\(run)"])
                _ = await planner.plan(run: run, traceparent: nil)
            }
        }
    }
}
