import CRelayIO
import Foundation
import LuukkuRelay

#if canImport(Glibc)
    import Glibc
#endif

// The engine's packets: from the relay to the child, from the child to the relay, RTCP both ways, and the
// child's messages.
extension MediaLoop {
    // MARK: From the relay

    func receiveDatagrams(now: UInt64) {
        let room = UnsafeMutableRawBufferPointer(rebasing: receiveBuffer[2...])
        while true {
            var address: UInt32 = 0
            var port: UInt16 = 0
            let length = Int(
                luukku_udp_receive(
                    engine.socket, room.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(Self.maximumPacket),
                    &address, &port))
            guard length > 0 else { return }
            // Only the relay's leg: anything else on this port is not the session's.
            guard address == engine.relayAddress, port == engine.relayPort,
                let kind = RTPHeader.kind(of: UnsafeRawBufferPointer(rebasing: room[..<length]))
            else { continue }
            let plain: Int
            do {
                plain = try engine.receiver.unprotect(room, length: length, kind: kind == .rtcp ? .rtcp : .rtp)
            } catch {
                figures.authenticationFailures += 1
                continue
            }
            if !pathOpen { openPath(now: now) }
            let packet = UnsafeRawBufferPointer(rebasing: room[..<plain])
            if kind == .rtcp {
                received(rtcp: packet, now: now)
            } else if let header = RTPHeader(packet) {
                received(rtp: header, length: plain, now: now)
            }
        }
    }

    /// Something authenticated came back: both legs are latched. The held video goes out, from its key frame.
    private func openPath(now: UInt64) {
        pathOpen = true
        let packets = held
        held.removeAll()
        for packet in packets {
            packet.withUnsafeBytes { send(UnsafeRawBufferPointer($0), video: true, now: now) }
        }
        nextRTCP = now + Self.reportInterval
    }

    private func received(rtp header: RTPHeader, length: Int, now: UInt64) {
        let streams = engine.streams
        let video: Bool
        switch header.payloadType {
        case streams.receiveVideoPayloadType: video = true
        case streams.receiveAudioPayloadType: video = false
        default:
            figures.unknownPayloadType += 1
            return
        }
        if video {
            figures.videoPacketsReceived += 1
            videoSource = header.ssrc
            _ = videoStatistics.record(
                sequence: header.sequenceNumber, timestamp: header.timestamp, arrival: clock(now, rate: 90_000))
        } else {
            figures.audioPacketsReceived += 1
            audioSource = header.ssrc
            _ = audioStatistics.record(
                sequence: header.sequenceNumber, timestamp: header.timestamp, arrival: clock(now, rate: 48_000))
        }
        guard !impaired(now: now) else {
            figures.impaired += 1
            disturbed = true
            return
        }
        // The RFC 4571 length in the two octets in front of the packet: one atomic pipe write.
        receiveBuffer[0] = UInt8(length >> 8)
        receiveBuffer[1] = UInt8(length & 0xFF)
        let framed = UnsafeRawBufferPointer(rebasing: receiveBuffer[..<(length + 2)])
        guard childPlaying else {
            // Held from the latest key frame on, until the child plays; audio before that is dropped.
            guard video else { return }
            if let descriptor = Self.vp8Descriptor(UnsafeRawBufferPointer(rebasing: framed[2...])),
                descriptor.startsFrame, descriptor.isKeyFrame
            {
                heldIncoming.removeAll(keepingCapacity: true)
                heldIncoming.append(Array(framed))
            } else if !heldIncoming.isEmpty, heldIncoming.count < Self.maximumHeld {
                heldIncoming.append(Array(framed))
            }
            return
        }
        if video { trackRecovery(header, length: length, now: now) }
        feed(framed, video: video)
    }

    /// Writes one framed packet to the child's video or audio pipe; a full pipe drops it (counted).
    private func feed(_ framed: UnsafeRawBufferPointer, video: Bool) {
        let fd = video ? videoIn : audioIn
        guard fd >= 0 else { return }
        if write(fd, framed.baseAddress, framed.count) < 0, errno == EAGAIN { figures.pipeOverflows += 1 }
    }

    /// The child plays: the video held meanwhile goes in, from its key frame.
    func childStartedPlaying() {
        guard !childPlaying else { return }
        childPlaying = true
        let packets = heldIncoming
        heldIncoming.removeAll()
        for packet in packets { packet.withUnsafeBytes { feed(UnsafeRawBufferPointer($0), video: true) } }
    }

    /// RTP clock units of `now` (jitter needs only differences).
    private func clock(_ now: UInt64, rate: UInt64) -> UInt32 {
        UInt32(truncatingIfNeeded: (now / 1_000) &* rate / 1_000_000)
    }

    /// Whether `--impair` discards this packet now.
    private func impaired(now: UInt64) -> Bool {
        let impairment = engine.options.impairment
        let elapsed = Duration.nanoseconds(Int64(now - start))
        if let late = impairment.lateStart, elapsed < late { return true }
        if impairment.lossFraction > 0, elapsed >= impairment.lossStart,
            elapsed < impairment.lossStart + impairment.lossDuration
        {
            return Double.random(in: 0..<1, using: &random) < impairment.lossFraction
        }
        return false
    }

    /// Whether every disturbance `--impair` asked for is over.
    private func impairmentOver(now: UInt64) -> Bool {
        let impairment = engine.options.impairment
        let elapsed = Duration.nanoseconds(Int64(now - start))
        if let late = impairment.lateStart, elapsed < late { return false }
        if impairment.lossFraction > 0, elapsed < impairment.lossStart + impairment.lossDuration { return false }
        return true
    }

    /// After a disturbance: how much media passes before the next key frame (from the RTP timestamps), and how
    /// long until the next decoded frame (the first `videoanalyse` message after it).
    private func trackRecovery(_ header: RTPHeader, length: Int, now: UInt64) {
        if disturbed, impairmentOver(now: now) {
            disturbed = false
            recovery = (header.timestamp, now, true, true)
        }
        guard var pending = recovery, pending.awaitingKeyFrame else { return }
        let packet = UnsafeRawBufferPointer(rebasing: receiveBuffer[2..<(2 + length)])
        if let descriptor = Self.vp8Descriptor(packet), descriptor.startsFrame, descriptor.isKeyFrame {
            figures.recoveryMediaMilliseconds.append(Double(header.timestamp &- pending.timestamp) / 90)
            pending.awaitingKeyFrame = false
            recovery = pending
        }
    }

    // MARK: RTCP

    private func received(rtcp packet: UnsafeRawBufferPointer, now: UInt64) {
        for report in RTCPPackets.senderReports(in: packet) {
            farReports[report.ssrc] = (report.ntpMiddle, now)
        }
        let ours = [engine.streams.videoSSRC, engine.streams.audioSSRC]
        let ntpNow = luukku_ntp_middle_now()
        _ = RTCPCompound.walk(packet, senderReport: { _ in }) { block in
            guard ours.contains(block.ssrc) else { return }
            if block.ssrc == engine.streams.videoSSRC || figures.farLossPercent == nil {
                figures.farLossPercent = Double(block.fractionLost) * 100 / 256
            }
            guard block.lastSenderReport != 0, sentReports.contains(where: { $0.ntpMiddle == block.lastSenderReport })
            else { return }
            // RFC 3550 section 6.4.1: arrival - LSR - DLSR, all in 1/65536 s.
            let roundTrip = Int64(
                Int32(bitPattern: ntpNow &- block.lastSenderReport &- block.delaySinceLastSenderReport))
            if roundTrip >= 0 { figures.roundTripMilliseconds = Double(roundTrip) * 1_000 / 65_536 }
        }
    }

    /// Probes before the path is open, reports after; with `bye` the compound ends with BYE (RFC 3550 6.6).
    func sendReports(now: UInt64, bye: Bool) {
        nextRTCP = now + (pathOpen ? Self.reportInterval : Self.probeInterval)
        var blocks: [RTCPPackets.Block] = []
        for (source, statistics) in [(videoSource, videoStatistics), (audioSource, audioStatistics)] {
            guard let source, statistics.received > 0 else { continue }
            let prior = priorCounts[source] ?? (0, 0)
            let expectedInterval = statistics.expected - prior.expected
            let lostInterval = expectedInterval - Int64(statistics.received) + Int64(prior.received)
            priorCounts[source] = (statistics.expected, statistics.received)
            var lastReport: UInt32 = 0
            var delay: UInt32 = 0
            if let far = farReports[source] {
                lastReport = far.ntpMiddle
                delay = UInt32(truncatingIfNeeded: (now - far.at) * 65_536 / 1_000_000_000)
            }
            blocks.append(
                RTCPPackets.Block(
                    ssrc: source,
                    fractionLost: expectedInterval > 0 && lostInterval > 0
                        ? UInt8(min(255, lostInterval * 256 / expectedInterval)) : 0,
                    cumulativeLost: Int32(clamping: statistics.lost),
                    extendedHighestSequence: statistics.extendedHighestSequence, jitter: statistics.jitter,
                    lastSenderReport: lastReport, delaySinceLastSenderReport: delay))
        }
        let ntp = Self.ntpNow()
        func sender(_ last: (timestamp: UInt32, at: UInt64)?, rate: UInt64, packets: Int, octets: UInt32)
            -> (ntp: UInt64, rtpTimestamp: UInt32, packets: UInt32, octets: UInt32)?
        {
            guard let last else { return nil }
            let elapsed = UInt32(truncatingIfNeeded: (now - last.at) / 1_000 * rate / 1_000_000)
            return (ntp, last.timestamp &+ elapsed, UInt32(truncatingIfNeeded: packets), octets)
        }
        let sources = [
            RTCPPackets.Source(
                ssrc: engine.streams.videoSSRC,
                sender: sender(lastVideo, rate: 90_000, packets: figures.videoPacketsSent, octets: videoOctets),
                blocks: blocks),
            RTCPPackets.Source(
                ssrc: engine.streams.audioSSRC,
                sender: sender(lastAudio, rate: 48_000, packets: figures.audioPacketsSent, octets: audioOctets),
                blocks: []),
        ]
        if sources.contains(where: { $0.sender != nil }) {
            sentReports.append((UInt32(truncatingIfNeeded: ntp >> 16), now))
            if sentReports.count > 8 { sentReports.removeFirst() }
        }
        let length = RTCPPackets.compound(sources, cname: cname, bye: bye, into: sendBuffer)
        guard length > 0 else { return }
        transmit(length: length, kind: .rtcp)
    }

    /// The 64-bit NTP time now (RFC 3550 section 4).
    static func ntpNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let seconds = UInt64(now.tv_sec) + 2_208_988_800
        let fraction = (UInt64(now.tv_nsec) << 32) / 1_000_000_000
        return seconds << 32 | fraction
    }

    // MARK: From the child

    /// Reads what the child's encoder wrote and sends each RTP packet.
    func readSent(video: Bool, now: UInt64) {
        let frames = video ? videoFrames : audioFrames
        while true {
            let fd = video ? videoOut : audioOut
            guard fd >= 0 else { return }
            let count = frames.readInto { space in read(fd, space.baseAddress, space.count) }
            if count == 0 {
                _ = luukku_close(fd)
                if video { videoOut = -1 } else { audioOut = -1 }
            }
            while let packet = frames.nextPacket() {
                guard !stopping else { continue }
                if video {
                    outgoingVideo(packet, now: now)
                } else if pathOpen {
                    send(packet, video: false, now: now)
                }
            }
            if count <= 0 { return }
        }
    }

    /// Before the path opens, video is kept from the latest key frame on (older frames could not be decoded
    /// without it anyway); after, it goes out at once.
    private func outgoingVideo(_ packet: UnsafeRawBufferPointer, now: UInt64) {
        guard !pathOpen else { return send(packet, video: true, now: now) }
        if let descriptor = Self.vp8Descriptor(packet), descriptor.startsFrame, descriptor.isKeyFrame {
            held.removeAll(keepingCapacity: true)
            held.append(Array(packet))
        } else if !held.isEmpty, held.count < Self.maximumHeld {
            held.append(Array(packet))
        }
    }

    static func vp8Descriptor(_ packet: UnsafeRawBufferPointer) -> VP8Descriptor? {
        guard packet.count > 12 else { return nil }
        var length = 12 + 4 * Int(packet[0] & 0x0F)
        if packet[0] & 0x10 != 0, packet.count >= length + 4 {
            length += 4 + 4 * (Int(packet[length + 2]) << 8 | Int(packet[length + 3]))
        }
        guard packet.count > length else { return nil }
        return VP8Descriptor(UnsafeRawBufferPointer(rebasing: packet[length...]))
    }

    /// Protects and sends one RTP packet of the child's, counting it.
    func send(_ packet: UnsafeRawBufferPointer, video: Bool, now: UInt64) {
        guard let header = RTPHeader(packet), packet.count <= Self.maximumPacket else { return }
        sendBuffer.copyMemory(from: packet)
        guard transmit(length: packet.count, kind: .rtp) else { return }
        if video {
            figures.videoPacketsSent += 1
            videoOctets &+= UInt32(packet.count - 12)
            lastVideo = (header.timestamp, now)
            if let descriptor = Self.vp8Descriptor(packet), descriptor.startsFrame, descriptor.isKeyFrame {
                figures.videoKeyFramesSent += 1
                if figures.videoKeyFramesSent > 1 {
                    figures.longestKeyFrameGap = max(figures.longestKeyFrameGap, framesSinceKeyFrame)
                }
                framesSinceKeyFrame = 0
            }
            if header.marker {
                figures.videoFramesSent += 1
                framesSinceKeyFrame += 1
            }
        } else {
            figures.audioPacketsSent += 1
            audioOctets &+= UInt32(packet.count - 12)
            lastAudio = (header.timestamp, now)
        }
    }

    /// Protects the first `length` octets of the send buffer and sends them to the relay.
    @discardableResult
    private func transmit(length: Int, kind: SRTPContext.PacketKind) -> Bool {
        let protected: Int
        do {
            protected = try engine.sender.protect(sendBuffer, length: length, kind: kind)
        } catch {
            return false
        }
        let sent = luukku_udp_send(
            engine.socket, sendBuffer.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt32(protected),
            engine.relayAddress, engine.relayPort)
        return sent == protected
    }

    // MARK: The child's messages

    func readMessages(from fd: inout Int32, into lines: inout LineSplitter) {
        while fd >= 0 {
            let count = read(fd, sendBuffer.baseAddress, sendBuffer.count)
            if count == 0 {
                _ = luukku_close(fd)
                fd = -1
                return
            }
            guard count > 0 else { return }
            let now = luukku_monotonic_ns()
            for line in lines.add(UnsafeRawBufferPointer(rebasing: sendBuffer[..<count])) {
                if let message = GStreamerMessage.parse(line) { handle(message, now: now) }
            }
        }
    }

    private func handle(_ message: GStreamerMessage, now: UInt64) {
        switch message {
        case .videoFrame(GStreamerPipeline.remoteVideoAnalyser, let luma):
            figures.videoFramesDecoded += 1
            figures.lastLuma = luma
            figures.lumaHistogram[min(19, max(0, Int(luma * 20)))] += 1
            figures.lastPictureMilliseconds = milliseconds(since: start, now: now)
            if figures.firstPictureMilliseconds == nil {
                figures.firstPictureMilliseconds = figures.lastPictureMilliseconds
            }
            if var pending = recovery, pending.awaitingPicture {
                figures.recoveryWallMilliseconds.append(milliseconds(since: pending.at, now: now))
                pending.awaitingPicture = false
                recovery = pending.awaitingKeyFrame ? pending : nil
            }
        case .spectrum(GStreamerPipeline.remoteSpectrum, let band, let decibels, _):
            figures.audioIntervals += 1
            if decibels > -50, band < figures.toneHistogram.count {
                figures.toneHistogram[band] += 1
            } else {
                figures.silentAudioIntervals += 1
            }
        case .level(GStreamerPipeline.localLevel, let decibels):
            if !localLoud, decibels > -20 { figures.ticksSent.append(now) }
            localLoud = decibels > -20 ? true : decibels < -40 ? false : localLoud
        case .level(GStreamerPipeline.remoteLevel, let decibels):
            if !remoteLoud, decibels > -20 { figures.ticksPlayed.append(now) }
            remoteLoud = decibels > -20 ? true : decibels < -40 ? false : remoteLoud
        case .playing:
            childStartedPlaying()
        case .error(let text), .unbuildable(let text):
            lastError = lastError ?? MediaLoop.explain(text)
        default:
            break
        }
    }

    /// A GStreamer error in words a person at the terminal can act on.
    static func explain(_ text: String) -> String {
        if text.contains("v4l2src"), text.contains("busy") {
            return "the camera is busy (another program uses it): \(text)"
        }
        if text.contains("v4l2src") { return "the camera cannot be opened: \(text)" }
        if text.contains("pulsesrc") || text.contains("alsasrc") { return "the microphone cannot be opened: \(text)" }
        if text.contains("autoaudiosink") || text.contains("pulsesink") || text.contains("alsasink") {
            return "the speaker cannot be opened: \(text)"
        }
        if text.contains("window was closed") { return "the video window was closed: \(text)" }
        if text.contains("videosink") || text.contains("kmssink") || text.contains("ximagesink") {
            return "no window can be opened (no display? use --headless): \(text)"
        }
        return "the media pipeline failed: \(text)"
    }
}
