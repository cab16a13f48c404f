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

/// A cheap timestamp for traces: the CPU's invariant time-stamp counter where it has
/// one (a few ns to read, against ~20 ns for `clock_gettime`; a traced round trip takes
/// four), else [`monotonic_ns`]. [`TickScale`] turns ticks into ns off the hot path.
pub fn ticks() -> u64 {
    #[cfg(target_arch = "x86_64")]
    if tsc_is_invariant() {
        // SAFETY: RDTSC exists on every x86_64 CPU and has no preconditions.
        return unsafe { std::arch::x86_64::_rdtsc() };
    }
    monotonic_ns()
}

/// Whether [`ticks`] reads the TSC (else it is the monotonic clock).
fn ticks_are_tsc() -> bool {
    #[cfg(target_arch = "x86_64")]
    return tsc_is_invariant();
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// Whether the TSC ticks at a constant rate through frequency changes and sleep states
/// (CPUID 0x8000_0007, EDX bit 8), so that ticks map linearly onto the monotonic clock.
#[cfg(target_arch = "x86_64")]
fn tsc_is_invariant() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static KNOWN: AtomicU8 = AtomicU8::new(0);
    match KNOWN.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            // Leaves past the highest one the CPU reports are not asked for.
            use std::arch::x86_64::__cpuid;
            let invariant =
                __cpuid(0x8000_0000).eax >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0;
            KNOWN.store(if invariant { 1 } else { 2 }, Ordering::Relaxed);
            invariant
        }
    }
}

/// Maps [`ticks`] onto [`monotonic_ns`]: a linear fit from the first sample to the
/// latest, so it grows more exact as a trace runs.
pub struct TickScale {
    origin: (u64, u64),
    ns_per_tick: f64,
}

impl TickScale {
    /// Starts the fit at the current instant.
    pub fn start() -> TickScale {
        TickScale {
            origin: Self::sample(),
            ns_per_tick: 1.0,
        }
    }

    /// Refits with the current instant; a no-op when ticks are nanoseconds already or
    /// no time has passed.
    pub fn refit(&mut self) {
        if !ticks_are_tsc() {
            return;
        }
        let (ticks, ns) = Self::sample();
        if ticks > self.origin.0 && ns > self.origin.1 {
            self.ns_per_tick = (ns - self.origin.1) as f64 / (ticks - self.origin.0) as f64;
        }
    }

    /// The monotonic time of a tick count.
    pub fn to_ns(&self, ticks: u64) -> u64 {
        let delta = (ticks as i128 - self.origin.0 as i128) as f64 * self.ns_per_tick;
        (self.origin.1 as i128 + delta as i128).max(0) as u64
    }

    /// A tick interval in nanoseconds.
    pub fn span_ns(&self, ticks: u64) -> u64 {
        (ticks as f64 * self.ns_per_tick) as u64
    }

    fn sample() -> (u64, u64) {
        (ticks(), monotonic_ns())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_map_onto_the_monotonic_clock() {
        let mut scale = TickScale::start();
        let (t0, n0) = (ticks(), monotonic_ns());
        std::thread::sleep(std::time::Duration::from_millis(30));
        let (t1, n1) = (ticks(), monotonic_ns());
        scale.refit();
        // Each pair was read back to back; allow for a preemption between the reads.
        let slack = 2_000_000;
        assert!(
            scale.to_ns(t0).abs_diff(n0) < slack,
            "{} vs {n0}",
            scale.to_ns(t0)
        );
        assert!(
            scale.to_ns(t1).abs_diff(n1) < slack,
            "{} vs {n1}",
            scale.to_ns(t1)
        );
        let span = scale.span_ns(t1 - t0);
        assert!(
            span.abs_diff(n1 - n0) < slack,
            "{span} ns for {} ns",
            n1 - n0
        );
    }
}
