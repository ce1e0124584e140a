import Foundation
import Hummingbird
import NightshiftCore
import NightshiftRuntime

/// The dashboard's pages on what runs leave and what starts them: the memory bank with its
/// proposals (accepted or declined from the page, once), and the schedules and webhooks.
enum DashboardRecordRoutes {
    static func signedIn(_ dash: RouterGroup<APIContext>, runtime: Runtime, webhooks: Webhooks?) {
        dash.get("memories") { _, context in
            let token = try context.require(.read)
            let bank = try runtime.memoryBank(by: token.principal)
            let proposals = try await bank.proposals().filter { $0.status == .waiting }.map { p -> [String: Any] in
                [
                    "id": p.id.rawValue, "path": Routes.segment(p.id.rawValue), "kind": p.kind.rawValue,
                    "scope": p.scope.description, "text": p.text, "tags": p.tags, "hasTags": !p.tags.isEmpty,
                    "run": p.run.rawValue, "runPath": Routes.segment(p.run.rawValue),
                ]
            }
            let memories = try await bank.list(scopes: nil, includeGone: false).prefix(500).map { m -> [String: Any] in
                ["id": m.id.rawValue, "kind": m.kind.rawValue, "scope": m.scope.description, "text": m.text]
            }
            return DashboardRoutes.page(
                "Memories", "memories",
                ["proposals": proposals, "memories": memories, "anyMemories": !memories.isEmpty], token: token,
                context: context)
        }
        for accept in [true, false] {
            dash.post("memories/:id/\(accept ? "accept" : "decline")") { request, context in
                let token = try context.require(.approve)
                let form = try await DashboardRoutes.checkedForm(request, context)
                let note = form["note"] ?? ""
                if !accept, Decisions.isBlank(note) {
                    throw Problem(.badRequest, code: "invalid_body", "a decline needs a note saying why")
                }
                let id = MemoryID(rawValue: try Routes.parameter("id", context))
                _ = try await runtime.memoryBank(by: token.principal).decide(id, accept: accept, note: note)
                var response = Response.redirect(to: "/dashboard/memories", type: .normal)
                response.status = .seeOther
                return response
            }
        }
        dash.get("schedules") { _, context in
            let token = try context.require(.read)
            let schedules = try await runtime.schedules().list().map { e -> [String: Any] in
                let s = e.schedule
                return [
                    "name": s.name, "cron": s.cron, "zone": s.timeZone == "UTC" ? "" : s.timeZone,
                    "next": s.paused ? "paused" : e.next.map { $0.slotText } ?? "never",
                    "last": e.last.map {
                        "\($0.slot.slotText) \($0.outcome.rawValue)" + ($0.run.map { " \($0)" } ?? "")
                    }
                        ?? "-",
                    "workspace": s.template.workspace,
                ]
            }
            let hooks = (webhooks?.hooks.values.sorted { $0.name < $1.name } ?? []).map { h -> [String: Any] in
                [
                    "name": h.name, "workspace": h.template.workspace,
                    "what": h.template.goal.map { "the goal \"\($0.prefix(80))\"" }
                        ?? "the plan \"\(h.template.plan?.title ?? "")\"",
                ]
            }
            return DashboardRoutes.page(
                "Schedules", "schedules",
                [
                    "schedules": schedules, "anySchedules": !schedules.isEmpty, "hooks": hooks,
                    "anyHooks": !hooks.isEmpty,
                ], token: token, context: context)
        }
    }

    /// A fleet's tree as table rows, each with its depth (indented by the page).
    static func treeRows(_ tree: FleetTree, depth: Int = 0) -> [[String: Any]] {
        let row: [String: Any] = [
            "run": tree.run.rawValue, "path": Routes.segment(tree.run.rawValue), "profile": tree.profile ?? "-",
            "status": tree.status, "own": Money.format(tree.own.costPicoUSD),
            "total": Money.format(tree.total.costPicoUSD), "depth": min(depth, 3),
        ]
        return [row] + tree.children.flatMap { treeRows($0, depth: depth + 1) }
    }
}
