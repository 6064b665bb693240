import Foundation
import LuukkuTestSupport
import Testing

/// The systemd files as `make install` writes them, checked by `systemd-analyze verify` where systemd is
/// installed (Debian's systemd package).
@Suite struct SystemdUnitTests {
    @Test func theInstalledUnitPassesSystemdAnalyzeVerify() throws {
        let prefix = FileManager.default.temporaryDirectory.appendingPathComponent("luukku-prefix-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: prefix) }
        let make = try #require(ProcessRunner.which("make"))
        let installed = try ProcessRunner.run(
            make,
            [
                "--no-print-directory", "install-files", "PREFIX=\(prefix.path)",
                "BIN_DIR=\(Repository.products.path)",
            ])
        #expect(installed.status == 0, "\(installed.stderr)")
        let unit = prefix.appendingPathComponent("lib/systemd/system/luukkud.service")
        let text = try String(contentsOf: unit, encoding: .utf8)
        for line in [
            "Type=notify", "WatchdogSec=30", "RuntimeDirectory=luukku", "StateDirectory=luukku", "ProtectSystem=strict",
            "SupplementaryGroups=luukku-operators", "UMask=0027",
            "ExecStart=\(prefix.path)/bin/luukkud --config /etc/luukku/luukku.json \\",
            "ExecReload=/bin/kill -HUP $MAINPID",
        ] {
            #expect(text.contains(line + "\n"), "the unit lacks \(line)")
        }
        #expect(!text.contains("@PREFIX@"))
        for file in [
            "bin/luukkud", "bin/luukku-terminal", "lib/sysusers.d/luukkud.conf", "lib/tmpfiles.d/luukkud.conf",
            // The wire contract a vendor implements: protocol.md, the schema and the golden frames.
            "share/doc/luukku/protocol.md", "share/doc/luukku/proto/luukku/v1/envelope.proto",
            "share/doc/luukku/proto/luukku/v1/frames/offer.txtpb", "share/doc/luukku/proto/luukku/v1/frames/README.md",
        ] {
            #expect(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(file).path), "\(file)")
        }
        // The verify itself only where systemd is installed (Debian's systemd package).
        guard let analyze = ProcessRunner.which("systemd-analyze") else { return }
        let verify = try ProcessRunner.run(analyze, ["verify", unit.path])
        #expect(verify.status == 0 && verify.stderr.isEmpty, "\(verify.stderr)")
    }
}
