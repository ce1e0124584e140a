import Foundation
import Hummingbird
import NightshiftCore
import NightshiftRuntime

/// What the runs left behind: a fleet's tree, the audit (verify, signed export), the memory bank
/// and its proposals, the agents' scorecards, the schedules.
enum RecordRoutes {
    static func routes(_ api: RouterGroup<APIContext>, runtime: Runtime, auditKeyFile: String?) {
        api.get("runs/:run/tree") { _, context in
            _ = try context.require(.read)
            return try Routes.json(TreeBody(try await runtime.fleetTree(of: try Routes.run(context))))
        }
        api.get("runs/:run/verify") { _, context in
            _ = try context.require(.read)
            let run = try Routes.run(context)
            _ = try await runtime.status(of: run)
            let findings = try await runtime.verify(AuditVerify.Request(runs: [run]))
            return try Routes.json(
                VerifyBody(
                    ok: findings.allSatisfy(\.ok),
                    findings: findings.map { .init(subject: $0.subject, ok: $0.ok, text: $0.text) }))
        }
        api.get("runs/:run/export") { _, context in
            _ = try context.require(.read)
            let run = try Routes.run(context)
            _ = try await runtime.status(of: run)
            // A read makes no key: the server's user makes it once, with the command.
            guard FileManager.default.fileExists(atPath: auditKeyFile ?? AuditKey.defaultPath) else {
                throw Problem(
                    .conflict, code: "no_audit_key",
                    "there is no audit key yet to sign with: `nightshift audit export \(run)` on the server makes one")
            }
            let export = try await runtime.export(run, keyFile: auditKeyFile, makeKey: false)
            var headers = HTTPFields()
            headers[.contentType] = "application/x-ndjson"
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: export.text)))
        }
        api.get("memories") { request, context in
            _ = try context.require(.read)
            let bank = try runtime.memoryBank(by: context.token?.principal ?? "")
            let all: Bool
            switch request.uri.queryParameters.get("all") {
            case nil, "false": all = false
            case "true": all = true
            default: throw Problem(.badRequest, code: "invalid_query", "all must be true or false")
            }
            return try Routes.json(
                MemoriesBody(memories: try await bank.list(scopes: nil, includeGone: all).map(MemoryBody.init)))
        }
        api.get("memories/proposals") { _, context in
            _ = try context.require(.read)
            let bank = try runtime.memoryBank(by: context.token?.principal ?? "")
            return try Routes.json(MemoriesBody(memories: try await bank.proposals().map(MemoryBody.init)))
        }
        for (verb, accept) in [("accept", true), ("decline", false)] {
            api.post("memories/proposals/:id/\(verb)") { request, context in
                let token = try context.require(.approve)
                let body = try await Routes.decode(NoteRequest.self, request, context)
                let note = body.note ?? ""
                if !accept, Decisions.isBlank(note) {
                    throw Problem(.badRequest, code: "invalid_body", "a decline needs a note saying why")
                }
                let id = MemoryID(rawValue: try Routes.parameter("id", context))
                let decision = try await runtime.memoryBank(by: token.principal).decide(id, accept: accept, note: note)
                return try Routes.json(
                    MemoriesBody(memories: decision.memories.map(MemoryBody.init)))
            }
        }
        api.get("agents") { request, context in
            _ = try context.require(.read)
            let days = try Routes.integer(request.uri.queryParameters.get("days"), "days", in: 1...3650)
            let cards = try await runtime.scorecards(within: days.map { .seconds($0 * 86400) })
            return try Routes.json(["agents": cards.map(ScorecardBody.init)])
        }
        api.get("agents/profiles") { _, context in
            _ = try context.require(.read)
            let used = try await runtime.profileUse()
            let profiles = used.keys.sorted().map { name -> ProfileBody in
                var versions: [String: [String]] = [:]
                for (run, version) in used[name] ?? [] { versions[version, default: []].append(run.rawValue) }
                return ProfileBody(
                    name: name,
                    versions: versions.keys.sorted().map { ProfileBody.Version(version: $0, runs: versions[$0] ?? []) })
            }
            return try Routes.json(["profiles": profiles])
        }
        api.get("schedules") { _, context in
            _ = try context.require(.read)
            return try Routes.json(["schedules": try await runtime.schedules().list().map(ScheduleBody.init)])
        }
    }
}
