//! Thin wrappers over the Linux primitives the transport needs: sealed memfds,
//! eventfds, poll and SCM_RIGHTS.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec};
use rustix::fs::{MemfdFlags, SealFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// Seals every shared mapping must carry: its size can never change afterwards.
pub const REQUIRED_SEALS: SealFlags = SealFlags::SHRINK
    .union(SealFlags::GROW)
    .union(SealFlags::SEAL);

/// Most file descriptors one handshake message carries.
pub const MAX_FDS: usize = 8;

/// Creates a memfd of `size` bytes sealed against resizing.
pub fn sealed_memfd(name: &str, size: usize) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, size as u64)?;
    rustix::fs::fcntl_add_seals(&fd, REQUIRED_SEALS)?;
    Ok(fd)
}

/// Checks a received memfd: it must carry the required seals and exactly `size` bytes.
pub fn check_memfd(fd: BorrowedFd<'_>, size: usize) -> Result<(), String> {
    let seals = rustix::fs::fcntl_get_seals(fd).map_err(|e| format!("memfd has no seals ({e})"))?;
    if !seals.contains(REQUIRED_SEALS) {
        return Err(format!(
            "memfd seals {seals:?} lack shrink, grow or seal-seal"
        ));
    }
    let stat = rustix::fs::fstat(fd).map_err(|e| format!("fstat on memfd failed: {e}"))?;
    if stat.st_size as u64 != size as u64 {
        return Err(format!(
            "memfd holds {} bytes, expected {size}",
            stat.st_size
        ));
    }
    Ok(())
}

/// Creates a non-blocking eventfd.
pub fn eventfd() -> io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(
        0,
        EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
    )?)
}

/// Creates a blocking eventfd, for a single waiter that sleeps in `read_event`.
pub fn blocking_eventfd() -> io::Result<OwnedFd> {
    Ok(rustix::event::eventfd(0, EventfdFlags::CLOEXEC)?)
}

/// Sleeps until the eventfd is signalled and resets it. Fails at once with
/// `WouldBlock` if the eventfd is non-blocking and unsignalled.
pub fn read_event(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut buf = [0u8; 8];
    loop {
        match rustix::io::read(fd, &mut buf) {
            Ok(_) => return Ok(()),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Adds one to an eventfd, waking its poller.
pub fn signal(fd: BorrowedFd<'_>) {
    // EAGAIN means the counter is saturated, which is already "signalled".
    let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
}

/// Resets an eventfd's counter.
pub fn drain(fd: BorrowedFd<'_>) {
    let mut buf = [0u8; 8];
    let _ = rustix::io::read(fd, &mut buf);
}

/// What `wait` saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct Readiness {
    /// The eventfd (or data socket) became readable.
    pub event: bool,
    /// The liveness socket is readable, hung up or in error.
    pub socket: bool,
}

/// Blocks until `event` or `socket` is ready, or `timeout` passes.
pub fn wait(
    event: Option<BorrowedFd<'_>>,
    socket: BorrowedFd<'_>,
    timeout: Duration,
) -> io::Result<Readiness> {
    let timeout = Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as i64,
    };
    let socket_flags = PollFlags::IN | PollFlags::HUP | PollFlags::ERR | PollFlags::RDHUP;
    let mut fds = [
        PollFd::new(&socket, socket_flags),
        PollFd::new(&socket, PollFlags::empty()),
    ];
    if let Some(event) = &event {
        fds[1] = PollFd::new(event, PollFlags::IN);
    }
    let count = if event.is_some() { 2 } else { 1 };
    match rustix::event::poll(&mut fds[..count], Some(&timeout)) {
        Ok(_) | Err(rustix::io::Errno::INTR) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Readiness {
        socket: !fds[0].revents().is_empty(),
        event: count == 2 && !fds[1].revents().is_empty(),
    })
}

/// Sends `bytes` with `fds` attached in one message.
pub fn send_with_fds(
    socket: BorrowedFd<'_>,
    bytes: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !control.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(io::Error::other(
            "too many file descriptors for one message",
        ));
    }
    let sent = rustix::net::sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    if sent != bytes.len() {
        return Err(io::Error::other("short write on handshake message"));
    }
    Ok(())
}

/// Receives exactly `buf.len()` bytes plus any attached file descriptors, which arrive
/// close-on-exec. A truncated control message is an error, so no descriptor leaks.
pub fn recv_with_fds(socket: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<Vec<OwnedFd>> {
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = rustix::net::recvmsg(
        socket,
        &mut [IoSliceMut::new(buf)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC | RecvFlags::WAITALL,
    )?;
    let mut fds = Vec::new();
    for message in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = message {
            fds.extend(received);
        }
    }
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(io::Error::other(
            "control message truncated: peer sent too many file descriptors",
        ));
    }
    if msg.bytes == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    if msg.bytes != buf.len() {
        return Err(io::Error::other(format!(
            "handshake message of {} bytes, expected {}",
            msg.bytes,
            buf.len()
        )));
    }
    Ok(fds)
}

/// Whether `fd` is a Unix stream socket, for validating `-ipcfd=N`.
pub fn is_stream_socket(fd: BorrowedFd<'_>) -> bool {
    rustix::net::sockopt::socket_type(fd) == Ok(rustix::net::SocketType::STREAM)
}

/// This process's effective uid.
pub fn uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// The uid of the process on the other end of a Unix socket.
pub fn peer_uid(socket: impl AsFd) -> io::Result<u32> {
    Ok(rustix::net::sockopt::socket_peercred(socket)?.uid.as_raw())
}

/// Monotonic clock in nanoseconds, shared by all processes on the machine.
pub fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}

/// Wall-clock time in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
