import Logging
import PostgresNIO

/// Reads for benchmarks and tests in this package (table sizes, statistics): never reached from
/// a run, never with text a run supplies.
extension PostgresEventStore {
    /// The first column of the first row of `sql`, as text (nil for no row or NULL).
    package func scalar(_ sql: String) async throws -> String? {
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT (\(sql))::TEXT"), logger: logger)
        for try await value in rows.decode(String?.self) { return value }
        return nil
    }
}
