import Foundation
import NightshiftRuntime

/// Writes to standard output, control characters escaped (see `VisibleText`).
func writeOut(_ text: String) {
    FileHandle.standardOutput.write(Data(VisibleText.safe(text).utf8))
}

/// Writes to standard error, control characters escaped (see `VisibleText`).
func writeErr(_ text: String) {
    FileHandle.standardError.write(Data(VisibleText.safe(text).utf8))
}
