import AriaBus
import AriaCore
import AriaNATS
import AriaRuntime
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Answers `aria.t.<tenant>.api.<verb>` requests (queue group `gateway`, so replicas share the load).
///
/// Replies go only to the requesting tenant's inbox prefix (`aria.t.<tenant>.inbox.`): a request whose
/// reply subject points elsewhere is dropped, so one tenant cannot make the gateway write into another's
/// inbox. At most `ARIA_API_MAX_INFLIGHT` requests are handled at once; beyond that the answer is `overloaded`.
struct APIResponder: Service {
    let gateway: Gateway

    func run() async throws {
        let context = gateway.context
        let subscription = try context.nats.subscribe("aria.t.*.api.>", queue: "gateway", bufferLimit: 4096)
        let inFlight = SharedCounter()
        let limit = context.configuration.apiMaxInFlight
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await request in subscription.cancelOnGracefulShutdown() {
                    guard let tenant = Subjects.tenant(of: request.subject), let reply = request.reply,
                          reply.hasPrefix(Subjects.inboxPrefix(tenant) + ".") else {
                        context.logger.warning("API request without a reply subject in its tenant's inbox; dropped", metadata: ["subject": "\(request.subject)"])
                        continue
                    }
                    if inFlight.add(1) > limit {
                        inFlight.add(-1)
                        respond(request, .failure(AriaError(.overloaded, "too many API requests in flight; retry", category: .transient)))
                        continue
                    }
                    group.addTask {
                        let answer = await handle(request, tenant: tenant)
                        respond(request, answer)
                        inFlight.add(-1)
                    }
                }
            }
        } onGracefulShutdown: {
            subscription.drain()
        }
    }

    func handle(_ request: NATSMessage, tenant: TenantID) async -> APIReply {
        let context = gateway.context
        guard let verbName = Subjects.apiVerb(of: request.subject), let verb = APIVerb(rawValue: verbName) else {
            return .failure(AriaError(.unknownVerb, "unknown API verb in \(request.subject.prefix(120))"))
        }
        switch verb {
        case .createJob:
            return await gateway.createJob(payload: request.payload, subject: request.subject,
                                           idempotencyKey: request.header(AriaHeader.idempotencyKey),
                                           traceparent: request.header(AriaHeader.traceparent))
        case .cancelRun, .rerunRun:
            guard let query = try? JSONValue(parsing: request.payload), let runText = query["run"]?.stringValue, let run = RunID(runText) else {
                return .failure(AriaError(.invalidJob, "request body must be {\"run\": \"<run id>\", ...}"))
            }
            do {
                if verb == .cancelRun {
                    let reason = String((query["reason"]?.stringValue ?? "cancelled by request").prefix(500))
                    let (result, outbox) = try await context.store.cancel(tenant: tenant, run: run, reason: reason, catalog: gateway.validator.catalog)
                    context.relay.publish(outbox)
                    context.sendCancelNotices([result])
                    return .success(run: run, status: result.status)
                }
                let modeText = query["mode"]?.stringValue ?? RerunMode.fromScratch.rawValue
                guard let mode = RerunMode(rawValue: modeText) else {
                    return .failure(AriaError(.invalidJob, "mode must be from_scratch or from_failed"), run: run)
                }
                let (child, outbox) = try await context.store.rerun(tenant: tenant, parent: run, mode: mode)
                context.relay.publish(outbox)
                return .success(run: child, status: .accepted)
            } catch let error as AriaError {
                return .failure(error, run: run)
            } catch {
                context.logger.warning("API request failed", metadata: ["verb": "\(verb.rawValue)", "error": "\(error)"])
                return .failure(AriaError(.overloaded, "the request could not be handled now; retry", category: .transient), run: run)
            }
        case .getRun, .runEvents:
            guard let query = try? JSONValue(parsing: request.payload), let runText = query["run"]?.stringValue, let run = RunID(runText) else {
                return .failure(AriaError(.invalidJob, "request body must be {\"run\": \"<run id>\"}"))
            }
            do {
                if verb == .getRun {
                    guard let view = try await context.store.runView(tenant: tenant, run: run) else {
                        return .failure(AriaError(.notFound, "run \(run) does not exist"), run: run)
                    }
                    return .success(run: run, status: view.status, runView: view)
                }
                let after = query["after_seq"]?.intValue ?? 0
                return .success(run: run, events: try await context.store.events(tenant: tenant, run: run, afterSeq: after))
            } catch {
                context.logger.warning("API read failed", metadata: ["error": "\(error)"])
                return .failure(AriaError(.overloaded, "the run could not be read now; retry", category: .transient))
            }
        }
    }

    func respond(_ request: NATSMessage, _ reply: APIReply) {
        do {
            let headers = reply.error.map { [(AriaHeader.errorCode, $0.code.rawValue)] } ?? []
            try request.respond(try Wire.encode(reply), headers: headers)
        } catch {
            gateway.context.logger.warning("cannot send API reply", metadata: ["error": "\(error)"])
        }
    }
}
