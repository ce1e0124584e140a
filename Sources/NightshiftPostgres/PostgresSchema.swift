import Logging
import NightshiftCore
import PostgresNIO

/// The schema, as numbered migrations applied in order on first use, each in its transaction
/// with the version it brings. Never edit a shipped migration; add one. A database whose
/// version is newer than this binary's is refused, not used.
enum PostgresSchema {
    static let migrations: [(version: Int, sql: [PostgresQuery])] = [
        (
            1,
            [
                """
                CREATE TABLE run (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created BIGINT NOT NULL,
                    updated BIGINT NOT NULL,
                    head_seq BIGINT NOT NULL,
                    head_hash BYTEA NOT NULL,
                    parent TEXT
                )
                """,
                // One row per event: body is the canonical JSON the hash covers (the same bytes as
                // SQLite's); blobs lists the content keys of large payloads it references.
                """
                CREATE TABLE event (
                    run TEXT NOT NULL,
                    seq BIGINT NOT NULL CHECK (seq >= 1),
                    kind TEXT NOT NULL,
                    body BYTEA NOT NULL,
                    hash BYTEA NOT NULL,
                    blobs TEXT,
                    PRIMARY KEY (run, seq)
                )
                """,
                "CREATE INDEX event_memory_kinds ON event (kind) WHERE kind IN ('memory_proposed', 'memories_shown')",
                "CREATE TABLE blob (key TEXT PRIMARY KEY, bytes BYTEA NOT NULL)",
                "CREATE TABLE snapshot (run TEXT PRIMARY KEY, seq BIGINT NOT NULL, state BYTEA NOT NULL)",
                // Who drives each run: every append by a driver checks its epoch here, in its
                // transaction; since and heartbeat are the database's clock (milliseconds).
                """
                CREATE TABLE lease (
                    key TEXT PRIMARY KEY,
                    epoch BIGINT NOT NULL,
                    host TEXT NOT NULL,
                    boot TEXT NOT NULL,
                    pid INTEGER NOT NULL,
                    started BIGINT NOT NULL,
                    since BIGINT NOT NULL,
                    heartbeat BIGINT NOT NULL,
                    released SMALLINT NOT NULL DEFAULT 0
                )
                """,
            ]
        ),
        (
            2,
            [
                // The runs a worker may have to continue (see `RunQueue`), kept by the appends.
                """
                CREATE TABLE run_queue (
                    run TEXT PRIMARY KEY,
                    reason TEXT NOT NULL,
                    not_before BIGINT NOT NULL,
                    version BIGINT NOT NULL
                )
                """,
                "CREATE INDEX run_queue_due ON run_queue (not_before)",
                "CREATE SEQUENCE run_queue_version",
            ]
        ),
    ]

    static var latest: Int { migrations.map(\.version).max() ?? 0 }

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        try await client.withTransaction(logger: logger) { c in
            // One migrator at a time, however many processes start at once.
            try await c.query("SELECT pg_advisory_xact_lock(7418822)", logger: logger)
            try await c.query(
                "CREATE TABLE IF NOT EXISTS nightshift_schema (version INTEGER NOT NULL)", logger: logger)
            var current = 0
            for try await v in try await c.query("SELECT max(version) FROM nightshift_schema", logger: logger)
                .decode(Int?.self)
            {
                current = v ?? 0
            }
            guard current <= latest else {
                throw StoreError(
                    .readOnly,
                    "this database's schema is version \(current), newer than this nightshift's (\(latest)): use a newer nightshift"
                )
            }
            for m in migrations where m.version > current {
                for statement in m.sql { try await c.query(statement, logger: logger) }
                try await c.query("INSERT INTO nightshift_schema (version) VALUES (\(m.version))", logger: logger)
            }
        }
    }
}
