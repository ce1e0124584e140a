import Foundation

/// The pause between two looks of a polling wait. It stays a pause when the task is cancelled:
/// a cancelled `Task.sleep` returns at once, and a loop around it would spin a core.
func pollPause(milliseconds: Int = 5) async {
    do { try await Task.sleep(for: .milliseconds(milliseconds)) } catch { usleep(useconds_t(milliseconds * 1000)) }
}
