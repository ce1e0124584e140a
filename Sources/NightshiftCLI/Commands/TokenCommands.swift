import ArgumentParser
import Foundation
import NightshiftCore
import NightshiftRuntime

/// `nightshift token`: the HTTP API's credentials (`nightshift serve`).
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Make, list and revoke the tokens `nightshift serve` accepts.",
        discussion: """
            A token acts for the OS user who made it: a decision made with it (approve, deny, answer, \
            budget) is recorded as that user's and checked against the policy's approvers. Scopes: read \
            (runs, events, the inbox, audits), operate (also start, resume and cancel runs), approve (also \
            decide what waits for a person), admin (everything). The database keeps only a hash of each \
            token's secret: the token is shown once, when it is made.
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print it (once).")

        @OptionGroup var store: StoreOptions
        @Option(help: "What the token is for (shown by `token list`).") var name: String
        @Option(
            help: ArgumentHelp(
                "What it may do, comma-separated: read, operate, approve, admin.", valueName: "SCOPES"))
        var scope: String = "read"
        @Option(help: ArgumentHelp("How long it is valid: 30d, 12h, 90m (default: until revoked).", valueName: "TIME"))
        var expires: String?

        func scopes() throws -> Set<TokenScope> {
            var out: Set<TokenScope> = []
            for part in scope.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let s = TokenScope(rawValue: part) else {
                    throw ValidationError("--scope: '\(part)' is not one of read, operate, approve, admin")
                }
                out.insert(s)
            }
            guard !out.isEmpty else { throw ValidationError("--scope: name at least one scope") }
            return out
        }

        func validate() throws {
            _ = try scopes()
            if let expires { _ = try parseAge(expires, option: "--expires") }
        }

        mutating func run() async throws {
            try await reportErrors {
                var config = try store.resolved()
                config.lockTimeoutSeconds = store.lockTimeout
                // Never a new database: a mistyped --db would make tokens no server of the real one knows.
                let runtime = Runtime(.init(store: config), logger: .commandLine)
                let made = try await runtime.tokens().create(
                    name: name, principal: Governance.user, scopes: try scopes(),
                    validFor: try expires.map { try parseAge($0, option: "--expires") })
                say(made.text)
                writeErr(
                    "token \(made.token.id) for \(made.token.principal) (\(made.token.scopes.sorted().map(\.rawValue).joined(separator: ", "))): "
                        + "copy it now, it is not shown again\n")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the tokens (never their secrets).")
        @OptionGroup var store: StoreOptions

        mutating func run() async throws {
            try await reportErrors {
                let tokens = try await store.runtime().tokens().list()
                if tokens.isEmpty {
                    say("no tokens (nightshift token create --name NAME --scope read makes one)")
                    return
                }
                say(pad("ID", 14) + pad("PRINCIPAL", 14) + pad("SCOPES", 22) + pad("STATE", 24) + "NAME")
                for t in tokens {
                    let state =
                        t.revoked.map { "revoked \(date($0))" }
                        ?? t.expires.map { "expires \(date($0))" } ?? "valid"
                    say(
                        pad(t.id, 14) + pad(t.principal, 14)
                            + pad(t.scopes.sorted().map(\.rawValue).joined(separator: ","), 22)
                            + pad(state, 24) + t.name)
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: it is refused from now on.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The token's id (token list shows it).") var id: String

        mutating func run() async throws {
            try await reportErrors {
                try await store.runtime().tokens().revoke(id)
                say("token \(id) revoked")
            }
        }
    }
}
