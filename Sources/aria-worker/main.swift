import AriaRuntime
import AriaWorker

await ServiceMain.run(service: "worker") { context in
    try await Worker(context: context).services()
}
