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
        (
            3,
            [
                // The memory bank: its hash-chained log (the truth), each memory as it stands (a
                // cache the log can rebuild), dreams and proposals as they stand, live memories'
                // vectors. Keys are "C"-collated: ranges and orders are bytewise, as on SQLite.
                // The one head row is locked by every memory write: the log's appends take turns
                // across hosts, so its chain is linear and each change is checked against the
                // memory as the writer before left it.
                """
                CREATE TABLE memory_head (
                    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
                    seq BIGINT NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                "INSERT INTO memory_head (one, seq, hash) VALUES (TRUE, 0, '')",
                """
                CREATE TABLE memory_log (
                    seq BIGINT PRIMARY KEY CHECK (seq >= 1),
                    time BIGINT NOT NULL,
                    memory TEXT COLLATE "C" NOT NULL,
                    body BYTEA NOT NULL,
                    hash TEXT NOT NULL
                )
                """,
                "CREATE INDEX memory_log_by_memory ON memory_log (memory, seq)",
                // doc: the live memory's words for search (NULL once it is gone).
                """
                CREATE TABLE memory (
                    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    id TEXT COLLATE "C" NOT NULL UNIQUE,
                    scope TEXT COLLATE "C" NOT NULL,
                    updated BIGINT NOT NULL,
                    live BOOLEAN NOT NULL,
                    expires BIGINT,
                    state BYTEA NOT NULL,
                    doc TSVECTOR
                )
                """,
                "CREATE INDEX memory_by_scope ON memory (scope, updated)",
                "CREATE INDEX memory_live_by_scope ON memory (scope, live, n)",
                "CREATE INDEX memory_doc ON memory USING GIN (doc)",
                """
                CREATE TABLE memory_dream (
                    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    id TEXT COLLATE "C" NOT NULL UNIQUE,
                    state BYTEA NOT NULL
                )
                """,
                """
                CREATE TABLE memory_proposal (
                    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    id TEXT COLLATE "C" NOT NULL UNIQUE,
                    status TEXT NOT NULL,
                    state BYTEA NOT NULL
                )
                """,
                // n = memory.n; dropped when the memory changes; int8, scaled to its largest component.
                """
                CREATE TABLE memory_vector (
                    model TEXT COLLATE "C" NOT NULL,
                    scope TEXT COLLATE "C" NOT NULL,
                    n BIGINT NOT NULL,
                    version BIGINT NOT NULL,
                    expires BIGINT,
                    vec BYTEA NOT NULL,
                    PRIMARY KEY (model, scope, n)
                )
                """,
                "CREATE INDEX memory_vector_by_memory ON memory_vector (n, model)",
            ]
        ),
        (
            4,
            [
                // The HTTP API's tokens (see `TokenStore`): the SHA-256 of each secret, never the secret.
                """
                CREATE TABLE api_token (
                    id TEXT COLLATE "C" PRIMARY KEY,
                    name TEXT NOT NULL,
                    principal TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    secret_sha256 BYTEA NOT NULL,
                    created BIGINT NOT NULL,
                    expires BIGINT,
                    revoked BIGINT
                )
                """
            ]
        ),
        (
            5,
            [
                // Schedules (see `ScheduleStore`) and their slots: the slot's primary key is what
                // makes a slot start at most one run, however many hosts see it come.
                """
                CREATE TABLE schedule (
                    name TEXT COLLATE "C" PRIMARY KEY,
                    cron TEXT NOT NULL,
                    time_zone TEXT NOT NULL,
                    template TEXT NOT NULL,
                    catch_up TEXT NOT NULL,
                    paused BOOLEAN NOT NULL,
                    created BIGINT NOT NULL,
                    created_by TEXT NOT NULL
                )
                """,
                """
                CREATE TABLE schedule_slot (
                    schedule TEXT COLLATE "C" NOT NULL,
                    slot BIGINT NOT NULL,
                    claimed BIGINT NOT NULL,
                    outcome TEXT NOT NULL,
                    run TEXT,
                    detail TEXT,
                    PRIMARY KEY (schedule, slot)
                )
                """,
            ]
        ),
        (
            6,
            [
                // The retention log (see `LogRetention`): one row per run pruned, written in the
                // transaction that deletes it. The runs' parents and the events' blob keys indexed,
                // so a prune finds a run's sub-agents and the blobs other runs still refer to.
                """
                CREATE TABLE retention_log (
                    n BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    run TEXT NOT NULL,
                    root TEXT NOT NULL,
                    head_seq BIGINT NOT NULL,
                    head_hash TEXT NOT NULL,
                    export_file TEXT NOT NULL,
                    export_sha256 TEXT NOT NULL,
                    time BIGINT NOT NULL,
                    pruned_by TEXT NOT NULL
                )
                """,
                "CREATE INDEX retention_log_by_run ON retention_log (run)",
                "CREATE INDEX run_by_parent ON run (parent) WHERE parent IS NOT NULL",
                "CREATE INDEX event_blob_keys ON event USING GIN (string_to_array(blobs, ',')) WHERE blobs IS NOT NULL",
            ]
        ),
    ]

    static var latest: Int { migrations.map(\.version).max() ?? 0 }

    static func migrate(_ client: PostgresClient, logger: Logger) async throws {
        // Read first: a database at this version needs no lock and no CREATE right (a role that
        // may only read and write the tables is enough once the schema is made).
        if let current = try? await version(client, logger: logger) {
            guard current <= latest else {
                throw StoreError(
                    .readOnly,
                    "this database's schema is version \(current), newer than this nightshift's (\(latest)): use a newer nightshift"
                )
            }
            if current == latest { return }
        }
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

    /// The schema's version; throws when there is no schema yet.
    static func version(_ client: PostgresClient, logger: Logger) async throws -> Int {
        for try await v in try await client.query("SELECT max(version) FROM nightshift_schema", logger: logger)
            .decode(Int?.self)
        {
            return v ?? 0
        }
        return 0
    }
}
