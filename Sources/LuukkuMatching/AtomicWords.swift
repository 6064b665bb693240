import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A fixed-size array of atomic 64-bit words, allocated once and freed with its owner: the storage of
/// ``LockFreeMatcher``.
///
/// Why not `[Atomic<UInt64>]`: `Atomic` is non-copyable and cannot live in an `Array`; and reading a shared
/// `Array` from many threads can retain and release its buffer, one more contended cache line per call.
/// A raw allocation has no reference count.
///
/// `spacing` puts each word on its own 128-byte stretch (two cache lines, since x86 prefetches lines in
/// pairs), so that words written by different threads at once (a queue's tail and another queue's tail, two
/// experts' states) do not share a line. Tables that are large and mostly read (tickets, ring cells) stay
/// dense.
struct AtomicWords: ~Copyable {
    private let base: UnsafeMutablePointer<Atomic<UInt64>>
    private let stride: Int
    private let allocated: Int
    let count: Int

    enum Spacing { case dense, ownCacheLines }

    init(count: Int, spacing: Spacing = .dense) {
        precondition(count >= 0)
        self.count = count
        stride = spacing == .dense ? 1 : 128 / MemoryLayout<Atomic<UInt64>>.stride
        allocated = max(1, count * stride)
        let raw = UnsafeMutableRawPointer.allocate(
            byteCount: allocated * MemoryLayout<Atomic<UInt64>>.stride, alignment: 128)
        base = raw.bindMemory(to: Atomic<UInt64>.self, capacity: allocated)
        for index in 0..<allocated { (base + index).initialize(to: Atomic(0)) }
    }

    deinit {
        base.deinitialize(count: allocated)
        base.deallocate()
    }

    // `Synchronization.Atomic` wants its ordering as a literal at the call, so each ordering used here has
    // its own method; the plain names are sequentially consistent.

    @inline(__always) func load(_ index: Int) -> UInt64 {
        perturbSchedule()
        return base[index &* stride].load(ordering: .sequentiallyConsistent)
    }

    @inline(__always) func loadRelaxed(_ index: Int) -> UInt64 {
        perturbSchedule()
        return base[index &* stride].load(ordering: .relaxed)
    }

    @inline(__always) func store(_ index: Int, _ value: UInt64) {
        perturbSchedule()
        base[index &* stride].store(value, ordering: .sequentiallyConsistent)
    }

    @inline(__always) func storeRelaxed(_ index: Int, _ value: UInt64) {
        perturbSchedule()
        base[index &* stride].store(value, ordering: .relaxed)
    }

    /// Compare-and-swap: `true` when the word held `expected` and now holds `desired`.
    @inline(__always) func exchange(_ index: Int, expected: UInt64, desired: UInt64) -> Bool {
        perturbSchedule()
        return base[index &* stride].compareExchange(
            expected: expected, desired: desired, ordering: .sequentiallyConsistent
        ).exchanged
    }

    /// Adds `delta` (two's complement, so a negative `Int` subtracts) and returns the new value as a signed
    /// number: the counters kept here may dip below zero for a moment (LockFreeMatcher's comments say when).
    @inline(__always) @discardableResult func add(_ index: Int, _ delta: Int) -> Int {
        perturbSchedule()
        let new = base[index &* stride].wrappingAdd(UInt64(bitPattern: Int64(delta)), ordering: .sequentiallyConsistent)
        return Int(Int64(bitPattern: new.newValue))
    }

    @inline(__always) @discardableResult func addRelaxed(_ index: Int, _ delta: Int) -> Int {
        perturbSchedule()
        let new = base[index &* stride].wrappingAdd(UInt64(bitPattern: Int64(delta)), ordering: .relaxed)
        return Int(Int64(bitPattern: new.newValue))
    }

    /// Adds one and returns the value before.
    @inline(__always) func nextRelaxed(_ index: Int) -> UInt64 {
        perturbSchedule()
        return base[index &* stride].wrappingAdd(1, ordering: .relaxed).oldValue
    }
}

/// Schedule perturbation for the concurrency tests: in a build with `-DMATCHER_SCHEDULE_CHAOS` (`make
/// test-tsan` makes one), one atomic operation in 16 first yields the processor, so that other threads run in
/// the windows between two steps of the claim protocol, which on an idle machine are a few nanoseconds wide
/// and almost never interleaved. Compiled out of every other build.
@inline(__always) func perturbSchedule() {
    #if MATCHER_SCHEDULE_CHAOS
        // A shared counter scrambled by a multiplier: cheap, and no per-thread state to keep.
        let tick = ScheduleChaos.ticks.wrappingAdd(1, ordering: .relaxed).newValue &* 0x9E37_79B9_7F4A_7C15
        if tick >> 60 == 0 { sched_yield() }
    #endif
}

#if MATCHER_SCHEDULE_CHAOS
    enum ScheduleChaos {
        static let ticks = Atomic<UInt64>(0)
    }
#endif

extension Int {
    /// The smallest power of two at least `self` (for positive `self`).
    var roundedUpToPowerOfTwo: Int { self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount) }
}
