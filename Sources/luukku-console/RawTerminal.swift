import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The terminal's settings before the console changed them, for the signal handlers that restore them. Set
/// once before the handlers are installed, then only read (from a signal handler: tcsetattr and write are
/// async-signal-safe).
nonisolated(unsafe) private var savedSettings = termios()
/// Leaves the alternate screen and shows the cursor again, with write(2) only: async-signal-safe. The text is a
/// local StaticString literal, whose bytes are in the binary: no allocation and no lazy global initialiser
/// (a crash inside malloc must not deadlock the handler).
private func writeLeaveScreen() {
    let leave: StaticString = "\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l"
    _ = Glibc.write(STDOUT_FILENO, leave.utf8Start, leave.utf8CodeUnitCount)
}

/// Puts the terminal in raw mode on the alternate screen and always puts it back: on ``restore()``, and on
/// SIGTERM, SIGHUP and the crash signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP) through handlers that
/// restore the settings and then die of the same signal. Ctrl-C arrives as a key (ISIG is off) and the
/// console quits cleanly on it.
final class RawTerminal: Sendable {
    private let restored = Mutex(false)

    init() throws {
        guard tcgetattr(STDIN_FILENO, &savedSettings) == 0 else {
            throw ConsoleError("cannot read the terminal's settings: \(String(cString: strerror(errno)))")
        }
        // SIGTRAP: Swift's runtime traps (force unwrap, bounds, precondition) on aarch64.
        for signal in [SIGTERM, SIGHUP, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
            Glibc.signal(signal) { number in
                var settings = savedSettings
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings)
                writeLeaveScreen()
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
        }
        var raw = savedSettings
        raw.c_iflag &= ~tcflag_t(BRKINT | ICRNL | INPCK | ISTRIP | IXON)
        raw.c_oflag &= ~tcflag_t(OPOST)
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | IEXTEN | ISIG)
        raw.c_cflag |= tcflag_t(CS8)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        guard tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw) == 0 else {
            throw ConsoleError("cannot put the terminal in raw mode: \(String(cString: strerror(errno)))")
        }
        write("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
    }

    /// Back to the settings and the screen the console started with; once.
    func restore() {
        let first = restored.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        var settings = savedSettings
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &settings)
        writeLeaveScreen()
    }

    /// Columns and rows (80x24 when the terminal cannot tell).
    static var size: (width: Int, height: Int) {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else {
            return (80, 24)
        }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    func write(_ text: String) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return }
            offset += written
        }
    }
}

/// The console could not start or run.
struct ConsoleError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
