import AriaCore
import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A tenant's file area, `<root>/<tenant>/`: every path is relative to it and is walked one component
/// at a time with `O_NOFOLLOW`, so neither `..` nor a symbolic link (planted by anyone) can lead outside.
public struct TenantWorkspace: Sendable {
    /// The folder holding one workspace per tenant.
    public let root: String
    private static let queue = DispatchQueue(label: "aria.workspace", attributes: .concurrent)

    /// Creates the workspace set under `root`.
    public init(root: String) { self.root = root }

    /// The workspace set under the `workspace_root` that `descriptor` configures (relative to the
    /// current folder unless absolute; default `.aria-workspaces`).
    public init(configuredBy descriptor: SkillDescriptor) {
        let root = descriptor.configuration["workspace_root"]?.stringValue ?? ".aria-workspaces"
        self.init(root: root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root)
    }

    /// The components of a relative path; absolute paths, `..`, NUL bytes and empty paths are refused.
    static func components(_ path: String) throws(AriaError) -> [String] {
        guard !path.isEmpty, path.utf8.count <= 1024, !path.utf8.contains(0) else {
            throw AriaError(.pathRefused, "path must be 1 to 1024 bytes without NUL")
        }
        guard !path.hasPrefix("/") else { throw AriaError(.pathRefused, "path must be relative to the tenant's workspace") }
        let parts = path.split(separator: "/").map(String.init).filter { $0 != "." }
        guard !parts.contains("..") else { throw AriaError(.pathRefused, "path must not contain '..'") }
        guard !parts.isEmpty else { throw AriaError(.pathRefused, "path names no file") }
        return parts
    }

    /// Runs blocking file work off the cooperative pool.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Opens the folder that holds the path's last component; returns its descriptor and the file name.
    func openParent(tenant: TenantID, path: String, create: Bool) throws -> (directory: Int32, name: String) {
        let parts = try Self.components(path)
        let tenantRoot = (root as NSString).appendingPathComponent(tenant.rawValue)
        try FileManager.default.createDirectory(atPath: tenantRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var directory = open(tenantRoot, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard directory >= 0 else { throw Self.failure(errno, path: path) }
        for part in parts.dropLast() {
            if create, mkdirat(directory, part, 0o700) != 0, errno != EEXIST {
                let code = errno
                close(directory)
                throw Self.failure(code, path: path)
            }
            let next = openat(directory, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            let code = errno
            close(directory)
            guard next >= 0 else { throw Self.failure(code, path: path) }
            directory = next
        }
        return (directory, parts.last!)
    }

    /// Maps an `errno` to the skill's typed errors.
    static func failure(_ code: Int32, path: String) -> AriaError {
        switch code {
        case ELOOP, ENOTDIR:
            return AriaError(.pathRefused, "'\(path.prefix(80))' goes through a symbolic link or a non-folder", details: ["reason": "symlink"])
        case ENOENT: return AriaError(.fileFailed, "'\(path.prefix(80))' does not exist", details: ["reason": "not_found"])
        case EEXIST: return AriaError(.fileFailed, "'\(path.prefix(80))' already exists", details: ["reason": "exists"])
        case EISDIR: return AriaError(.fileFailed, "'\(path.prefix(80))' is a folder", details: ["reason": "not_a_file"])
        case EACCES, EPERM: return AriaError(.fileFailed, "'\(path.prefix(80))' is not accessible", details: ["reason": "permission"])
        case ENOSPC, EDQUOT: return AriaError(.fileFailed, "no space left for '\(path.prefix(80))'", details: ["reason": "no_space"], category: .resource)
        default: return AriaError(.fileFailed, "'\(path.prefix(80))': \(String(cString: strerror(code)))", details: ["reason": "io"], category: .transient)
        }
    }
}

/// `file_read`: reads a file of the tenant's workspace.
public struct FileReadSkill: Skill {
    let workspace: TenantWorkspace
    /// The contract and configuration (`workspace_root`, `max_file_bytes`, `default_file_bytes`).
    public let descriptor: SkillDescriptor
    /// Creates the skill over `workspace` (the descriptor's `workspace_root` is not used).
    public init(workspace: TenantWorkspace, descriptor: SkillDescriptor = SkillCatalog.builtIn["file_read"]!) {
        self.workspace = workspace
        self.descriptor = descriptor
    }
    /// Creates the skill over the workspace `descriptor` configures.
    public init(descriptor: SkillDescriptor) { self.init(workspace: TenantWorkspace(configuredBy: descriptor), descriptor: descriptor) }

    /// Returns `{path, size, content}` (or `content_base64`).
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        let path = params["path"]?.stringValue ?? ""
        let limit = Int(params["max_bytes"]?.intValue ?? descriptor.configuration["default_file_bytes"]?.intValue ?? 1024 * 1024)
        let base64 = params["encoding"]?.stringValue == "base64"
        let workspace = workspace
        let bytes: [UInt8] = try await workspace.run {
            let (directory, name) = try workspace.openParent(tenant: context.tenant, path: path, create: false)
            defer { close(directory) }
            let file = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
            guard file >= 0 else { throw TenantWorkspace.failure(errno, path: path) }
            defer { close(file) }
            var status = stat()
            guard fstat(file, &status) == 0 else { throw TenantWorkspace.failure(errno, path: path) }
            guard (status.st_mode & S_IFMT) == S_IFREG else {
                throw AriaError(.fileFailed, "'\(path.prefix(80))' is not a regular file", details: ["reason": "not_a_file"])
            }
            guard Int(status.st_size) <= limit else {
                throw AriaError(.fileFailed, "'\(path.prefix(80))' is \(status.st_size) bytes; the limit is \(limit)", details: ["reason": "too_large"], category: .resource)
            }
            var buffer = [UInt8](repeating: 0, count: Int(status.st_size))
            var offset = 0
            while offset < buffer.count {
                let count = buffer.withUnsafeMutableBytes { read(file, $0.baseAddress! + offset, $0.count - offset) }
                guard count > 0 else {
                    if count < 0 { throw TenantWorkspace.failure(errno, path: path) }
                    break
                }
                offset += count
            }
            return Array(buffer.prefix(offset))
        }
        var output: [String: JSONValue] = ["path": .string(path), "size": .int(Int64(bytes.count))]
        if !base64, let text = String(validating: bytes, as: UTF8.self) {
            output["content"] = .string(text)
        } else {
            output["content_base64"] = .string(Data(bytes).base64EncodedString())
        }
        return .object(output)
    }
}

/// `file_write`: writes a file of the tenant's workspace.
public struct FileWriteSkill: Skill {
    let workspace: TenantWorkspace
    /// The contract and configuration (`workspace_root`, `max_file_bytes`).
    public let descriptor: SkillDescriptor
    /// Creates the skill over `workspace` (the descriptor's `workspace_root` is not used).
    public init(workspace: TenantWorkspace, descriptor: SkillDescriptor = SkillCatalog.builtIn["file_write"]!) {
        self.workspace = workspace
        self.descriptor = descriptor
    }
    /// Creates the skill over the workspace `descriptor` configures.
    public init(descriptor: SkillDescriptor) { self.init(workspace: TenantWorkspace(configuredBy: descriptor), descriptor: descriptor) }

    /// Writes and returns `{path, size}` (the bytes written).
    public func execute(_ params: JSONValue, context: SkillContext) async throws -> JSONValue {
        let path = params["path"]?.stringValue ?? ""
        let bytes: [UInt8]
        switch (params["content"]?.stringValue, params["content_base64"]?.stringValue) {
        case (let text?, nil): bytes = Array(text.utf8)
        case (nil, let encoded?):
            guard let data = Data(base64Encoded: encoded) else { throw AriaError(.invalidParams, "content_base64 is not base64") }
            bytes = Array(data)
        default: throw AriaError(.invalidParams, "give exactly one of content and content_base64")
        }
        let limit = Int(descriptor.configuration["max_file_bytes"]?.intValue ?? 10 * 1024 * 1024)
        guard bytes.count <= limit else {
            throw AriaError(.fileFailed, "content is \(bytes.count) bytes; the limit is \(limit)", details: ["reason": "too_large"], category: .resource)
        }
        var flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC
        switch params["mode"]?.stringValue ?? "overwrite" {
        case "create": flags |= O_EXCL
        case "append": flags |= O_APPEND
        default: flags |= O_TRUNC
        }
        let makeDirs = params["make_dirs"]?.boolValue ?? false
        let workspace = workspace
        let openFlags = flags
        try await workspace.run {
            let (directory, name) = try workspace.openParent(tenant: context.tenant, path: path, create: makeDirs)
            defer { close(directory) }
            let file = openat(directory, name, openFlags, 0o600)
            guard file >= 0 else { throw TenantWorkspace.failure(errno, path: path) }
            defer { close(file) }
            var offset = 0
            while offset < bytes.count {
                let count = bytes.withUnsafeBytes { write(file, $0.baseAddress! + offset, $0.count - offset) }
                guard count > 0 else { throw TenantWorkspace.failure(errno, path: path) }
                offset += count
            }
        }
        return ["path": .string(path), "size": .int(Int64(bytes.count))]
    }
}
