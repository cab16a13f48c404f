//! Single-producer, single-consumer ring of variable-size records in shared memory.
//!
//! Layout of one ring: a 256-byte control block, then `capacity` data bytes.
//! The producer's cache line holds `head` and the producer's space-waiting flag; the
//! consumer's (128 bytes further, past the adjacent-line prefetcher) holds `tail` and
//! the consumer's wake mode. Indices are free-running `u64` byte counts.
//!
//! Records start on 16-byte boundaries (so archives that follow the 32 bytes of record
//! and frame header are 16-aligned), and begin with a [`RecordHeader`]. A record never
//! straddles the end of the data area: the producer fills the rest with a padding record.
//!
//! Everything read from the shared control block or the data area is treated as hostile:
//! indices and lengths go through checked arithmetic, and a violation is a [`RingError`].
//! Control words are accessed only through atomics; record headers are copied out with
//! volatile reads and then parsed, never referenced in place.

use std::collections::VecDeque;
use std::ptr;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Size of the control block in front of each ring's data area.
pub const CONTROL_SIZE: usize = 256;
/// Every record starts at a multiple of this.
pub const RECORD_ALIGN: usize = 16;
/// Size of the header in front of every record's payload.
pub const RECORD_HEADER_SIZE: usize = 8;
/// Smallest accepted data area.
pub const MIN_CAPACITY: usize = 4096;
/// Largest accepted data area.
pub const MAX_CAPACITY: usize = 1 << 30;

/// The producer rewinds to offset 0 once past this fraction of the ring with the
/// consumer caught up (see `Producer::rewind_if_empty`).
const REWIND_FRACTION: usize = 8;

const HEAD_OFFSET: usize = 0;
const PRODUCER_WAITING_OFFSET: usize = 8;
const TAIL_OFFSET: usize = 128;
const WAKE_MODE_OFFSET: usize = 136;
/// Set by the producer when it wakes a parked consumer ahead of a record
/// (`Producer::prewake`); a hint only, taken by the consumer after each park.
const PREWAKE_OFFSET: usize = 140;

const TAG_DATA: u32 = u32::from_le_bytes(*b"DATA");
const TAG_PAD: u32 = u32::from_le_bytes(*b"PAD!");

/// How the producer must wake the consumer after publishing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WakeMode {
    /// A reader is spinning on the ring: no wake-up needed.
    Active,
    /// A reader is parked on the data-ready eventfd.
    ReaderParked,
    /// Nobody is reading: the background eventfd must be written.
    NoReader,
}

impl WakeMode {
    fn to_word(self) -> u32 {
        match self {
            WakeMode::Active => 0,
            WakeMode::ReaderParked => 1,
            WakeMode::NoReader => 2,
        }
    }
    fn from_word(word: u32) -> WakeMode {
        // A hostile peer can store anything: unknown values mean "wake everyone" so
        // that garbage can only cause spurious wake-ups, never lost ones.
        match word {
            0 => WakeMode::Active,
            1 => WakeMode::ReaderParked,
            _ => WakeMode::NoReader,
        }
    }
}

/// Header in front of every record's payload.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct RecordHeader {
    /// Payload length in bytes, excluding this header and trailing alignment padding.
    pub len: u32,
    /// `DATA` or `PAD!`.
    pub tag: u32,
}

/// A broken ring invariant, caused by a buggy or hostile peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingError(pub String);

impl std::fmt::Display for RingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "shared-memory ring corrupted: {}", self.0)
    }
}

impl std::error::Error for RingError {}

fn corrupt(msg: String) -> RingError {
    RingError(msg)
}

/// Total bytes a record with `payload` bytes occupies in the ring.
pub fn record_size(payload: usize) -> Option<usize> {
    payload
        .checked_add(RECORD_HEADER_SIZE + RECORD_ALIGN - 1)
        .map(|n| n & !(RECORD_ALIGN - 1))
}

/// Bytes of shared memory one ring with this data capacity occupies.
pub const fn ring_bytes(capacity: usize) -> usize {
    CONTROL_SIZE + capacity
}

/// Checks that `capacity` is a power of two within the accepted bounds.
pub fn check_capacity(capacity: usize) -> Result<(), RingError> {
    if !capacity.is_power_of_two() || !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) {
        return Err(corrupt(format!(
            "ring capacity {capacity} is not a power of two in {MIN_CAPACITY}..={MAX_CAPACITY}"
        )));
    }
    Ok(())
}

/// Raw view of one ring in a mapping. Holds only a pointer, never a reference,
/// because the peer writes the same memory concurrently.
#[derive(Clone, Copy)]
struct RawRing {
    base: *mut u8,
    capacity: usize,
}

// SAFETY: the pointer is into a mapping that the owning connection keeps alive for as
// long as any producer or consumer exists; all concurrent access goes through atomics
// or volatile copies.
unsafe impl Send for RawRing {}

impl RawRing {
    fn word64(&self, offset: usize) -> &AtomicU64 {
        // SAFETY: offset is a constant inside the control block, 8-aligned because the
        // mapping is page-aligned; AtomicU64 is designed for shared mutation.
        unsafe { AtomicU64::from_ptr(self.base.add(offset).cast()) }
    }
    fn word32(&self, offset: usize) -> &AtomicU32 {
        // SAFETY: as for `word64`.
        unsafe { AtomicU32::from_ptr(self.base.add(offset).cast()) }
    }
    fn data(&self) -> *mut u8 {
        // SAFETY: the data area follows the control block inside the mapping.
        unsafe { self.base.add(CONTROL_SIZE) }
    }
    fn mask(&self) -> u64 {
        self.capacity as u64 - 1
    }
}

/// Initializes a zeroed ring so that the first publish wakes the peer's background reader.
///
/// # Safety
/// `base` must point to `ring_bytes(capacity)` writable bytes that outlive the call.
pub unsafe fn init(base: *mut u8, capacity: usize) {
    let raw = RawRing { base, capacity };
    raw.word64(HEAD_OFFSET).store(0, Ordering::Relaxed);
    raw.word64(TAIL_OFFSET).store(0, Ordering::Relaxed);
    raw.word32(PRODUCER_WAITING_OFFSET)
        .store(0, Ordering::Relaxed);
    raw.word32(WAKE_MODE_OFFSET)
        .store(WakeMode::NoReader.to_word(), Ordering::Release);
}

/// Space reserved for one record's payload, not yet visible to the consumer.
#[derive(Debug)]
pub struct Grant {
    start: u64,
    /// Where the payload goes. 16-aligned minus 8, i.e. right after the record header.
    pub ptr: *mut u8,
    /// How many payload bytes fit.
    pub capacity: usize,
}

/// The writing end of a ring.
pub struct Producer {
    raw: RawRing,
    /// Index where the next record goes (ahead of the published head while padding is pending).
    head: u64,
    /// Last published head.
    published: u64,
    cached_tail: u64,
    max_payload: usize,
}

impl Producer {
    /// Wraps a ring that `init` has prepared.
    ///
    /// # Safety
    /// `base` must point to `ring_bytes(capacity)` bytes of a shared mapping that
    /// outlives the producer, with a valid capacity, and no other producer may exist.
    pub unsafe fn new(base: *mut u8, capacity: usize) -> Producer {
        let raw = RawRing { base, capacity };
        let head = raw.word64(HEAD_OFFSET).load(Ordering::Acquire);
        let tail = raw.word64(TAIL_OFFSET).load(Ordering::Acquire);
        Producer {
            raw,
            head,
            published: head,
            cached_tail: tail,
            max_payload: capacity / 2 - RECORD_HEADER_SIZE,
        }
    }

    /// Largest payload one record may carry; larger messages are chunked by the caller.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    fn refresh_tail(&mut self) -> Result<(), RingError> {
        let tail = self.raw.word64(TAIL_OFFSET).load(Ordering::Acquire);
        let used = self.published.checked_sub(tail).ok_or_else(|| {
            corrupt(format!(
                "consumer tail {tail} is ahead of head {}",
                self.published
            ))
        })?;
        if used > self.raw.capacity as u64 || tail < self.cached_tail {
            return Err(corrupt(format!(
                "consumer tail {tail} out of range (head {}, previous tail {})",
                self.published, self.cached_tail
            )));
        }
        self.cached_tail = tail;
        Ok(())
    }

    fn free_bytes(&self) -> u64 {
        self.raw.capacity as u64 - (self.head - self.cached_tail)
    }

    /// Reserves a record for at least `min` payload bytes, offering as much contiguous
    /// space as is free. Returns `None` when the ring is too full right now.
    pub fn grant(&mut self, min: usize) -> Result<Option<Grant>, RingError> {
        let min = min.min(self.max_payload);
        let need = record_size(min).expect("bounded by max_payload") as u64;
        if let Some(grant) = self.rewind_if_empty(need)? {
            return Ok(Some(grant));
        }
        for refreshed in [false, true] {
            if refreshed {
                self.refresh_tail()?;
            }
            let offset = self.head & self.raw.mask();
            let to_end = self.raw.capacity as u64 - offset;
            let free = self.free_bytes();
            if free < need {
                continue;
            }
            if to_end >= need {
                return Ok(Some(self.grant_at(self.head, free.min(to_end))));
            }
            // Not enough room before the end: pad to the end and restart at offset 0.
            if free - to_end >= need {
                // The padding lies beyond the published head: it takes effect when the
                // record is committed, and costs nothing if the grant is abandoned.
                self.write_header(
                    offset as usize,
                    to_end as usize - RECORD_HEADER_SIZE,
                    TAG_PAD,
                );
                return Ok(Some(self.grant_at(self.head + to_end, free - to_end)));
            }
        }
        Ok(None)
    }

    /// When the consumer has caught up and we are deep into the ring, pad to the end so
    /// this record starts at offset 0: the start of the ring is still in cache, and a
    /// large message then overwrites the same lines instead of walking cold memory.
    /// Only when the record fits before our position: the padding is published with
    /// the record, never left pending while we wait for space.
    fn rewind_if_empty(&mut self, need: u64) -> Result<Option<Grant>, RingError> {
        let offset = self.head & self.raw.mask();
        if offset < (self.raw.capacity / REWIND_FRACTION) as u64
            || offset < need
            || self.head != self.published
        {
            return Ok(None);
        }
        self.refresh_tail()?;
        if self.cached_tail != self.head {
            return Ok(None);
        }
        let to_end = self.raw.capacity as u64 - offset;
        self.write_header(
            offset as usize,
            to_end as usize - RECORD_HEADER_SIZE,
            TAG_PAD,
        );
        Ok(Some(self.grant_at(self.head + to_end, offset)))
    }

    fn grant_at(&self, start: u64, span: u64) -> Grant {
        let span = (span as usize).min(record_size(self.max_payload).expect("bounded"));
        let offset = (start & self.raw.mask()) as usize;
        Grant {
            start,
            // SAFETY: offset + span <= capacity, checked by the caller's space computation.
            ptr: unsafe { self.raw.data().add(offset + RECORD_HEADER_SIZE) },
            capacity: span - RECORD_HEADER_SIZE,
        }
    }

    fn write_header(&self, offset: usize, len: usize, tag: u32) {
        let header = RecordHeader {
            len: len as u32,
            tag,
        };
        // SAFETY: offset is 16-aligned and at least 8 bytes remain before the end.
        unsafe {
            ptr::write_volatile(
                self.raw.data().add(offset).cast::<[u8; 8]>(),
                header.as_bytes().try_into().expect("8 bytes"),
            )
        };
    }

    /// Makes `len` payload bytes of `grant` visible to the consumer and reports how
    /// the consumer wants to be woken.
    pub fn commit(&mut self, grant: Grant, len: usize) -> WakeMode {
        assert!(
            len <= grant.capacity,
            "commit of {len} bytes exceeds grant of {}",
            grant.capacity
        );
        let offset = (grant.start & self.raw.mask()) as usize;
        self.write_header(offset, len, TAG_DATA);
        self.head = grant.start + record_size(len).expect("bounded") as u64;
        self.publish()
    }

    /// Publishes everything written so far. The SeqCst fence pairs with the
    /// consumer's fence in `Consumer::set_wake_mode` (Dekker): either the consumer sees
    /// the new head on its recheck, or we see its non-active wake mode here.
    fn publish(&mut self) -> WakeMode {
        self.published = self.head;
        self.raw
            .word64(HEAD_OFFSET)
            .store(self.head, Ordering::Release);
        self.consumer_wake_mode()
    }

    /// How the consumer wants to be woken, read after a SeqCst fence.
    fn consumer_wake_mode(&self) -> WakeMode {
        fence(Ordering::SeqCst);
        WakeMode::from_word(self.raw.word32(WAKE_MODE_OFFSET).load(Ordering::Relaxed))
    }

    /// If the consumer is parked on its data eventfd, marks that a record is on its way
    /// and returns true: the caller then signals the eventfd.
    pub fn prewake(&self) -> bool {
        if !self.consumer_parked() {
            return false;
        }
        self.raw.word32(PREWAKE_OFFSET).store(1, Ordering::Release);
        true
    }

    /// Whether the consumer's reader is parked on its data eventfd.
    pub fn consumer_parked(&self) -> bool {
        self.consumer_wake_mode() == WakeMode::ReaderParked
    }

    /// Announces that the producer is about to sleep until space frees. The caller must
    /// recheck with `grant` before sleeping.
    pub fn set_waiting_for_space(&self, waiting: bool) {
        self.raw
            .word32(PRODUCER_WAITING_OFFSET)
            .store(waiting as u32, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }
}

/// A record read from the ring, not yet released.
#[derive(Clone, Copy, Debug)]
pub struct Record {
    start: u64,
    end: u64,
    /// Payload location inside the shared mapping.
    pub ptr: *const u8,
    /// Payload length, bounds-checked against the ring.
    pub len: usize,
}

// SAFETY: a Record is a location, not a borrow; the connection keeps the mapping alive.
unsafe impl Send for Record {}

/// The reading end of a ring: reading and releasing are split so that one thread can
/// read ahead while others still hold earlier records.
pub struct Consumer {
    raw: RawRing,
    read: u64,
    cached_head: u64,
}

/// Release bookkeeping for a consumer, shared by the threads that hold records.
pub struct Releaser {
    raw: RawRing,
    tail: u64,
    /// Records read but not yet released, in ring order: (start, end, released).
    held: VecDeque<(u64, u64, bool)>,
}

/// Creates the reading end of a ring.
///
/// # Safety
/// As for [`Producer::new`], for the single consumer.
pub unsafe fn consumer(base: *mut u8, capacity: usize) -> (Consumer, Releaser) {
    let raw = RawRing { base, capacity };
    let tail = raw.word64(TAIL_OFFSET).load(Ordering::Acquire);
    (
        Consumer {
            raw,
            read: tail,
            cached_head: tail,
        },
        Releaser {
            raw,
            tail,
            held: VecDeque::with_capacity(64),
        },
    )
}

impl Consumer {
    /// True when a record may be waiting; cheap enough to spin on.
    pub fn has_data(&self) -> bool {
        self.raw.word64(HEAD_OFFSET).load(Ordering::Acquire) != self.read
    }

    /// Whether the producer woke us ahead of a record since the last call (clears it).
    pub fn take_prewake(&self) -> bool {
        self.raw.word32(PREWAKE_OFFSET).swap(0, Ordering::Acquire) != 0
    }

    /// Sets how the producer should wake us, followed by a SeqCst fence (see `Producer::publish`).
    pub fn set_wake_mode(&self, mode: WakeMode) {
        self.raw
            .word32(WAKE_MODE_OFFSET)
            .store(mode.to_word(), Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Reads the next data record, skipping padding. The record must later be passed to
    /// [`Releaser::release`]; `releaser` must belong to this consumer.
    pub fn next(&mut self, releaser: &mut Releaser) -> Result<Option<Record>, RingError> {
        loop {
            if self.read == self.cached_head {
                let head = self.raw.word64(HEAD_OFFSET).load(Ordering::Acquire);
                let ahead = head.checked_sub(releaser.tail).ok_or_else(|| {
                    corrupt(format!(
                        "producer head {head} is behind tail {}",
                        releaser.tail
                    ))
                })?;
                if ahead > self.raw.capacity as u64 || head < self.read {
                    return Err(corrupt(format!(
                        "producer head {head} out of range (read {}, tail {})",
                        self.read, releaser.tail
                    )));
                }
                if !head.is_multiple_of(RECORD_ALIGN as u64) {
                    return Err(corrupt(format!("producer head {head} is not 16-aligned")));
                }
                self.cached_head = head;
                if head == self.read {
                    return Ok(None);
                }
            }
            let offset = (self.read & self.raw.mask()) as usize;
            let to_end = self.raw.capacity - offset;
            let available = (self.cached_head - self.read) as usize;
            // SAFETY: offset is 16-aligned and below capacity, so 8 bytes are in bounds.
            let bytes =
                unsafe { ptr::read_volatile(self.raw.data().add(offset).cast::<[u8; 8]>()) };
            let header = RecordHeader::read_from_bytes(&bytes).expect("8 bytes");
            let size = record_size(header.len as usize)
                .filter(|&size| size <= to_end && size <= available)
                .ok_or_else(|| {
                    corrupt(format!(
                        "record of {} bytes at offset {offset} overruns the ring ({to_end} to end, {available} published)",
                        header.len
                    ))
                })?;
            let start = self.read;
            self.read += size as u64;
            match header.tag {
                TAG_PAD => {
                    if size != to_end {
                        return Err(corrupt(format!(
                            "padding at offset {offset} does not reach the end"
                        )));
                    }
                    releaser.push(start, self.read, true);
                }
                TAG_DATA => {
                    releaser.push(start, self.read, false);
                    return Ok(Some(Record {
                        start,
                        end: self.read,
                        // SAFETY: within the data area, checked above.
                        ptr: unsafe { self.raw.data().add(offset + RECORD_HEADER_SIZE) },
                        len: header.len as usize,
                    }));
                }
                tag => {
                    return Err(corrupt(format!(
                        "unknown record tag {tag:#x} at offset {offset}"
                    )))
                }
            }
        }
    }
}

impl Releaser {
    fn push(&mut self, start: u64, end: u64, released: bool) {
        if released && self.held.is_empty() {
            self.advance_to(end);
        } else {
            self.held.push_back((start, end, released));
        }
    }

    fn advance_to(&mut self, end: u64) {
        self.tail = end;
        self.raw.word64(TAIL_OFFSET).store(end, Ordering::Release);
    }

    /// Releases a record, in any order. Returns true when the producer is waiting for
    /// space and must be woken.
    pub fn release(&mut self, record: &Record) -> bool {
        match self.held.iter_mut().find(|entry| entry.0 == record.start) {
            Some(entry) => {
                debug_assert_eq!(entry.1, record.end);
                entry.2 = true;
            }
            None => return false,
        }
        let mut new_tail = None;
        while let Some(&(_, end, true)) = self.held.front() {
            new_tail = Some(end);
            self.held.pop_front();
        }
        match new_tail {
            Some(end) => {
                self.advance_to(end);
                fence(Ordering::SeqCst);
                self.raw
                    .word32(PRODUCER_WAITING_OFFSET)
                    .load(Ordering::Relaxed)
                    != 0
            }
            None => false,
        }
    }

    /// Whether records are still held by readers.
    pub fn holding(&self) -> usize {
        self.held.iter().filter(|entry| !entry.2).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A 16-aligned private buffer standing in for shared memory.
    struct Mem(Vec<u128>);

    impl Mem {
        fn new(capacity: usize) -> Mem {
            let mut mem = Mem(vec![0u128; ring_bytes(capacity) / 16]);
            // SAFETY: the buffer is large enough and lives as long as the test.
            unsafe { init(mem.base(), capacity) };
            mem
        }
        fn base(&mut self) -> *mut u8 {
            self.0.as_mut_ptr().cast()
        }
    }

    fn write(producer: &mut Producer, payload: &[u8]) -> bool {
        match producer.grant(payload.len()).unwrap() {
            Some(grant) => {
                assert!(grant.capacity >= payload.len());
                assert_eq!(grant.ptr as usize % RECORD_ALIGN, RECORD_HEADER_SIZE);
                // SAFETY: the grant has room for the payload.
                unsafe { ptr::copy_nonoverlapping(payload.as_ptr(), grant.ptr, payload.len()) };
                producer.commit(grant, payload.len());
                true
            }
            None => false,
        }
    }

    fn read(consumer: &mut Consumer, releaser: &mut Releaser) -> Option<Vec<u8>> {
        let record = consumer.next(releaser).unwrap()?;
        // SAFETY: test-private memory, no concurrent writer.
        let bytes = unsafe { std::slice::from_raw_parts(record.ptr, record.len) }.to_vec();
        releaser.release(&record);
        Some(bytes)
    }

    #[test]
    fn empty_and_zero_length_records() {
        let mut mem = Mem::new(4096);
        let mut producer = unsafe { Producer::new(mem.base(), 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
        assert!(read(&mut consumer, &mut releaser).is_none());
        assert!(write(&mut producer, b""));
        assert!(write(&mut producer, b"x"));
        assert_eq!(read(&mut consumer, &mut releaser).unwrap(), b"");
        assert_eq!(read(&mut consumer, &mut releaser).unwrap(), b"x");
        assert!(read(&mut consumer, &mut releaser).is_none());
    }

    #[test]
    fn full_ring_refuses_until_released() {
        let mut mem = Mem::new(4096);
        let mut producer = unsafe { Producer::new(mem.base(), 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
        let payload = [7u8; 1000];
        let mut written = 0;
        while write(&mut producer, &payload) {
            written += 1;
        }
        assert_eq!(written, 4);
        assert_eq!(read(&mut consumer, &mut releaser).unwrap(), payload);
        assert!(write(&mut producer, &payload));
    }

    #[test]
    fn out_of_order_release_holds_the_tail() {
        let mut mem = Mem::new(4096);
        let mut producer = unsafe { Producer::new(mem.base(), 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
        for byte in 0..3u8 {
            assert!(write(&mut producer, &[byte; 1000]));
        }
        let first = consumer.next(&mut releaser).unwrap().unwrap();
        let second = consumer.next(&mut releaser).unwrap().unwrap();
        releaser.release(&second);
        assert_eq!(releaser.holding(), 1);
        assert!(
            !write(&mut producer, &[9; 2000]),
            "space behind a held record must stay reserved"
        );
        releaser.release(&first);
        assert_eq!(releaser.holding(), 0);
        assert!(write(&mut producer, &[9; 1500]));
    }

    #[test]
    fn corrupted_head_is_an_error_not_a_panic() {
        let mut mem = Mem::new(4096);
        let base = mem.base();
        let (mut consumer, mut releaser) = unsafe { consumer(base, 4096) };
        let raw = RawRing {
            base,
            capacity: 4096,
        };
        raw.word64(HEAD_OFFSET).store(1 << 40, Ordering::Relaxed);
        assert!(consumer.next(&mut releaser).is_err());
        raw.word64(HEAD_OFFSET).store(17, Ordering::Relaxed);
        assert!(consumer.next(&mut releaser).is_err());
    }

    #[test]
    fn corrupted_record_length_is_an_error() {
        let mut mem = Mem::new(4096);
        let base = mem.base();
        let mut producer = unsafe { Producer::new(base, 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(base, 4096) };
        assert!(write(&mut producer, &[1; 32]));
        // SAFETY: test-private memory.
        unsafe { ptr::write(base.add(CONTROL_SIZE).cast::<u32>(), u32::MAX) };
        assert!(consumer.next(&mut releaser).is_err());
    }

    #[test]
    fn corrupted_tail_is_an_error_for_the_producer() {
        let mut mem = Mem::new(4096);
        let base = mem.base();
        let mut producer = unsafe { Producer::new(base, 4096) };
        let raw = RawRing {
            base,
            capacity: 4096,
        };
        for _ in 0..4 {
            assert!(write(&mut producer, &[1; 1000]));
        }
        raw.word64(TAIL_OFFSET).store(u64::MAX, Ordering::Relaxed);
        assert!(producer.grant(1000).is_err());
    }

    /// Offset of a grant's record in the data area of `mem`.
    fn record_offset(mem: &mut Mem, grant: &Grant) -> usize {
        // SAFETY: the data area starts after the control block of the test memory.
        grant.ptr as usize - RECORD_HEADER_SIZE - unsafe { mem.base().add(CONTROL_SIZE) } as usize
    }

    #[test]
    fn an_empty_ring_restarts_at_offset_zero() {
        let mut mem = Mem::new(4096);
        let mut producer = unsafe { Producer::new(mem.base(), 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
        for round in 0..3 {
            let grant = producer.grant(1000).unwrap().unwrap();
            assert_eq!(
                record_offset(&mut mem, &grant),
                0,
                "round {round} did not start at 0"
            );
            producer.commit(grant, 1000);
            let record = consumer.next(&mut releaser).unwrap().unwrap();
            assert_eq!(record.len, 1000);
            releaser.release(&record);
        }
        // Not rewound while the consumer still holds a record.
        let grant = producer.grant(1000).unwrap().unwrap();
        producer.commit(grant, 1000);
        let held = consumer.next(&mut releaser).unwrap().unwrap();
        let grant = producer.grant(100).unwrap().unwrap();
        assert_eq!(record_offset(&mut mem, &grant), 1008);
        releaser.release(&held);
    }

    #[test]
    fn no_rewind_when_the_record_would_not_fit_before_the_head() {
        let mut mem = Mem::new(4096);
        let mut producer = unsafe { Producer::new(mem.base(), 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
        // Leave the head at offset 1024 with everything released.
        assert!(write(&mut producer, &[0; 1016]));
        assert_eq!(read(&mut consumer, &mut releaser).unwrap().len(), 1016);
        // 2000 bytes fit after the head but not before it: rewinding here would leave
        // an unpublished pad holding space nobody can free (a deadlock once seen).
        let grant = producer.grant(2000).unwrap().expect("room after the head");
        assert!(grant.capacity >= 2000);
        producer.commit(grant, 2000);
        assert_eq!(read(&mut consumer, &mut releaser).unwrap().len(), 2000);
    }

    #[test]
    fn an_abandoned_grant_leaves_no_padding_behind() {
        let mut mem = Mem::new(4096);
        let mut producer = unsafe { Producer::new(mem.base(), 4096) };
        let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
        // Head at offset 1536, everything released.
        assert!(write(&mut producer, &[0; 1528]));
        assert_eq!(read(&mut consumer, &mut releaser).unwrap().len(), 1528);
        // A small grant rewinds to offset 0 behind a 2560-byte pad; the sender finds its
        // message does not fit there and drops the grant (as `send` does before falling
        // back to its scratch buffer).
        {
            let small = producer.grant(100).unwrap().expect("room");
            assert_eq!(record_offset(&mut mem, &small), 0);
        }
        // The ring is empty: a 2000-byte record must fit. With the pad left pending, only
        // 1536 bytes looked free and nobody could ever release the rest (a hang seen
        // under load in `one_way_messages_arrive_in_order_before_a_later_call`).
        assert!(write(&mut producer, &[1; 2000]));
        assert_eq!(read(&mut consumer, &mut releaser).unwrap(), vec![1; 2000]);
        assert!(read(&mut consumer, &mut releaser).is_none());
    }

    proptest! {
        /// Random sizes across many wrap-arounds arrive intact and in order, with random
        /// interleaving of writes and reads.
        #[test]
        fn random_sizes_survive_wraparound(
            sizes in proptest::collection::vec(0usize..1500, 1..300),
            batches in proptest::collection::vec(1usize..6, 1..50),
        ) {
            let mut mem = Mem::new(4096);
            let mut producer = unsafe { Producer::new(mem.base(), 4096) };
            let (mut consumer, mut releaser) = unsafe { consumer(mem.base(), 4096) };
            let mut sent = 0;
            let mut received = 0;
            let mut batch = batches.iter().cycle();
            while received < sizes.len() {
                for _ in 0..*batch.next().unwrap() {
                    if sent == sizes.len() {
                        break;
                    }
                    let payload: Vec<u8> = (0..sizes[sent]).map(|i| (i + sent) as u8).collect();
                    if !write(&mut producer, &payload) {
                        break;
                    }
                    sent += 1;
                }
                while let Some(bytes) = read(&mut consumer, &mut releaser) {
                    let expected: Vec<u8> = (0..sizes[received]).map(|i| (i + received) as u8).collect();
                    prop_assert_eq!(bytes, expected);
                    received += 1;
                }
            }
        }
    }
}
