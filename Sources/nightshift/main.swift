import ArgumentParser
import NightshiftCLI

// The executable only hands over to the command tree (kept in a library so tests can reach it).
// Called from an async function: in top-level code, overload resolution picks ArgumentParser's
// synchronous `main`, which refuses an async root command.
func start() async { await Nightshift.main(nil) }
await start()
