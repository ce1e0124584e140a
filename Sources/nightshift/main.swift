import NightshiftCLI

// The executable only hands over to the command tree (kept in a library so tests can reach it).
await Nightshift.start()
