import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftTesting
import Testing

/// The trust store's contract, over the file store in a person's configuration folder and its
/// in-memory twin: nothing is trusted until a person trusts it, exactly that content is trusted,
/// only the latest trusted version counts, and what was trusted can be shown and forgotten.
@Suite struct TrustStoreConformanceTests {
    enum Kind: String, CaseIterable { case file, twin }

    func make(_ kind: Kind) -> any TrustStore {
        switch kind {
        case .file:
            FileTrustStore(
                folder: FileManager.default.temporaryDirectory.appendingPathComponent("ns-trust-\(UUID().uuidString)")
                    .path + "/nightshift/trust")
        case .twin: InMemoryTrustStore()
        }
    }

    func sha(_ text: String) -> String { Payload(text).sha256Hex }

    @Test(arguments: Kind.allCases) func onlyTheLatestContentAPersonTrustedIsTrusted(_ kind: Kind) throws {
        let store = make(kind)
        let v1 = "policy: one\n", v2 = "policy: two\n"
        #expect(try !store.isTrusted("/p/config.yaml", sha256: sha(v1)))
        #expect(try store.lastTrusted("/p/config.yaml") == nil)
        try store.trust("/p/config.yaml", text: v1, by: "alice", at: Timestamp(milliseconds: 5))
        #expect(try store.isTrusted("/p/config.yaml", sha256: sha(v1)))
        #expect(try !store.isTrusted("/p/config.yaml", sha256: sha(v2)), "another content is not trusted")
        #expect(try !store.isTrusted("/q/config.yaml", sha256: sha(v1)), "nor the same content at another path")
        try store.trust("/p/config.yaml", text: v2, by: "bob", at: Timestamp(milliseconds: 9))
        #expect(try store.isTrusted("/p/config.yaml", sha256: sha(v2)))
        #expect(try !store.isTrusted("/p/config.yaml", sha256: sha(v1)), "an older version put back is not trusted")
        let last = try #require(try store.lastTrusted("/p/config.yaml"))
        #expect(last.text == v2 && last.by == "bob" && last.at == Timestamp(milliseconds: 9) && last.sha256 == sha(v2))
        #expect(try store.entries().map(\.path) == ["/p/config.yaml"])
        #expect(try store.revoke("/p/config.yaml"))
        #expect(try !store.revoke("/p/config.yaml"))
        #expect(try !store.isTrusted("/p/config.yaml", sha256: sha(v2)))
        #expect(try store.entries().isEmpty)
    }

    /// Two people trusting files at once lose neither record.
    @Test func concurrentTrustsLoseNothing() async throws {
        let store = make(.file)
        await withTaskGroup(of: Void.self) { group in
            for n in 0..<16 {
                group.addTask {
                    try? store.trust("/p/f\(n)", text: "v\(n)", by: "p\(n)", at: Timestamp(milliseconds: 1))
                }
            }
        }
        #expect(try store.entries().count == 16)
        for n in 0..<16 { #expect(try store.isTrusted("/p/f\(n)", sha256: sha("v\(n)"))) }
    }

    /// The store's folder is private to the person; a damaged index is one line saying what to do.
    @Test func theFileStoreIsPrivateAndADamagedIndexSaysWhatToDo() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ns-trust-\(UUID().uuidString)").path
        let store = FileTrustStore(folder: folder)
        try store.trust("/p/x", text: "x", by: "a", at: Timestamp(milliseconds: 1))
        let mode = try FileManager.default.attributesOfItem(atPath: folder)[.posixPermissions] as? Int
        #expect(mode == 0o700)
        let indexMode =
            try FileManager.default.attributesOfItem(atPath: folder + "/index.json")[.posixPermissions] as? Int
        #expect(indexMode == 0o600)
        try "{not json".write(toFile: folder + "/index.json", atomically: true, encoding: .utf8)
        let error = #expect(throws: FileError.self) { try store.isTrusted("/p/x", sha256: "x") }
        #expect(error?.message.contains("move it away") == true && !"\(error!)".contains("\n"))
    }
}
