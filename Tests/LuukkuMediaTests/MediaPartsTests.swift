import Foundation
import LuukkuCore
import LuukkuRelay
import Testing

@testable import LuukkuMedia

/// The engine's parts without a network: RFC 4571 deframing, the VP8 descriptor, GStreamer's message lines,
/// the RTCP it writes, the impairment syntax.
@Suite struct RTPStreamDeframerTests {
    static func framed(_ packets: [[UInt8]]) -> [UInt8] {
        packets.flatMap { [UInt8($0.count >> 8), UInt8($0.count & 0xFF)] + $0 }
    }

    static let packets: [[UInt8]] = [Array(repeating: 1, count: 12), Array(0..<200), Array(repeating: 9, count: 1_200)]

    func collect(_ deframer: RTPStreamDeframer) -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let packet = deframer.nextPacket() { out.append(Array(packet)) }
        return out
    }

    @Test func packetsComeOutWholeFedAtOnceOrByteByByte() {
        let stream = Self.framed(Self.packets)
        let whole = RTPStreamDeframer()
        whole.append(stream)
        #expect(collect(whole) == Self.packets)
        let bytewise = RTPStreamDeframer()
        var out: [[UInt8]] = []
        for byte in stream {
            bytewise.append([byte])
            out += collect(bytewise)
        }
        #expect(out == Self.packets)
        // In uneven batches, across the buffer's compaction.
        let batched = RTPStreamDeframer(capacity: 1_600)
        out = []
        var rest = ArraySlice(Self.framed(Array(repeating: Self.packets, count: 20).flatMap { $0 }))
        while !rest.isEmpty {
            let taken = batched.append(rest.prefix(777))
            rest = rest.dropFirst(taken)
            out += collect(batched)
        }
        #expect(out.count == 60 && out.prefix(3).elementsEqual(Self.packets))
    }

    @Test func anOversizedFrameIsSkippedAndCountedAndAnEmptyOneIgnored() {
        let deframer = RTPStreamDeframer(maximumPacket: 1_000)
        deframer.append(Self.framed([[], Self.packets[2], Self.packets[0]]))
        #expect(collect(deframer) == [Self.packets[0]])
        #expect(deframer.oversized == 1)
    }
}

@Suite struct VP8DescriptorTests {
    func descriptor(_ bytes: [UInt8]) -> VP8Descriptor? { bytes.withUnsafeBytes { VP8Descriptor($0) } }

    @Test func keyFramesAndTheirContinuationsAreToldApart() throws {
        // X=1, S=1, PID 0; I=1 with a 15-bit picture id 0x1234; payload header P=0: a key frame.
        let key = try #require(descriptor([0x90, 0x80, 0x92, 0x34, 0x10, 0x02, 0x00]))
        #expect(key.startsFrame && key.isKeyFrame && key.pictureID == 0x1234 && key.length == 4)
        // The same frame's next packet: S=0.
        let more = try #require(descriptor([0x80, 0x80, 0x92, 0x34, 0x55]))
        #expect(!more.startsFrame && !more.isKeyFrame)
        // A delta frame: P=1; no extension, 7-bit picture id absent.
        let delta = try #require(descriptor([0x10, 0x01, 0x00]))
        #expect(delta.startsFrame && !delta.isKeyFrame && delta.pictureID == nil && delta.length == 1)
        // A later partition's start is not a frame's start.
        #expect(descriptor([0x11, 0x00])?.startsFrame == false)
    }

    @Test func payloadsShorterThanTheirFlagsSayAreRefused() {
        #expect(descriptor([]) == nil)
        #expect(descriptor([0x80]) == nil)
        #expect(descriptor([0x80, 0x80, 0x92]) == nil)
        #expect(descriptor([0x10]) == nil)
    }
}

@Suite struct GStreamerMessageTests {
    @Test func theLinesTheEngineUsesAreRead() throws {
        let frame = Substring(
            #"Got message #607 from element "remotevideo" (element): GstVideoAnalyse, timestamp=(guint64)4953420595, "#
                + #"stream-time=(guint64)4953420595, running-time=(guint64)4953420595, duration=(guint64)18446744073709551615, "#
                + #"luma-average=(double)0.16078431372549021, luma-variance=(double)0;"#)
        #expect(GStreamerMessage.parse(frame) == .videoFrame(element: "remotevideo", luma: 0.16078431372549021))
        let spectrum = Substring(
            #"Got message #457 from element "remoteaudio" (element): spectrum, endtime=(guint64)2512103065, "#
                + #"duration=(guint64)100000000, magnitude=(float){ -60, -60, -59.99, -20.06, -13.35, -21.38, -60 };"#)
        #expect(
            GStreamerMessage.parse(spectrum)
                == .spectrum(element: "remoteaudio", peakBand: 4, peakDecibels: -13.35, bands: 7))
        let level = Substring(
            #"Got message #27 from element "locallevel" (element): level, endtime=(guint64)5011338, "#
                + #"rms=(GValueArray)< -24.5, -30 >, peak=(GValueArray)< -18.25, -40 >, decay=(GValueArray)< -20 >;"#)
        #expect(GStreamerMessage.parse(level) == .level(element: "locallevel", peakDecibels: -18.25))
        let busy = Substring(
            "ERROR: from element /GstPipeline:pipeline0/GstV4l2Src:v4l2src0: Device '/dev/video0' is busy")
        #expect(GStreamerMessage.parse(busy) == .error("v4l2src0: Device '/dev/video0' is busy"))
        #expect(
            MediaLoop.explain("v4l2src0: Device '/dev/video0' is busy")
                == "the camera is busy (another program uses it): v4l2src0: Device '/dev/video0' is busy")
        #expect(
            GStreamerMessage.parse(#"WARNING: erroneous pipeline: no element "webrtcdsp""#)
                == .unbuildable(#"no element "webrtcdsp""#))
    }

    @Test func everyOtherLineIsNothing() {
        for line in [
            #"Got message #13 from element "sink" (state-changed): GstMessageStateChanged, old-state=(GstState)null;"#,
            "Setting pipeline to PLAYING ...", "", "Got message #1",
            #"Got message #9 from element "x" (element): other, a=1;"#,
            #"Got message #9 from element "remotevideo" (element): GstVideoAnalyse, luma-average=(double)x;"#,
        ] {
            #expect(GStreamerMessage.parse(Substring(line)) == nil, "\(line)")
        }
    }
}

@Suite struct RTCPPacketsTests {
    @Test func aCompoundOfReportsSDESAndByeReadsBack() throws {
        let block = RTCPPackets.Block(
            ssrc: 0xAABB_CCDD, fractionLost: 26, cumulativeLost: -3, extendedHighestSequence: 70_000, jitter: 450,
            lastSenderReport: 0x1234_5678, delaySinceLastSenderReport: 65_536)
        let sources = [
            RTCPPackets.Source(
                ssrc: 0x0102_0304,
                sender: (ntp: 0xE000_0000_8000_0000, rtpTimestamp: 90_000, packets: 300, octets: 45_000),
                blocks: [block]),
            RTCPPackets.Source(ssrc: 0x0506_0708, sender: nil, blocks: []),
        ]
        var buffer = [UInt8](repeating: 0, count: 400)
        let length = buffer.withUnsafeMutableBytes {
            RTCPPackets.compound(sources, cname: "luukku-7", bye: true, into: $0)
        }
        #expect(length == 52 + 8 + 36 + 12)  // SR with a block, RR, SDES (2 chunks of 4 words), BYE
        try buffer.withUnsafeBytes { raw in
            let packet = UnsafeRawBufferPointer(rebasing: raw[..<length])
            #expect(RTPHeader.kind(of: packet) == .rtcp)
            let reports = RTCPPackets.senderReports(in: packet)
            #expect(reports.count == 1 && reports[0].ssrc == 0x0102_0304 && reports[0].ntpMiddle == 0x0000_8000)
            var blocks: [RTCPReportBlock] = []
            let whole = RTCPCompound.walk(packet, senderReport: { _ in }) { blocks.append($0) }
            #expect(whole)
            let read = try #require(blocks.first)
            #expect(read.ssrc == 0xAABB_CCDD && read.fractionLost == 26 && read.cumulativeLost == -3)
            #expect(read.extendedHighestSequence == 70_000 && read.jitter == 450)
            #expect(read.lastSenderReport == 0x1234_5678 && read.delaySinceLastSenderReport == 65_536)
        }
        // Too small a buffer writes nothing.
        var small = [UInt8](repeating: 0, count: 20)
        #expect(small.withUnsafeMutableBytes { RTCPPackets.compound(sources, cname: "x", bye: false, into: $0) } == 0)
    }
}

@Suite struct MediaImpairmentTests {
    @Test func theSyntaxIsReadAndMistakesAreNamed() throws {
        let late = try MediaImpairment(parsing: "late=3s")
        #expect(late.lateStart == .seconds(3) && !late.isEmpty)
        let loss = try MediaImpairment(parsing: "loss=5%,at=3s,for=2.5s,seed=7")
        #expect(loss.lossFraction == 0.05 && loss.lossStart == .seconds(3) && loss.lossDuration == .milliseconds(2_500))
        #expect(loss.seed == 7)
        #expect(MediaImpairment().isEmpty)
        for (text, problem) in [
            ("loss=5", "loss must be a percentage"), ("late=3", "is not a time in seconds"),
            ("delay=1s", "unknown key 'delay'"), ("loss=5%", "loss needs for=SECONDS"), ("late", "is not KEY=VALUE"),
        ] {
            #expect(throws: MediaError.self) { try MediaImpairment(parsing: text) }
            do {
                _ = try MediaImpairment(parsing: text)
            } catch {
                #expect(error.description.contains(problem), "\(text): \(error)")
            }
        }
    }
}
