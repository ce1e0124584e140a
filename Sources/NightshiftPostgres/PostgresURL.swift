import Foundation
public import PostgresNIO

/// A `postgres://USER@HOST:PORT/DATABASE?sslmode=…` address as a client configuration. The
/// password never comes from the address (it would sit in shell histories, process lists and
/// configuration files): it is `PGPASSWORD` from the environment, when set.
public enum PostgresURL {
    /// - Throws: a ``PostgresURLError`` naming what is wrong (never the password).
    public static func configuration(
        _ text: String, environment: [String: String]? = nil
    ) throws(PostgresURLError) -> PostgresClient.Configuration {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            // Shown without what comes before an `@` (it may be a user and a password).
            let shown = text.lastIndex(of: "@").map { "…" + text[text.index(after: $0)...] } ?? text
            throw PostgresURLError("'\(shown.prefix(80))' is not a postgres://USER@HOST:PORT/DATABASE address")
        }
        guard url.password == nil else {
            throw PostgresURLError(
                "the address holds a password: give it in PGPASSWORD instead (an address is shown and logged)")
        }
        guard let host = url.host, !host.isEmpty else { throw PostgresURLError("the address names no host") }
        guard let user = url.user, !user.isEmpty else { throw PostgresURLError("the address names no user") }
        let database = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
        guard !database.isEmpty else { throw PostgresURLError("the address names no database") }
        let mode = url.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer"
        let tls: PostgresClient.Configuration.TLS
        switch mode {
        case "disable": tls = .disable
        case "prefer": tls = .prefer(.makeClientConfiguration())
        case "require": tls = .require(.makeClientConfiguration())
        default: throw PostgresURLError("sslmode must be disable, prefer or require, not '\(mode)'")
        }
        return PostgresClient.Configuration(
            host: host, port: url.port ?? 5432, username: user, password: environment["PGPASSWORD"],
            database: database, tls: tls)
    }
}

/// Why an address cannot be used, in one line.
public struct PostgresURLError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
