/// RTP packets out of a byte stream framed as RFC 4571 section 2 frames them: each packet is preceded by its
/// length, 16 bits big-endian. `rtpstreampay` writes that framing into the pipe from a GStreamer child and
/// `rtpstreamdepay` reads it from the pipe into one; this is the engine's side of the pipe.
///
/// The bytes are read straight into the deframer's own buffer (``readInto(_:)``), packets are handed out in
/// place (``nextPacket()``): nothing is allocated per packet. A class because it owns that memory; it is used by
/// one thread at a time.
public final class RTPStreamDeframer {
    /// The largest packet handed out; a longer frame is stepped over and counted in ``oversized``.
    public let maximumPacket: Int
    private let capacity: Int
    private let buffer: UnsafeMutableRawPointer
    private var start = 0
    private var end = 0
    /// Bytes of an oversized frame still to skip.
    private var skipping = 0
    /// Frames longer than ``maximumPacket`` that were dropped.
    public private(set) var oversized = 0

    public init(maximumPacket: Int = 1_500, capacity: Int = 1 << 16) {
        self.maximumPacket = maximumPacket
        self.capacity = max(capacity, maximumPacket + 2)
        buffer = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { buffer.deallocate() }

    /// Lets `read` fill the free space at the end (a `read(2)` into the pointer); returns what it returned.
    /// Packets handed out before are no longer valid afterwards.
    public func readInto(_ read: (UnsafeMutableRawBufferPointer) -> Int) -> Int {
        if start > 0 {
            // Move the unread bytes to the front, so the free space is one block.
            let count = end - start
            if count > 0 { buffer.copyMemory(from: buffer + start, byteCount: count) }
            start = 0
            end = count
        }
        let added = read(UnsafeMutableRawBufferPointer(start: buffer + end, count: capacity - end))
        if added > 0 { end += added }
        return added
    }

    /// Appends as many of `bytes` as there is room for (for tests and callers that already hold them) and
    /// returns how many; the rest fits once the packets before it were taken with ``nextPacket()``.
    @discardableResult
    public func append(_ bytes: some Collection<UInt8>) -> Int {
        readInto { space in
            let count = min(space.count, bytes.count)
            for (index, byte) in bytes.prefix(count).enumerated() { space[index] = byte }
            return count
        }
    }

    /// The next complete packet, valid until the next call that reads or appends; nil when more bytes are needed.
    public func nextPacket() -> UnsafeRawBufferPointer? {
        while true {
            if skipping > 0 {
                let count = min(skipping, end - start)
                start += count
                skipping -= count
                if skipping > 0 { return nil }
            }
            guard end - start >= 2 else { return nil }
            let bytes = buffer.assumingMemoryBound(to: UInt8.self)
            let length = Int(bytes[start]) << 8 | Int(bytes[start + 1])
            if length > maximumPacket {
                oversized += 1
                start += 2
                skipping = length
                continue
            }
            guard end - start >= 2 + length else { return nil }
            let packetStart = start + 2
            start = packetStart + length
            if length == 0 { continue }
            return UnsafeRawBufferPointer(start: buffer + packetStart, count: length)
        }
    }
}
