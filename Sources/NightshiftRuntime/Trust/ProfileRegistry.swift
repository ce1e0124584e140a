import Foundation
import NightshiftConfig
public import NightshiftCore

/// The agent profiles of a folder, pinned: each profile's file and the policy and guidance files
/// it names are read once, checked like every configuration file (a found folder's files only
/// when a person trusted them), and kept by content. A run records them when it starts, and it and
/// its sub-agents spawn from that record, never from the folder again.
public enum ProfileRegistry {
    /// - Throws: ``RuntimeError`` naming the file (and line) of a profile that cannot be used.
    public static func read(
        folder: String, provenance: ConfigProvenance, trust: ConfigTrust
    ) throws -> [PinnedProfile] {
        var out: [PinnedProfile] = []
        for file in AgentProfileFile.files(in: folder) {
            let pinned = try trust.read(file, provenance, what: "the agent profile")
            let profile: AgentProfile
            do { profile = try AgentProfileFile.parse(pinned.text, path: file) } catch {
                throw RuntimeError(.invalidInput, "\(error)")
            }
            if let other = out.first(where: { $0.name == profile.name }) {
                throw RuntimeError(
                    .invalidInput, "\(file): the profile \(profile.name) is also defined in the folder as \(other.name)"
                )
            }
            var named: [(key: String, text: String)] = []
            var policy: PinnedFile?
            var guidance: PinnedFile?
            for (key, path, line) in profile.namedFiles {
                let what = "the \(key) of the profile \(profile.name)"
                let f: PinnedFile
                do { f = try trust.read(path, provenance, what: what) } catch let e as RuntimeError
                    where e.code == .notFound || e.code == .invalidInput
                {
                    throw RuntimeError(.invalidInput, "\(file):\(line ?? 1): \(e.message)")
                }
                named.append((key, f.text))
                if key == "policy" {
                    do { _ = try PolicyFile.parse(f.text, file: f.source) } catch {
                        throw RuntimeError(.invalidInput, "\(error)")
                    }
                    policy = f
                } else {
                    try GuidanceFile.check(f)
                    guidance = f
                }
            }
            out.append(
                PinnedProfile(
                    name: profile.name, description: profile.description,
                    version: AgentProfileFile.version(pinned.text, named: named), model: profile.model,
                    tools: profile.tools, budget: profile.budget, maxConcurrent: profile.maxConcurrent, policy: policy,
                    guidance: guidance))
        }
        return out
    }
}

extension Settings {
    /// The profiles of the profiles folder in force, pinned (see ``ProfileRegistry``).
    public func profiles() throws -> [PinnedProfile] {
        try ProfileRegistry.read(folder: agentsFolder, provenance: provenance(of: .agents), trust: trust)
    }
}
