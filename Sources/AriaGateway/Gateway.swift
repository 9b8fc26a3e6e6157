import AriaBus
import AriaCore
import AriaNATS
import AriaRuntime
import AriaStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The front door: takes jobs from the submit stream and the create-job API, validates them, records runs
/// idempotently and hands them on; answers the read API.
public struct Gateway: Sendable {
    let context: ServiceContext
    let parser: JobSubmissionParser
    let validator: PlanValidator
    let tenants: TenantDirectory
    /// How new runs' first dispatches go out ahead of their commit (nil: off).
    let ahead: DispatchAhead?
    /// How submissions execute the pure steps they dispatch (nil: off): `echo`, `fail` and
    /// `json_transform` of the default pool, inside the transaction that records the run (``InlineExecution``).
    let inline: InlineExecution?

    /// Creates the gateway over a connected context.
    public init(context: ServiceContext, catalog: SkillCatalog = .builtIn) {
        self.context = context
        parser = JobSubmissionParser(maxBytes: context.configuration.maxJobBytes, maxSteps: context.configuration.maxPlanSteps)
        validator = PlanValidator(catalog: catalog, maxSteps: context.configuration.maxPlanSteps)
        tenants = TenantDirectory(store: context.store)
        let relay = context.relay
        ahead = context.configuration.dispatchAhead > 0
            ? DispatchAhead(maxSubmissions: context.configuration.dispatchAhead) { relay.publishAhead($0) } : nil
        inline = Self.inlineExecution(catalog: catalog, configuration: context.configuration, logger: context.logger)
    }

    /// How a gateway executes pure steps inline (nil: off): the pure built-in skills as `catalog` configures
    /// them, only when routed to the default pool (a skill routed to a pool of its own runs on that pool's
    /// workers), at most `ARIA_GATEWAY_INLINE_STEPS` per transaction.
    public static func inlineExecution(catalog: SkillCatalog, configuration: ServiceConfiguration, logger: Logger) -> InlineExecution? {
        let defaultPool = Subjects.workIntake(pool: SkillDescriptor.defaultPool)
        return InlineExecution.pure(pureBuiltInSkills(catalog), limit: configuration.gatewayInlineSteps,
                                    instance: configuration.instance, logger: logger) { $0 == defaultPool }
    }

    /// The gateway's components: the submit consumer and the API responder.
    public func services() async throws -> [any Service] {
        try await BusProvisioner(jetStream: context.jetStream, logger: context.logger).requireConsumer(stream: Streams.submit, consumer: Consumers.gateway)
        let consumer = ConsumerLoop(
            jetStream: context.jetStream, stream: Streams.submit, consumer: Consumers.gateway,
            slots: context.configuration.fetchBatch * 4, fetchBatch: context.configuration.fetchBatch,
            handlerBatch: context.configuration.fetchBatch, store: context.store,
            logger: context.logger) { messages in
                await self.handleSubmissions(messages)
            }
        let api = APIResponder(gateway: self)
        return [consumer, api]
    }

    /// One checked submission, or the reason it was refused.
    enum Intake {
        case record(SubmissionInput)
        case refuse(TenantID, AriaError, key: String?, traceparent: String?)
        case undecodable(AriaError)
    }

    /// Checks one message: tenant (from the subject), size, syntax, schema, plan.
    func intake(payload: [UInt8], subject: String, idempotencyKey: String?, traceparentHeader: String?, submissionRef: String?) async -> Intake {
        guard let tenant = Subjects.tenant(of: subject) else {
            return .undecodable(AriaError(.undecodableMessage, "subject \(subject.prefix(100)) names no valid tenant"))
        }
        let key = idempotencyKey.map { String($0.prefix(256)) }
        do {
            guard try await tenants.isActive(tenant) else {
                return .refuse(tenant, AriaError(.unknownTenant, "tenant '\(tenant)' is not known"), key: key, traceparent: traceparentHeader)
            }
        } catch {
            return .undecodable(transientError(error))  // replaced by the caller with a transient outcome
        }
        do {
            let submission = try parser.parse(payload, tenant: tenant)
            if case .plan(let plan) = submission.job.source { try validator.validate(plan) }
            let jobJSON = try Wire.encode(submission.job)
            let canonical = try JSONValue(parsing: jobJSON).serialized()
            return .record(SubmissionInput(
                tenant: tenant, idempotencyKey: key, submissionRef: submissionRef, payloadHash: SHA256.hex(canonical),
                job: submission.job, jobJSON: String(decoding: canonical, as: UTF8.self), deadline: submission.deadline,
                traceparent: submission.traceparent ?? traceparentHeader))
        } catch let error as AriaError {
            return .refuse(tenant, error, key: key, traceparent: traceparentHeader)
        } catch {
            return .refuse(tenant, AriaError(.invalidJob, "\(error)"), key: key, traceparent: traceparentHeader)
        }
    }

    /// Handles a batch from the submit stream: records all valid jobs in one transaction.
    func handleSubmissions(_ messages: [NATSMessage]) async -> [HandlingOutcome] {
        var outcomes = [HandlingOutcome](repeating: .committed, count: messages.count)
        var inputs: [(index: Int, input: SubmissionInput)] = []
        for (index, message) in messages.enumerated() {
            let ref = message.metadata.map { "\(Streams.submit):\($0.streamSequence)" }
            let intake = await intake(payload: message.payload, subject: message.subject,
                                      idempotencyKey: message.header(AriaHeader.idempotencyKey),
                                      traceparentHeader: message.header(AriaHeader.traceparent), submissionRef: ref)
            switch intake {
            case .record(let input):
                inputs.append((index, input))
            case .refuse(let tenant, let error, let key, let traceparent):
                do {
                    let (id, outbox) = try await context.store.reject(tenant: tenant, idempotencyKey: key, subject: message.subject, error: error, payload: message.payload, traceparent: traceparent)
                    context.relay.publish(outbox)
                    context.logger.info("job rejected", metadata: ["tenant": "\(tenant)", "code": "\(error.code)", "rejection": "\(id)", "reason": "\(error.message)", "traceparent": "\(traceparent ?? "-")"])
                } catch {
                    outcomes[index] = .transient(transientError(error))
                }
            case .undecodable(let error):
                outcomes[index] = error.category == .transient ? .transient(error) : .undecodable(error)
            }
        }
        guard !inputs.isEmpty else { return outcomes }
        do {
            let results = try await record(inputs.map(\.input))
            for (offset, result) in results.enumerated() {
                let input = inputs[offset].input
                switch result {
                case .accepted(let run, _):
                    context.logger.debug("job accepted", metadata: ["tenant": "\(input.tenant)", "run": "\(run)", "traceparent": "\(input.traceparent ?? "-")"])
                case .duplicate(let run, _):
                    context.logger.info("duplicate submission", metadata: ["tenant": "\(input.tenant)", "run": "\(run)", "traceparent": "\(input.traceparent ?? "-")"])
                case .conflict(let existing):
                    try await rejectConflict(input, existing: existing, message: messages[inputs[offset].index])
                }
            }
        } catch {
            if inputs.count > 1 {
                // One bad row must not hold the others back: record them one by one.
                for (index, input) in inputs {
                    outcomes[index] = await recordOne(input, message: messages[index])
                }
            } else {
                context.logger.warning("cannot record submission; will retry", metadata: ["error": "\(error)"])
                outcomes[inputs[0].index] = .transient(transientError(error))
            }
        }
        return outcomes
    }

    /// Records submissions in one transaction; its outbox messages are published as soon as it has
    /// committed, from the committing connection's thread (``OutboxRelay/publishCommitted(_:)``).
    private func record(_ inputs: [SubmissionInput]) async throws -> [SubmissionOutcome] {
        let relay = context.relay
        return try await context.store.submit(inputs, catalog: validator.catalog, ahead: ahead, inline: inline) { relay.publishCommitted($0) }.0
    }

    private func recordOne(_ input: SubmissionInput, message: NATSMessage) async -> HandlingOutcome {
        do {
            let results = try await record([input])
            if case .conflict(let existing) = results.first {
                try await rejectConflict(input, existing: existing, message: message)
            }
            return .committed
        } catch {
            context.logger.warning("cannot record submission; will retry", metadata: ["error": "\(error)"])
            return .transient(transientError(error))
        }
    }

    /// The error of a reused key with a different job.
    static func conflict(existing: RunID) -> AriaError {
        AriaError(.idempotencyConflict, "idempotency key was used with a different payload", details: ["existing_run": existing.description])
    }

    /// Records and publishes the rejection of a durable submission whose key belongs to another job.
    private func rejectConflict(_ input: SubmissionInput, existing: RunID, message: NATSMessage) async throws {
        let (_, rejection) = try await context.store.reject(
            tenant: input.tenant, idempotencyKey: input.idempotencyKey, subject: message.subject,
            error: Self.conflict(existing: existing), payload: message.payload, traceparent: input.traceparent)
        context.relay.publish(rejection)
    }

    /// Handles `create_job`: records the run and answers once it is committed.
    func createJob(payload: [UInt8], subject: String, idempotencyKey: String?, traceparent: String?) async -> APIReply {
        let submitSubject = Subjects.tenant(of: subject).map { Subjects.submit($0) } ?? subject
        switch await intake(payload: payload, subject: submitSubject, idempotencyKey: idempotencyKey, traceparentHeader: traceparent, submissionRef: nil) {
        case .record(let input):
            do {
                let results = try await record([input])
                switch results.first {
                case .accepted(let run, let status): return .success(run: run, status: status, duplicate: false)
                case .duplicate(let run, let status): return .success(run: run, status: status, duplicate: true)
                case .conflict(let existing):
                    return .failure(Self.conflict(existing: existing), run: existing)
                case nil: return .failure(AriaError(.internal, "no outcome"))
                }
            } catch {
                context.logger.warning("create_job failed", metadata: ["error": "\(error)"])
                return .failure(AriaError(.overloaded, "the run could not be recorded now; retry", category: .transient))
            }
        case .refuse(let tenant, let error, let key, let traceparent):
            if let (_, outbox) = try? await context.store.reject(tenant: tenant, idempotencyKey: key, subject: subject, error: error, payload: payload, traceparent: traceparent) {
                context.relay.publish(outbox)
            }
            return .failure(error)
        case .undecodable(let error):
            return .failure(error.category == .transient ? AriaError(.overloaded, "the job could not be checked now; retry", category: .transient) : error)
        }
    }
}

/// Caches which tenants exist and are active (refreshed every few seconds).
final class TenantDirectory: Sendable {
    private let store: RunStore
    private let cache = Mutex<[TenantID: (active: Bool, checked: ContinuousClock.Instant)]>([:])
    private let ttl: Duration = .seconds(5)

    init(store: RunStore) { self.store = store }

    func isActive(_ tenant: TenantID) async throws -> Bool {
        let now = ContinuousClock.now
        if let hit = cache.withLock({ $0[tenant] }), now - hit.checked < ttl { return hit.active }
        let active = try await store.isActiveTenant(tenant)
        cache.withLock { $0[tenant] = (active, now) }
        return active
    }
}
