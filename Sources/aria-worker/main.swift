import AriaCore
import AriaHTTP
import AriaRuntime
import AriaWorker

await ServiceMain.run(service: "worker") { context in
    // Outbound calls: public destinations only, plus what ARIA_HTTP_ALLOW_HOSTS / ARIA_HTTP_ALLOW_CIDRS allow.
    let reader = ConfigReader()
    let policy = DestinationPolicy(allowedHosts: reader.list("ARIA_HTTP_ALLOW_HOSTS", default: []),
                                   allowedCIDRs: reader.list("ARIA_HTTP_ALLOW_CIDRS", default: []))
    let client = HTTPClient(maxConcurrent: context.configuration.workerSlots, policy: policy, logger: context.logger)
    return try await Worker(context: context, skills: .standard(httpClient: client)).services()
}
