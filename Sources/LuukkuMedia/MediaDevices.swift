import Foundation

/// What this machine offers for media, read from the file system and the environment: a camera, a sound
/// server or sound cards, a display. The clients' defaults follow from it (docs/media.md, "Devices"), so that
/// `make run` works on a server with none of them.
public struct MediaDevices: Hashable, Sendable {
    /// V4L2 capture devices (`/dev/video*`).
    public var cameras: [String]
    /// A PulseAudio (or PipeWire's pulse) server socket is reachable.
    public var hasPulseAudio: Bool
    /// ALSA playback and capture PCM devices (`/dev/snd/pcmC*D*p` / `c`).
    public var hasALSAPlayback: Bool
    public var hasALSACapture: Bool
    /// An X11 or Wayland display to open a window on.
    public var hasDisplay: Bool
    /// A DRM device for `kmssink` (`/dev/dri/card*`).
    public var hasDRM: Bool

    public static var current: MediaDevices { read(environment: ProcessInfo.processInfo.environment) }

    public static func read(environment: [String: String], root: String = "") -> MediaDevices {
        func entries(_ directory: String) -> [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: root + directory)) ?? []).sorted()
        }
        let cameras = entries("/dev").filter { $0.hasPrefix("video") && Int($0.dropFirst(5)) != nil }
            .map { "/dev/\($0)" }
        let sound = entries("/dev/snd").filter { $0.hasPrefix("pcmC") }
        var pulse = false
        if let server = environment["PULSE_SERVER"], !server.isEmpty {
            pulse = true
        } else {
            let runtime = environment["XDG_RUNTIME_DIR"] ?? "/run/user/\(getuid())"
            pulse = FileManager.default.fileExists(atPath: root + runtime + "/pulse/native")
        }
        let display =
            !(environment["DISPLAY"] ?? "").isEmpty || !(environment["WAYLAND_DISPLAY"] ?? "").isEmpty
        return MediaDevices(
            cameras: cameras, hasPulseAudio: pulse, hasALSAPlayback: sound.contains { $0.hasSuffix("p") },
            hasALSACapture: sound.contains { $0.hasSuffix("c") }, hasDisplay: display,
            hasDRM: entries("/dev/dri").contains { $0.hasPrefix("card") })
    }

    /// Where pictures go when the user did not say: a window, else the framebuffer, else nowhere.
    public var defaultVideoOutput: MediaOptions.VideoOutput {
        hasDisplay ? .window : hasDRM ? .kms : .headless
    }

    /// Whether sound can be played.
    public var hasSpeaker: Bool { hasPulseAudio || hasALSAPlayback }

    /// Whether sound can be captured.
    public var hasMicrophone: Bool { hasPulseAudio || hasALSACapture }
}
