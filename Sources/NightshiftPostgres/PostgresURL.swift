import Foundation
public import PostgresNIO

/// A `postgres://USER@HOST:PORT/DATABASE?sslmode=…` address as a client configuration. The
/// password never comes from the address (it would sit in shell histories, process lists and
/// configuration files): it is `PGPASSWORD` from the environment, or else the line for this
/// host, port, database and user in the person's password file (`PGPASSFILE`, else
/// `~/.pgpass`, as libpq reads it), never a file a project or a workspace holds.
public enum PostgresURL {
    /// - Throws: a ``PostgresURLError`` naming what is wrong (never the password).
    public static func configuration(
        _ text: String, environment: [String: String]? = nil
    ) throws(PostgresURLError) -> PostgresClient.Configuration {
        try address(text, environment: environment).client
    }

    /// An address read once, as the pool's configuration and as one connection's (a probe that
    /// learns why the pool cannot connect at once, where the pool would retry for a minute).
    struct Address {
        var host: String
        var port: Int
        var user: String
        var password: String?
        var database: String
        var mode: String

        var client: PostgresClient.Configuration {
            let tls: PostgresClient.Configuration.TLS =
                switch mode {
                case "disable": .disable
                case "require": .require(.makeClientConfiguration())
                default: .prefer(.makeClientConfiguration())
                }
            var configuration = PostgresClient.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
            configuration.options.additionalStartupParameters = Self.session
            return configuration
        }

        /// Every session's limits: a row lock is waited for 5 s at most (then the caller hears
        /// `locked` and tries again), and a session of ours that sits in a transaction for 15 s
        /// (its process frozen or cut off mid-append) is ended by the server, which frees its rows
        /// for the host that takes the run over.
        static let session = [("lock_timeout", "5s"), ("idle_in_transaction_session_timeout", "15s")]

        func connection() throws -> PostgresConnection.Configuration {
            let tls: PostgresConnection.Configuration.TLS =
                switch mode {
                case "disable": .disable
                case "require": .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                default: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
            return PostgresConnection.Configuration(
                host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
    }

    static func address(_ text: String, environment: [String: String]? = nil) throws(PostgresURLError) -> Address {
        let environment = environment ?? ProcessInfo.processInfo.environment
        guard let url = URLComponents(string: text), ["postgres", "postgresql"].contains(url.scheme ?? "") else {
            // Never shown: what does not parse may be a key=value string with a password in it.
            throw PostgresURLError("the store is not a postgres://USER@HOST:PORT/DATABASE address")
        }
        if let other = url.queryItems?.first(where: { $0.name != "sslmode" }) {
            // A password or anything else there would be shown and logged with the address.
            throw PostgresURLError(
                "the address may say only ?sslmode=…, not '\(other.name.prefix(40))' (a password goes in PGPASSWORD or ~/.pgpass)"
            )
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
        guard ["disable", "prefer", "require"].contains(mode) else {
            throw PostgresURLError("sslmode must be disable, prefer or require, not '\(mode)'")
        }
        let port = url.port ?? 5432
        var password = environment["PGPASSWORD"]
        if password == nil, let file = try passwordFile(environment) {
            password = file.password(host: host, port: port, database: database, user: user)
        }
        return Address(host: host, port: port, user: user, password: password, database: database, mode: mode)
    }

    /// Where `configuration` connects, for messages: `USER@HOST:PORT/DATABASE` (never a password).
    public static func shown(_ configuration: PostgresClient.Configuration) -> String {
        "\(configuration.username)@\(configuration.host ?? "?"):\(configuration.port ?? 5432)/\(configuration.database ?? "")"
    }

    /// The person's password file, when there is one. One readable by others is refused, as libpq
    /// refuses it: a password there is no secret.
    static func passwordFile(_ environment: [String: String]) throws(PostgresURLError) -> PasswordFile? {
        guard let path = environment["PGPASSFILE"] ?? environment["HOME"].map({ $0 + "/.pgpass" }) else { return nil }
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        if let mode = attributes[.posixPermissions] as? Int, mode & 0o077 != 0 {
            throw PostgresURLError("\(path) may be read by others: chmod 600 it (it holds passwords)")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw PostgresURLError("\(path) cannot be read")
        }
        return PasswordFile(text: text)
    }

    /// A `.pgpass` file: `HOST:PORT:DATABASE:USER:PASSWORD` a line, `*` matching anything, `\:`
    /// and `\\` escaped; the first line that matches wins.
    struct PasswordFile {
        var lines: [[String]]
        init(text: String) {
            lines = text.split(whereSeparator: \.isNewline).compactMap { line in
                if line.hasPrefix("#") { return nil }
                var fields: [String] = [""]
                var escaped = false
                for ch in line {
                    if escaped {
                        fields[fields.count - 1].append(ch)
                        escaped = false
                    } else if ch == "\\" {
                        escaped = true
                    } else if ch == ":" && fields.count < 5 {
                        fields.append("")
                    } else {
                        fields[fields.count - 1].append(ch)
                    }
                }
                return fields.count == 5 ? fields : nil
            }
        }
        func password(host: String, port: Int, database: String, user: String) -> String? {
            let wanted = [host, String(port), database, user]
            return lines.first { fields in zip(fields, wanted).allSatisfy { $0 == "*" || $0 == $1 } }?[4]
        }
    }
}

/// Why an address cannot be used, in one line.
public struct PostgresURLError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
