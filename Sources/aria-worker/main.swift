import AriaCore
import AriaHTTP
import AriaRuntime
import AriaWorker
import Foundation

await ServiceMain.run(service: "worker") { context in
    // Outbound calls: public destinations only, plus what ARIA_HTTP_ALLOW_HOSTS / ARIA_HTTP_ALLOW_CIDRS allow.
    let reader = ConfigReader()
    let policy = DestinationPolicy(allowedHosts: reader.list("ARIA_HTTP_ALLOW_HOSTS", default: []),
                                   allowedCIDRs: reader.list("ARIA_HTTP_ALLOW_CIDRS", default: []))
    let client = HTTPClient(maxConcurrent: context.configuration.workerSlots, policy: policy, logger: context.logger)
    // Files: one folder per tenant under ARIA_WORKSPACE_ROOT.
    let workspaces = reader.string("ARIA_WORKSPACE_ROOT", default: FileManager.default.currentDirectoryPath + "/.aria-workspaces")
    return try await Worker(context: context, skills: .standard(httpClient: client, workspaceRoot: workspaces)).services()
}
