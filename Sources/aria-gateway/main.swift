import AriaGateway
import AriaRuntime

await ServiceMain.run(service: "gateway") { context in
    try await Gateway(context: context).services()
}
