import AriaCLI

await AriaCommand.runAsync()
