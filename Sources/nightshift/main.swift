import NightshiftCLI

// Before anything else: the stop signals' handlers and the open-files limit.
Nightshift.prepareProcess()
// The executable only hands over to the command tree (kept in a library so tests can reach it).
await Nightshift.start()
