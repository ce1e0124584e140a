import Foundation
import NightshiftConfig
import NightshiftCore
import NightshiftTesting
import Testing

@testable import NightshiftRuntime

/// The webhooks a server reads when it starts: each checked then, with the file and line it came from.
@Suite struct WebhooksTests {
    @Test func aHookIsCheckedWhenTheServerStarts() throws {
        let root = tempDir("ns-hooks")
        let ws = root + "/ws"
        try FileManager.default.createDirectory(atPath: ws + "/sub", withIntermediateDirectories: true)
        try "0123456789abcdef-secret\n".write(toFile: ws + "/sub/hook.secret", atomically: true, encoding: .utf8)
        try "0123456789abcdef-secret\n".write(toFile: root + "/hook.secret", atomically: true, encoding: .utf8)
        try "short\n".write(toFile: root + "/short.secret", atomically: true, encoding: .utf8)
        func entry(_ secretFile: String? = nil, workspace: String? = nil, plan: String? = nil) -> WebhookEntry {
            WebhookEntry(
                name: "ci", secret: secretFile == nil ? "0123456789abcdef" : nil, secretFile: secretFile,
                goal: plan == nil ? "g" : nil, planFile: plan, workspace: workspace, origin: "config.yaml:3")
        }
        for (e, message) in [
            (entry(ws + "/sub/hook.secret"), "lies in \(ws)"),
            (entry(root + "/missing.secret"), "cannot read"),
            (entry(root + "/short.secret"), "shorter than 16"),
            (entry(workspace: root + "/nowhere"), "no folder at"),
            (entry(plan: root + "/missing.yaml"), "config.yaml:3: webhook ci"),
        ] {
            #expect { try Webhooks([e], workspace: ws) } throws: {
                ($0 as? RuntimeError)?.message.contains(message) == true && "\($0)".contains("config.yaml:3")
            }
        }
        let ok = try Webhooks([entry(root + "/hook.secret")], workspace: ws)
        #expect(ok.hooks["ci"]?.template.workspace == ws)
    }
}
