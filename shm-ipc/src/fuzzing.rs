//! Entry points for the `cargo fuzz` targets in `shm-ipc/fuzz/` and for the smoke
//! run in the normal tests: parse attacker-controlled bytes exactly as a receiver
//! would, and never panic.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;

use crate::frame::{self, FrameHeader, FRAME_HEADER_SIZE};
use crate::ring;
use crate::socket::SocketReader;

const CAPACITY: usize = 4096;

/// Treats `data` as a ring image (control block, then data area, zero-padded) and reads
/// every record, frame header and archive the way a connection's consumer does.
/// Returns how many records carried a valid frame header.
pub fn ring_image(data: &[u8]) -> usize {
    let mut frames = 0;
    let mut memory = vec![0u128; ring::ring_bytes(CAPACITY) / 16];
    let base = memory.as_mut_ptr().cast::<u8>();
    let len = data.len().min(ring::ring_bytes(CAPACITY));
    // SAFETY: `memory` holds ring_bytes(CAPACITY) bytes and is private to this call.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), base, len) };
    // SAFETY: as above; one producer and one consumer, both dropped before `memory`.
    let (mut consumer, mut releaser) = unsafe { ring::consumer(base, CAPACITY) };
    while let Ok(Some(record)) = consumer.next(&mut releaser) {
        if record.len >= FRAME_HEADER_SIZE {
            let mut header = [0u8; FRAME_HEADER_SIZE];
            // SAFETY: `next` checked the record lies inside the ring.
            unsafe {
                std::ptr::copy_nonoverlapping(record.ptr, header.as_mut_ptr(), FRAME_HEADER_SIZE)
            };
            if FrameHeader::parse(&header).is_ok() {
                frames += 1;
                let mut archive = rkyv::util::AlignedVec::<16>::new();
                // SAFETY: as above.
                archive.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(
                        record.ptr.add(FRAME_HEADER_SIZE),
                        record.len - FRAME_HEADER_SIZE,
                    )
                });
                let _ = frame::access::<Vec<u8>>(&archive);
                let _ = frame::access::<frame::RemoteError>(&archive);
            }
        }
        releaser.release(&record);
    }
    // SAFETY: as above.
    let mut producer = unsafe { ring::Producer::new(base, CAPACITY) };
    let _ = producer.grant(100);
    frames
}

/// Feeds `data` to the socket fallback's frame reader through a real socketpair.
/// Returns how many frames it read.
pub fn socket_stream(data: &[u8]) -> usize {
    let Ok((mut writer, reader)) = UnixStream::pair() else {
        return 0;
    };
    let data = &data[..data.len().min(64 * 1024)];
    if writer.write_all(data).is_err() || reader.set_nonblocking(true).is_err() {
        return 0;
    }
    drop(writer);
    let mut parser = SocketReader::new(1 << 20);
    let mut frames = 0;
    while let Ok(Some((_, _, archive))) =
        parser.read_frame(reader.as_fd(), rkyv::util::AlignedVec::with_capacity)
    {
        frames += 1;
        let _ = frame::access::<Vec<u8>>(&archive);
    }
    frames
}
