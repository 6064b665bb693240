/// A line that `gst-launch-1.0 -m` prints and the engine acts on: the element messages of `videoanalyse` (one
/// per decoded frame), `spectrum` and `level`, and the errors that end a pipeline. Every other line (state
/// changes, stream status, latency) is nil.
///
/// The engine reads the child's stdout and stderr line by line and parses each line once; nothing here
/// depends on the order of fields beyond GStreamer's own `name=(type)value` structure text.
public enum GStreamerMessage: Hashable, Sendable {
    /// `videoanalyse` saw a frame: its element name and average luma (0...1).
    case videoFrame(element: String, luma: Double)
    /// `spectrum`: the element, the band with the highest magnitude and that magnitude in dB, of `bands`.
    case spectrum(element: String, peakBand: Int, peakDecibels: Double, bands: Int)
    /// `level`: the element and the loudest channel's peak in dB (for a tick's onset).
    case level(element: String, peakDecibels: Double)
    /// An error that stops the pipeline: the first line, without GStreamer's source paths and debug text.
    case error(String)
    /// A pipeline that could not even be built (a missing element, a bad property).
    case unbuildable(String)
    /// The pipeline reached PLAYING: its sources and sinks run on the clock.
    case playing

    public static func parse(_ line: Substring) -> GStreamerMessage? {
        if line.hasPrefix("ERROR: from element ") {
            // "ERROR: from element /GstPipeline:pipeline0/GstV4l2Src:v4l2src0: Device '/dev/video0' is busy"
            let rest = line.dropFirst("ERROR: from element ".count)
            guard let colon = rest.range(of: ": ") else { return .error(String(rest)) }
            let path = rest[..<colon.lowerBound]
            let element = path.split(separator: ":").last.map(String.init) ?? String(path)
            return .error("\(element): \(rest[colon.upperBound...])")
        }
        for prefix in ["WARNING: erroneous pipeline: ", "ERROR: pipeline could not be constructed: "]
        where line.hasPrefix(prefix) {
            return .unbuildable(String(line.dropFirst(prefix.count)))
        }
        guard line.hasPrefix("Got message #"), let from = line.range(of: " from element \"") else { return nil }
        if line.contains(#" from element "pipeline0" (state-changed): "#),
            line.contains("new-state=(GstState)playing")
        {
            return .playing
        }
        let afterName = line[from.upperBound...]
        guard let quote = afterName.firstIndex(of: "\"") else { return nil }
        let element = String(afterName[..<quote])
        let tail = afterName[quote...]
        guard tail.hasPrefix("\" (element): ") else { return nil }
        let body = tail.dropFirst("\" (element): ".count)
        if body.hasPrefix("GstVideoAnalyse,") {
            guard let luma = number(after: "luma-average=(double)", in: body) else { return nil }
            return .videoFrame(element: element, luma: luma)
        }
        if body.hasPrefix("spectrum,") {
            guard let open = body.range(of: "magnitude=(float){"),
                let close = body[open.upperBound...].firstIndex(of: "}")
            else { return nil }
            var peakBand = -1
            var peak = -Double.infinity
            var index = 0
            for field in body[open.upperBound..<close].split(separator: ",") {
                guard let value = Double(field.trimmingSpaces) else { return nil }
                if value > peak {
                    peak = value
                    peakBand = index
                }
                index += 1
            }
            guard peakBand >= 0 else { return nil }
            return .spectrum(element: element, peakBand: peakBand, peakDecibels: peak, bands: index)
        }
        if body.hasPrefix("level,") {
            guard let open = body.range(of: "peak=(GValueArray)<"),
                let close = body[open.upperBound...].firstIndex(of: ">")
            else { return nil }
            let values = body[open.upperBound..<close].split(separator: ",").compactMap { Double($0.trimmingSpaces) }
            guard let loudest = values.max() else { return nil }
            return .level(element: element, peakDecibels: loudest)
        }
        return nil
    }

    /// The number right after `prefix` (up to the next `,` or `;`).
    private static func number(after prefix: String, in text: Substring) -> Double? {
        guard let start = text.range(of: prefix) else { return nil }
        let rest = text[start.upperBound...]
        let end = rest.firstIndex { $0 == "," || $0 == ";" } ?? rest.endIndex
        return Double(rest[..<end].trimmingSpaces)
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        let start = firstIndex { $0 != " " } ?? endIndex
        let end = lastIndex { $0 != " " }.map { index(after: $0) } ?? start
        return self[start..<Swift.max(start, end)]
    }
}
