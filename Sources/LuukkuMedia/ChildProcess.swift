import CRelayIO
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A child process with pipes on chosen descriptors, made with posix_spawn (no fork in Swift), that cannot
/// outlive its parent:
///
/// - every pipe end the parent keeps is close-on-exec, so only this child holds the other ends; when the
///   parent dies its ends close, the child's reads see end-of-file and its writes EPIPE;
/// - where util-linux's `setpriv` exists the child runs under `setpriv --pdeathsig KILL`, so the kernel kills
///   it when the thread that spawned it ends (PR_SET_PDEATHSIG counts the spawning *thread*: the engine
///   spawns from its own thread and ends the child before that thread returns);
/// - it has its own process group, so a Ctrl-C at the terminal reaches the client, which ends the session
///   in order, and not the child directly;
/// - signal masks and dispositions are reset (the parent may block or ignore signals, e.g. SIGPIPE);
/// - it gets the mapped descriptors and nothing else of the parent's (closefrom after the mapping).
final class ChildProcess {
    let pid: pid_t
    private(set) var exitStatus: Int32?
    private(set) var usage = rusage()

    /// `setpriv`, when installed.
    static let setpriv: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// Spawns `executable` with `arguments`; `descriptors` maps child descriptor numbers to the parent's
    /// descriptors that become them (the child's stdin is /dev/null unless mapped).
    /// - Throws: ``MediaError`` when the program cannot be started.
    init(executable: String, arguments: [String], descriptors: [Int32: Int32]) throws(MediaError) {
        var argv = [executable] + arguments
        var program = executable
        if let setpriv = Self.setpriv {
            argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
            program = setpriv
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if descriptors[0] == nil { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        // Each parent descriptor first to a number above every target, then to its target: a parent descriptor
        // whose number is another's target (3-6 are often free in the parent) is never overwritten before it
        // is copied. dup2 clears close-on-exec on the copies; the parent's own descriptors stay close-on-exec.
        // Staged just above every number involved, so that a low descriptor limit (ulimit -n) still allows them.
        let mapping = descriptors.sorted { $0.key < $1.key }
        let staging = (mapping.flatMap { [$0.key, $0.value] }.max() ?? 2) + 1
        for (index, entry) in mapping.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, entry.value, staging + Int32(index))
        }
        for (index, entry) in mapping.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, staging + Int32(index), entry.key)
        }
        // Nothing else of the parent's reaches the child (its sockets, a TLS connection, another child's pipes),
        // close-on-exec or not; the staged copies go too.
        _ = luukku_spawn_closefrom(&actions, (mapping.last?.key ?? 2) + 1)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))
        var pid: pid_t = 0
        let cArguments = argv.map { strdup($0) } + [nil]
        defer { for argument in cArguments { free(argument) } }
        let status = posix_spawn(&pid, program, &actions, &attributes, cArguments, environ)
        guard status == 0 else {
            throw MediaError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        self.pid = pid
    }

    /// Sends a signal to the child (not once it has been reaped).
    func signal(_ number: Int32) {
        guard exitStatus == nil else { return }
        kill(pid, number)
    }

    /// Reaps the child within `seconds`, then kills it (SIGKILL) and waits for it.
    func reap(within seconds: Double) {
        let deadline = Date().addingTimeInterval(seconds)
        while !reap(block: false), Date() < deadline { usleep(10_000) }
        if !reap(block: false) {
            signal(SIGKILL)
            reap(block: true)
        }
    }

    /// Reaps the child if it has exited; with `block`, waits for it. Records its exit status and its CPU use.
    @discardableResult
    func reap(block: Bool) -> Bool {
        guard exitStatus == nil else { return true }
        var status: Int32 = 0
        let result = wait4(pid, &status, block ? 0 : WNOHANG, &usage)
        guard result == pid else { return false }
        exitStatus = status
        return true
    }

    /// The child's user plus system CPU seconds, once reaped.
    var cpuSeconds: Double {
        Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
            + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
    }

    /// Text for the exit: `exit 1`, `signal 9`.
    var exitDescription: String {
        guard let status = exitStatus else { return "running" }
        if status & 0x7F == 0 { return "exit \((status >> 8) & 0xFF)" }
        return "signal \(status & 0x7F)"
    }
}

/// A pipe whose ends are close-on-exec.
func makePipe() throws(MediaError) -> (read: Int32, write: Int32) {
    var ends: [Int32] = [0, 0]
    let result = luukku_pipe_cloexec(&ends)
    guard result == 0 else { throw MediaError("cannot make a pipe: \(String(cString: strerror(-result)))") }
    return (ends[0], ends[1])
}

/// Makes a descriptor non-blocking.
func setNonBlocking(_ fd: Int32) {
    let flags = fcntl(fd, F_GETFL)
    _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
}
