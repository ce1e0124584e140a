import GRDB

/// The schema, as SQL migrations. Never edit a shipped migration; add a new one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1-event-log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE run (
                        id TEXT PRIMARY KEY NOT NULL,
                        title TEXT NOT NULL,
                        status TEXT NOT NULL,
                        created INTEGER NOT NULL,
                        updated INTEGER NOT NULL,
                        head_seq INTEGER NOT NULL,
                        head_hash BLOB NOT NULL
                    );
                    -- One row per event. body is the canonical JSON the hash covers; blobs lists the
                    -- content keys of large payloads it references (NULL when none).
                    -- A rowid table on purpose: WITHOUT ROWID keeps at most ~1 KB of a row on its
                    -- B-tree page, so a typical 1-2 KB event would spill into a mostly empty overflow page.
                    CREATE TABLE event (
                        id INTEGER PRIMARY KEY,
                        run TEXT NOT NULL,
                        seq INTEGER NOT NULL CHECK (seq >= 1),
                        kind TEXT NOT NULL,
                        body BLOB NOT NULL,
                        hash BLOB NOT NULL,
                        blobs TEXT,
                        UNIQUE (run, seq)
                    );
                    -- Large payloads, stored once by SHA-256 of their bytes.
                    CREATE TABLE blob (
                        key TEXT PRIMARY KEY NOT NULL,
                        bytes BLOB NOT NULL
                    ) WITHOUT ROWID;
                    -- The newest folded state of each run (a cache; the log is the truth).
                    CREATE TABLE snapshot (
                        run TEXT PRIMARY KEY NOT NULL,
                        seq INTEGER NOT NULL,
                        state BLOB NOT NULL
                    ) WITHOUT ROWID;
                    """)
        }
        // Who drives each run (one process at a time). Every append by a driver checks, in its
        // transaction, that its epoch is still the run's; a take-over increments it.
        m.registerMigration("v2-leases") { db in
            try db.execute(
                sql: """
                    CREATE TABLE lease (
                        run TEXT PRIMARY KEY NOT NULL,
                        epoch INTEGER NOT NULL,
                        host TEXT NOT NULL,
                        boot TEXT NOT NULL,
                        pid INTEGER NOT NULL,
                        started INTEGER NOT NULL,
                        since INTEGER NOT NULL,
                        heartbeat INTEGER NOT NULL,
                        released INTEGER NOT NULL DEFAULT 0
                    ) WITHOUT ROWID;
                    """)
        }
        // The memory bank: its hash-chained log (the truth), each memory as it stands (a cache the
        // log can rebuild), and a full-text index of the live ones (rowid = memory.n).
        m.registerMigration("v3-memory") { db in
            try db.execute(
                sql: """
                    CREATE TABLE memory_log (
                        seq INTEGER PRIMARY KEY CHECK (seq >= 1),
                        time INTEGER NOT NULL,
                        memory TEXT NOT NULL,
                        body BLOB NOT NULL,
                        hash TEXT NOT NULL
                    );
                    CREATE INDEX memory_log_by_memory ON memory_log (memory, seq);
                    CREATE TABLE memory (
                        n INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        scope TEXT NOT NULL,
                        updated INTEGER NOT NULL,
                        live INTEGER NOT NULL,
                        expires INTEGER,
                        state BLOB NOT NULL
                    );
                    CREATE INDEX memory_by_scope ON memory (scope, updated);
                    -- sk: one token naming the memory's scope, so the scope filter is part of the match.
                    CREATE VIRTUAL TABLE memory_fts USING fts5(text, tags, sk, tokenize = 'porter unicode61');
                    """)
        }
        // Dreams and their proposals as they stand: caches of the memory log's dream and decision records.
        m.registerMigration("v4-dreams") { db in
            try db.execute(
                sql: """
                    CREATE TABLE memory_dream (
                        n INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        state BLOB NOT NULL
                    );
                    CREATE TABLE memory_proposal (
                        n INTEGER PRIMARY KEY,
                        id TEXT NOT NULL UNIQUE,
                        status TEXT NOT NULL,
                        state BLOB NOT NULL
                    );
                    """)
        }
        // Live memories' vectors for hybrid search (n = memory.n), dropped when the memory changes.
        // Stored by model and scope, so a search reads its scopes' vectors as one range; each is
        // int8 (scaled to its largest component: a cosine does not change), 4 times smaller than floats.
        // memory_live_by_scope and memory_vector_by_scope let "is every live memory of these scopes
        // embedded" be counted from indexes alone.
        m.registerMigration("v5-vectors") { db in
            try db.execute(
                sql: """
                    CREATE TABLE memory_vector (
                        model TEXT NOT NULL,
                        scope TEXT NOT NULL,
                        n INTEGER NOT NULL,
                        version INTEGER NOT NULL,
                        expires INTEGER,
                        vec BLOB NOT NULL,
                        PRIMARY KEY (model, scope, n)
                    ) WITHOUT ROWID;
                    CREATE INDEX memory_vector_by_memory ON memory_vector (n, model);
                    CREATE INDEX memory_vector_by_scope ON memory_vector (model, scope);
                    CREATE INDEX memory_live_by_scope ON memory (scope, live, n);
                    """)
        }
        // The events the memory bank reads across every run (proposals, what shifts were shown),
        // found without reading every log. Partial: other events never enter it, so appends of
        // every other kind pay nothing.
        m.registerMigration("v6-memory-events") { db in
            try db.execute(
                sql: """
                    CREATE INDEX event_memory_kinds ON event (kind, run, seq)
                        WHERE kind IN ('memory_proposed', 'memories_shown');
                    """)
        }
        // The run queue (see `RunQueue`): the runs a worker may have to continue, kept by the appends
        // that make a run runnable, so a worker reads one index instead of folding every run. Each
        // run's parent, for a sub-agent, so its end can wake the run waiting for it. Existing runs
        // get their parent from their first event, and every paused run and running sub-agent is
        // queued to be checked once (the checks settle the ones that are not ready).
        m.registerMigration("v7-run-queue") { db in
            try db.execute(
                sql: """
                    ALTER TABLE run ADD COLUMN parent TEXT;
                    CREATE TABLE run_queue (
                        run TEXT PRIMARY KEY NOT NULL,
                        reason TEXT NOT NULL,
                        not_before INTEGER NOT NULL,
                        version INTEGER NOT NULL
                    ) WITHOUT ROWID;
                    CREATE INDEX run_queue_due ON run_queue (not_before);
                    """)
            _ = try SQLiteRunQueue.reconcile(db)
        }
        // The HTTP API's tokens (see `TokenStore`): the SHA-256 of each secret, never the secret.
        m.registerMigration("v8-api-tokens") { db in
            try db.execute(
                sql: """
                    CREATE TABLE api_token (
                        id TEXT PRIMARY KEY NOT NULL,
                        name TEXT NOT NULL,
                        principal TEXT NOT NULL,
                        scopes TEXT NOT NULL,
                        secret_sha256 BLOB NOT NULL,
                        created INTEGER NOT NULL,
                        expires INTEGER,
                        revoked INTEGER
                    ) WITHOUT ROWID;
                    """)
        }
        // Schedules (see `ScheduleStore`) and their slots: the slot's primary key is what makes
        // a slot start at most one run, however many processes see it come.
        m.registerMigration("v9-schedules") { db in
            try db.execute(
                sql: """
                    CREATE TABLE schedule (
                        name TEXT PRIMARY KEY NOT NULL,
                        cron TEXT NOT NULL,
                        time_zone TEXT NOT NULL,
                        template TEXT NOT NULL,
                        catch_up TEXT NOT NULL,
                        paused INTEGER NOT NULL,
                        created INTEGER NOT NULL,
                        created_by TEXT NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE schedule_slot (
                        schedule TEXT NOT NULL,
                        slot INTEGER NOT NULL,
                        claimed INTEGER NOT NULL,
                        outcome TEXT NOT NULL,
                        run TEXT,
                        detail TEXT,
                        PRIMARY KEY (schedule, slot)
                    ) WITHOUT ROWID;
                    """)
        }
        // The retention log (see `LogRetention`): one row per run pruned, written in the transaction
        // that deletes it. The runs' parents and the events' blob lists indexed, so a prune finds a
        // run's sub-agents and the blobs other runs still refer to without reading every event.
        m.registerMigration("v10-retention") { db in
            try db.execute(
                sql: """
                    CREATE TABLE retention_log (
                        n INTEGER PRIMARY KEY,
                        run TEXT NOT NULL,
                        root TEXT NOT NULL,
                        head_seq INTEGER NOT NULL,
                        head_hash TEXT NOT NULL,
                        export_file TEXT NOT NULL,
                        export_sha256 TEXT NOT NULL,
                        time INTEGER NOT NULL,
                        pruned_by TEXT NOT NULL
                    );
                    CREATE INDEX retention_log_by_run ON retention_log (run);
                    CREATE INDEX run_by_parent ON run (parent) WHERE parent IS NOT NULL;
                    CREATE INDEX event_blob_lists ON event (blobs) WHERE blobs IS NOT NULL;
                    """)
        }
        return m
    }
}
