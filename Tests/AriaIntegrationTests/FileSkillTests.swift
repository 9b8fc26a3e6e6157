import AriaCore
import AriaWorker
import Foundation
import Testing

@Suite("file_read and file_write")
struct FileSkillTests {
    let root: URL
    let workspace: TenantWorkspace
    let demo = SkillContext(tenant: TenantID(trusted: "demo"), run: RunID.generate(), step: StepID(trusted: "s"))
    let acme = SkillContext(tenant: TenantID(trusted: "acme"), run: RunID.generate(), step: StepID(trusted: "s"))

    init() throws {
        root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("aria-files-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        workspace = TenantWorkspace(root: root.path)
    }

    func code(_ body: () async throws -> JSONValue) async -> ErrorCode? {
        do { _ = try await body(); return nil } catch let error as AriaError { return error.code } catch { return .internal }
    }

    @Test("write then read, in nested folders, text and binary, with create/append modes")
    func roundTrip() async throws {
        let write = FileWriteSkill(workspace: workspace), read = FileReadSkill(workspace: workspace)
        _ = try await write.execute(["path": "notes/a.txt", "content": "hello", "make_dirs": true], context: demo)
        _ = try await write.execute(["path": "notes/a.txt", "content": " world", "mode": "append"], context: demo)
        #expect(try await read.execute(["path": "notes/a.txt"], context: demo)["content"] == "hello world")
        #expect(await code { try await write.execute(["path": "notes/a.txt", "content": "x", "mode": "create"], context: demo) } == .fileFailed)
        _ = try await write.execute(["path": "bin", "content_base64": .string(Data([0xff, 0x00]).base64EncodedString())], context: demo)
        #expect(try await read.execute(["path": "bin"], context: demo)["content_base64"] == .string(Data([0xff, 0x00]).base64EncodedString()))
        #expect(await code { try await read.execute(["path": "notes/a.txt", "max_bytes": 3], context: demo) } == .fileFailed)
        #expect(await code { try await read.execute(["path": "missing"], context: demo) } == .fileFailed)
        // Tenants do not see each other's files.
        #expect(await code { try await read.execute(["path": "notes/a.txt"], context: acme) } == .fileFailed)
    }

    @Test("traversal, absolute paths and symbolic links out of the workspace are refused", arguments: ["../escape", "a/../../escape", "/etc/passwd", "", "."])
    func traversalRefused(path: String) async throws {
        #expect(await code { try await FileReadSkill(workspace: workspace).execute(["path": .string(path)], context: demo) } == .pathRefused)
        #expect(await code { try await FileWriteSkill(workspace: workspace).execute(["path": .string(path), "content": "x"], context: demo) } == .pathRefused)
    }

    @Test("a symbolic link planted in the workspace (file or folder) cannot be followed")
    func symlinksRefused() async throws {
        let outside = root.appendingPathComponent("outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try "secret".write(to: outside.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        let tenantRoot = root.appendingPathComponent("demo")
        try FileManager.default.createDirectory(at: tenantRoot, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: tenantRoot.appendingPathComponent("link.txt").path, withDestinationPath: outside.appendingPathComponent("secret.txt").path)
        try FileManager.default.createSymbolicLink(atPath: tenantRoot.appendingPathComponent("dir").path, withDestinationPath: outside.path)
        let read = FileReadSkill(workspace: workspace), write = FileWriteSkill(workspace: workspace)
        #expect(await code { try await read.execute(["path": "link.txt"], context: demo) } == .pathRefused)
        #expect(await code { try await read.execute(["path": "dir/secret.txt"], context: demo) } == .pathRefused)
        #expect(await code { try await write.execute(["path": "link.txt", "content": "pwned"], context: demo) } == .pathRefused)
        #expect(await code { try await write.execute(["path": "dir/new.txt", "content": "pwned"], context: demo) } == .pathRefused)
        #expect(try String(contentsOf: outside.appendingPathComponent("secret.txt"), encoding: .utf8) == "secret")
        #expect(!FileManager.default.fileExists(atPath: outside.appendingPathComponent("new.txt").path))
    }

    @Test("outputs satisfy the output schema; the configured workspace and byte limits apply")
    func configuredLimitsAndOutputs() async throws {
        let catalog = try SkillCatalog.builtIn(configuration: SkillsConfiguration(skills: [
            "file_read": ["workspace_root": .string(root.path), "default_file_bytes": 3, "max_file_bytes": 8],
            "file_write": ["workspace_root": .string(root.path), "max_file_bytes": 4],
        ]))
        let write = FileWriteSkill(descriptor: try #require(catalog["file_write"]))
        let read = FileReadSkill(descriptor: try #require(catalog["file_read"]))
        let written = try await write.execute(["path": "limits/a.txt", "content": "abcd", "make_dirs": true], context: demo)
        #expect(written == ["path": "limits/a.txt", "size": 4])
        #expect(write.descriptor.validateOutput(written) == nil)
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("demo/limits/a.txt").path), "the configured workspace_root")
        // Above the configured cap: the schema refuses it before the worker runs the skill, and the skill itself does too.
        #expect(write.descriptor.validateInput(["path": "b", "content": "abcde"])?.code == .invalidParams)
        #expect(await code { try await write.execute(["path": "b", "content": "abcde"], context: demo) } == .fileFailed)
        // The configured default (3 bytes) applies when a step sets no max_bytes.
        #expect(await code { try await read.execute(["path": "limits/a.txt"], context: demo) } == .fileFailed)
        let text = try await read.execute(["path": "limits/a.txt", "max_bytes": 4], context: demo)
        #expect(text["content"] == "abcd")
        #expect(read.descriptor.validateOutput(text) == nil)
        let binary = try await read.execute(["path": "limits/a.txt", "max_bytes": 8, "encoding": "base64"], context: demo)
        #expect(binary["content_base64"] == "YWJjZA==")
        #expect(read.descriptor.validateOutput(binary) == nil)
        #expect(read.descriptor.validateInput(["path": "x", "max_bytes": 9])?.code == .invalidParams)
    }
}
