//! The socket fallback: the same frames as on the rings, length-prefixed by a record
//! header, over a non-blocking Unix stream socket.

use std::io::IoSlice;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rkyv::util::AlignedVec;
use rustix::io::Errno;
use zerocopy::FromBytes;

use crate::frame::{FrameHeader, Kind, FRAME_HEADER_SIZE};
use crate::ring::{RecordHeader, RECORD_HEADER_SIZE};

const PREFIX: usize = RECORD_HEADER_SIZE + FRAME_HEADER_SIZE;

/// Reassembles frames from a non-blocking socket, across partial reads.
pub struct SocketReader {
    prefix: [u8; PREFIX],
    prefix_filled: usize,
    body: Option<(FrameHeader, Kind, AlignedVec<16>, usize)>,
    max_message: usize,
}

impl SocketReader {
    /// A reader refusing messages over `max_message` bytes.
    pub fn new(max_message: usize) -> SocketReader {
        SocketReader {
            prefix: [0; PREFIX],
            prefix_filled: 0,
            body: None,
            max_message,
        }
    }

    /// Reads what is available; returns a frame once one is complete. `Err` means the
    /// peer hung up or broke the framing; the message says which.
    #[allow(clippy::type_complexity)]
    pub fn read_frame(
        &mut self,
        socket: BorrowedFd<'_>,
        mut buffer: impl FnMut(usize) -> AlignedVec<16>,
    ) -> Result<Option<(FrameHeader, Kind, AlignedVec<16>)>, String> {
        loop {
            if let Some((_, _, buf, filled)) = &mut self.body {
                if *filled == buf.len() {
                    let (header, kind, buf, _) = self.body.take().expect("present");
                    return Ok(Some((header, kind, buf)));
                }
                let start = *filled;
                match read(socket, &mut buf[start..])? {
                    Some(n) => *filled += n,
                    None => return Ok(None),
                }
                continue;
            }
            if self.prefix_filled < PREFIX {
                let start = self.prefix_filled;
                match read(socket, &mut self.prefix[start..])? {
                    Some(n) => self.prefix_filled += n,
                    None => return Ok(None),
                }
                continue;
            }
            self.prefix_filled = 0;
            let record = RecordHeader::read_from_bytes(&self.prefix[..RECORD_HEADER_SIZE])
                .expect("exact size");
            if record.tag != u32::from_le_bytes(*b"DATA") {
                return Err(format!("bad frame tag {:#x} on the socket", record.tag));
            }
            let len = record.len as usize;
            if len < FRAME_HEADER_SIZE || len > self.max_message {
                return Err(format!("frame length {len} out of range on the socket"));
            }
            let header_bytes: &[u8; FRAME_HEADER_SIZE] = self.prefix[RECORD_HEADER_SIZE..]
                .try_into()
                .expect("exact size");
            let (header, kind) = FrameHeader::parse(header_bytes)?;
            let mut buf = buffer(len - FRAME_HEADER_SIZE);
            buf.resize(len - FRAME_HEADER_SIZE, 0);
            self.body = Some((header, kind, buf, 0));
        }
    }
}

fn read(socket: BorrowedFd<'_>, buf: &mut [u8]) -> Result<Option<usize>, String> {
    match rustix::io::read(socket, buf) {
        Ok(0) => Err("peer disconnected".into()),
        Ok(n) => Ok(Some(n)),
        Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(None),
        Err(e) => Err(format!("peer disconnected ({e})")),
    }
}

/// Most slices one frame is written from: record header, frame header, archive.
pub const MAX_PARTS: usize = 3;

/// Writes whole frames to a non-blocking socket, waiting while its buffer is full.
#[derive(Default)]
pub struct SocketWriter;

impl SocketWriter {
    /// Writes all of `parts` (at most [`MAX_PARTS`]) as one frame.
    pub fn write_frame(
        &mut self,
        socket: BorrowedFd<'_>,
        parts: &[&[u8]],
        park: Duration,
        closed: &AtomicBool,
    ) -> Result<(), String> {
        assert!(
            parts.len() <= MAX_PARTS,
            "a frame has at most {MAX_PARTS} parts"
        );
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut written = 0usize;
        while written < total {
            let mut skip = written;
            let mut slices = [IoSlice::new(&[]); MAX_PARTS];
            let mut count = 0;
            for part in parts {
                if skip >= part.len() {
                    skip -= part.len();
                    continue;
                }
                slices[count] = IoSlice::new(&part[skip..]);
                count += 1;
                skip = 0;
            }
            match rustix::net::sendmsg(
                socket,
                &slices[..count],
                &mut Default::default(),
                rustix::net::SendFlags::NOSIGNAL,
            ) {
                Ok(n) => written += n,
                Err(Errno::AGAIN) | Err(Errno::INTR) => {
                    if closed.load(Ordering::Acquire) {
                        return Err("connection closed".into());
                    }
                    let mut fds = [rustix::event::PollFd::new(
                        &socket,
                        rustix::event::PollFlags::OUT,
                    )];
                    let timeout = rustix::event::Timespec {
                        tv_sec: park.as_secs() as i64,
                        tv_nsec: park.subsec_nanos() as i64,
                    };
                    let _ = rustix::event::poll(&mut fds, Some(&timeout));
                }
                Err(e) => return Err(format!("peer disconnected ({e})")),
            }
        }
        Ok(())
    }
}
