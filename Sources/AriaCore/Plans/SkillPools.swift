import Foundation

/// Which worker pool runs which skill, beyond the pool the registry gives it: `ARIA_SKILL_POOLS`
/// (`skill=pool,skill=pool`), read by schedulers (routing a step to `aria.int.work.<pool>`), workers
/// (choosing the skills they run) and `aria skills`. Every process of a cluster must see the same value.
public struct SkillPoolAssignments: Sendable, Equatable {
    /// Pool by skill name.
    public var pools: [String: String]

    /// Creates assignments.
    public init(_ pools: [String: String] = [:]) {
        self.pools = pools
    }

    /// Parses `ARIA_SKILL_POOLS`; throws `invalid_configuration` for a malformed entry or a name outside `[a-z0-9_-]{1,64}`.
    public init(reader: ConfigReader) throws(AriaError) {
        var pools: [String: String] = [:]
        for item in reader.list("ARIA_SKILL_POOLS", default: []) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, SubjectSafeName.isValid(parts[0]), SubjectSafeName.isValid(parts[1]) else {
                throw AriaError(.invalidConfiguration, "ARIA_SKILL_POOLS: '\(item.prefix(80))' must be skill=pool with names matching [a-z0-9_-]{1,64}")
            }
            guard pools[parts[0]] == nil || pools[parts[0]] == parts[1] else {
                throw AriaError(.invalidConfiguration, "ARIA_SKILL_POOLS assigns '\(parts[0])' to two pools")
            }
            pools[parts[0]] = parts[1]
        }
        self.pools = pools
    }

    /// `catalog` with the assigned pools; throws `invalid_configuration` for a skill the catalog does not have.
    public func applied(to catalog: SkillCatalog) throws(AriaError) -> SkillCatalog {
        var descriptors = catalog.skills
        for (skill, pool) in pools.sorted(by: { $0.key < $1.key }) {
            guard descriptors[skill] != nil else {
                throw AriaError(.invalidConfiguration, "ARIA_SKILL_POOLS names '\(skill)', which is not a known skill")
            }
            descriptors[skill]?.pool = pool
        }
        return SkillCatalog(Array(descriptors.values))
    }
}

extension SkillCatalog {
    /// The catalog a cluster runs with: `base` with `ARIA_SKILL_POOLS` applied.
    public static func configured(base: SkillCatalog = .builtIn, reader: ConfigReader = ConfigReader()) throws(AriaError) -> SkillCatalog {
        try SkillPoolAssignments(reader: reader).applied(to: base)
    }

    /// The names of the skills that run in `pool`, sorted.
    public func skillNames(inPool pool: String) -> [String] {
        skills.values.filter { $0.pool == pool }.map(\.name).sorted()
    }

    /// Every pool some skill runs in, sorted.
    public var pools: [String] {
        Set(skills.values.map(\.pool)).sorted()
    }
}
