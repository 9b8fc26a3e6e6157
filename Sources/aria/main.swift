import AriaCLI

await AriaCommand.main()
