//! The handshake on the Unix socket: hello in both directions, then the accepting side
//! offers shared memory (a sealed memfd plus eventfds over SCM_RIGHTS) and the other
//! side accepts it or falls back to framing over the socket.

use std::io;
use std::os::fd::{AsFd, OwnedFd};

use memmap2::MmapMut;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::ring;
use crate::sys;

/// Magic at the start of a hello.
pub const HELLO_MAGIC: [u8; 8] = *b"HVIVEIPC";
/// Protocol version; a peer with another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;
/// Capability bit: this side may use shared memory.
pub const CAP_SHM: u32 = 1;

const SETUP_MAGIC: [u8; 8] = *b"HVIVESHM";
const ACK_MAGIC: [u8; 8] = *b"HVIVEACK";
const MODE_SOCKET: u32 = 0;
const MODE_SHM: u32 = 1;

/// The first message each side sends.
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Hello {
    /// [`HELLO_MAGIC`].
    pub magic: [u8; 8],
    /// [`PROTOCOL_VERSION`].
    pub version: u32,
    /// Sender's process id.
    pub pid: u32,
    /// Capability bits.
    pub caps: u32,
    /// Bytes of `name` in use.
    pub name_len: u32,
    /// Ring capacity the sender would like, per direction.
    pub ring_capacity: u64,
    /// Sender's process name.
    pub name: [u8; 48],
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Setup {
    magic: [u8; 8],
    mode: u32,
    reserved: u32,
    ring_capacity: u64,
    memfd_size: u64,
}

#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Ack {
    magic: [u8; 8],
    mode: u32,
    reserved: u32,
}

/// Who the peer says it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// Process name from its hello.
    pub name: String,
    /// Process id from its hello.
    pub pid: u32,
}

/// The eventfds of one direction: the consumer parks on `data` (reader parked, a
/// blocking eventfd read directly) or `background` (no reader); the producer parks on
/// `space`. `background` and `space` are non-blocking and polled with the socket.
pub struct RingFds {
    /// Data-ready for a parked reader.
    pub data: OwnedFd,
    /// Data-ready for the background reader.
    pub background: OwnedFd,
    /// Space-free for a waiting producer.
    pub space: OwnedFd,
}

impl RingFds {
    fn new() -> io::Result<RingFds> {
        Ok(RingFds {
            data: sys::blocking_eventfd()?,
            background: sys::eventfd()?,
            space: sys::eventfd()?,
        })
    }
}

/// Shared memory both sides mapped: ring 0 carries acceptor-to-connector frames,
/// ring 1 the other direction.
pub struct SharedRings {
    /// The mapping; must outlive every producer and consumer made from it.
    pub map: MmapMut,
    /// Data capacity of each ring.
    pub capacity: usize,
    /// Eventfds of ring 0 and ring 1.
    pub fds: [RingFds; 2],
}

impl SharedRings {
    /// Base address of ring `index`'s control block.
    pub fn ring_base(&self, index: usize) -> *mut u8 {
        // SAFETY: both rings lie inside the mapping, whose size was checked.
        unsafe {
            self.map
                .as_ptr()
                .cast_mut()
                .add(index * ring::ring_bytes(self.capacity))
        }
    }
}

/// Outcome of a handshake.
pub struct Negotiated {
    /// The peer's identity.
    pub peer: PeerInfo,
    /// Shared rings, or `None` for the socket fallback.
    pub shm: Option<SharedRings>,
}

fn hello(name: &str, shm: bool, ring_capacity: usize) -> Hello {
    let mut buf = [0u8; 48];
    let len = name.len().min(buf.len());
    buf[..len].copy_from_slice(&name.as_bytes()[..len]);
    Hello {
        magic: HELLO_MAGIC,
        version: PROTOCOL_VERSION,
        pid: std::process::id(),
        caps: if shm { CAP_SHM } else { 0 },
        name_len: len as u32,
        ring_capacity: ring_capacity as u64,
        name: buf,
    }
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn exchange_hello(
    socket: &OwnedFd,
    name: &str,
    shm: bool,
    ring_capacity: usize,
) -> io::Result<Hello> {
    sys::send_with_fds(
        socket.as_fd(),
        hello(name, shm, ring_capacity).as_bytes(),
        &[],
    )?;
    let mut buf = [0u8; std::mem::size_of::<Hello>()];
    let fds = sys::recv_with_fds(socket.as_fd(), &mut buf)?;
    if !fds.is_empty() {
        return Err(bad("peer attached file descriptors to its hello"));
    }
    let peer = Hello::read_from_bytes(&buf).expect("exact size");
    if peer.magic != HELLO_MAGIC {
        return Err(bad("peer is not a hashvive IPC endpoint (bad magic)"));
    }
    if peer.version != PROTOCOL_VERSION {
        return Err(bad(format!(
            "peer speaks IPC protocol version {}, we speak {PROTOCOL_VERSION}",
            peer.version
        )));
    }
    if peer.name_len as usize > peer.name.len() {
        return Err(bad("peer hello has a bad name length"));
    }
    Ok(peer)
}

fn peer_info(hello: &Hello) -> PeerInfo {
    PeerInfo {
        name: String::from_utf8_lossy(&hello.name[..hello.name_len as usize]).into_owned(),
        pid: hello.pid,
    }
}

fn create_rings(capacity: usize) -> io::Result<(OwnedFd, SharedRings)> {
    let size = 2 * ring::ring_bytes(capacity);
    let memfd = sys::sealed_memfd("hashvive-ipc", size)?;
    // SAFETY: the memfd is sealed against shrinking, so the mapping cannot become
    // invalid underneath us.
    let mut map = unsafe { MmapMut::map_mut(&memfd)? };
    for index in 0..2 {
        // SAFETY: each ring lies inside the fresh, zeroed mapping.
        unsafe {
            ring::init(
                map.as_mut_ptr().add(index * ring::ring_bytes(capacity)),
                capacity,
            )
        };
    }
    let fds = [RingFds::new()?, RingFds::new()?];
    Ok((memfd, SharedRings { map, capacity, fds }))
}

/// Runs the accepting side: the side that creates shared memory.
pub fn accept(
    socket: &OwnedFd,
    name: &str,
    shm: bool,
    ring_capacity: usize,
) -> io::Result<Negotiated> {
    ring::check_capacity(ring_capacity).map_err(|e| bad(e.0))?;
    let peer = exchange_hello(socket, name, shm, ring_capacity)?;
    let info = peer_info(&peer);
    let rings = if shm && peer.caps & CAP_SHM != 0 {
        // Failing to create shared memory is not fatal: the socket still works.
        create_rings(ring_capacity).ok()
    } else {
        None
    };
    let Some((memfd, rings)) = rings else {
        send_setup(socket, MODE_SOCKET, 0, &[])?;
        read_ack(socket)?;
        return Ok(Negotiated {
            peer: info,
            shm: None,
        });
    };
    let fds: Vec<_> = std::iter::once(memfd.as_fd())
        .chain(
            rings
                .fds
                .iter()
                .flat_map(|r| [r.data.as_fd(), r.background.as_fd(), r.space.as_fd()]),
        )
        .collect();
    send_setup(socket, MODE_SHM, ring_capacity, &fds)?;
    let shm = (read_ack(socket)? == MODE_SHM).then_some(rings);
    Ok(Negotiated { peer: info, shm })
}

fn send_setup(
    socket: &OwnedFd,
    mode: u32,
    ring_capacity: usize,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> io::Result<()> {
    let setup = Setup {
        magic: SETUP_MAGIC,
        mode,
        reserved: 0,
        ring_capacity: ring_capacity as u64,
        memfd_size: 2 * ring::ring_bytes(ring_capacity) as u64,
    };
    sys::send_with_fds(socket.as_fd(), setup.as_bytes(), fds)
}

fn read_ack(socket: &OwnedFd) -> io::Result<u32> {
    let mut buf = [0u8; std::mem::size_of::<Ack>()];
    let fds = sys::recv_with_fds(socket.as_fd(), &mut buf)?;
    let ack = Ack::read_from_bytes(&buf).expect("exact size");
    if ack.magic != ACK_MAGIC || !fds.is_empty() || ack.mode > MODE_SHM {
        return Err(bad("malformed handshake acknowledgement"));
    }
    Ok(ack.mode)
}

/// Runs the connecting side. `shm` false refuses shared memory (`-ipcshm=0`).
pub fn connect(
    socket: &OwnedFd,
    name: &str,
    shm: bool,
    ring_capacity: usize,
) -> io::Result<(Negotiated, Option<String>)> {
    let peer = exchange_hello(socket, name, shm, ring_capacity)?;
    let mut buf = [0u8; std::mem::size_of::<Setup>()];
    let fds = sys::recv_with_fds(socket.as_fd(), &mut buf)?;
    let setup = Setup::read_from_bytes(&buf).expect("exact size");
    if setup.magic != SETUP_MAGIC || setup.mode > MODE_SHM {
        return Err(bad("malformed shared-memory setup message"));
    }
    let (shm, refusal) = if setup.mode == MODE_SHM {
        match accept_rings(&setup, fds) {
            Ok(rings) => (Some(rings), None),
            Err(reason) => (None, Some(reason)),
        }
    } else {
        (None, None)
    };
    let ack = Ack {
        magic: ACK_MAGIC,
        mode: if shm.is_some() { MODE_SHM } else { MODE_SOCKET },
        reserved: 0,
    };
    sys::send_with_fds(socket.as_fd(), ack.as_bytes(), &[])?;
    Ok((
        Negotiated {
            peer: peer_info(&peer),
            shm,
        },
        refusal,
    ))
}

/// Validates and maps a memfd offered by the peer.
fn accept_rings(setup: &Setup, fds: Vec<OwnedFd>) -> Result<SharedRings, String> {
    let capacity = usize::try_from(setup.ring_capacity).map_err(|_| "ring too large")?;
    ring::check_capacity(capacity).map_err(|e| e.0)?;
    let size = 2 * ring::ring_bytes(capacity);
    if setup.memfd_size != size as u64 {
        return Err(format!(
            "memfd size {} does not match two rings of {capacity}",
            setup.memfd_size
        ));
    }
    let [memfd, d0, b0, s0, d1, b1, s1]: [OwnedFd; 7] = fds
        .try_into()
        .map_err(|fds: Vec<OwnedFd>| format!("expected 7 descriptors, got {}", fds.len()))?;
    sys::check_memfd(memfd.as_fd(), size)?;
    // SAFETY: seals forbid shrinking, so the mapping stays valid; size checked above.
    let map = unsafe { MmapMut::map_mut(&memfd) }.map_err(|e| format!("mmap failed: {e}"))?;
    if map.len() != size {
        return Err("mapping size mismatch".into());
    }
    Ok(SharedRings {
        map,
        capacity,
        fds: [
            RingFds {
                data: d0,
                background: b0,
                space: s0,
            },
            RingFds {
                data: d1,
                background: b1,
                space: s1,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::net::{AddressFamily, SocketFlags, SocketType};

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn negotiates_shared_memory() {
        let (a, b) = pair();
        let child = std::thread::spawn(move || connect(&b, "child", true, 1 << 16).unwrap());
        let acc = accept(&a, "parent", true, 1 << 16).unwrap();
        let (con, refusal) = child.join().unwrap();
        assert!(refusal.is_none());
        assert_eq!(acc.peer.name, "child");
        assert_eq!(con.peer.name, "parent");
        assert!(acc.shm.is_some() && con.shm.is_some());
    }

    #[test]
    fn either_side_can_force_the_socket() {
        for (acc_shm, con_shm) in [(false, true), (true, false)] {
            let (a, b) = pair();
            let child = std::thread::spawn(move || connect(&b, "c", con_shm, 1 << 16).unwrap());
            let acc = accept(&a, "p", acc_shm, 1 << 16).unwrap();
            let (con, _) = child.join().unwrap();
            assert!(acc.shm.is_none() && con.shm.is_none());
        }
    }

    #[test]
    fn refuses_unsealed_or_wrong_size_memfd() {
        let capacity = 1 << 16;
        let size = 2 * ring::ring_bytes(capacity);
        let unsealed = rustix::fs::memfd_create(
            "bad",
            rustix::fs::MemfdFlags::CLOEXEC | rustix::fs::MemfdFlags::ALLOW_SEALING,
        )
        .unwrap();
        rustix::fs::ftruncate(&unsealed, size as u64).unwrap();
        assert!(sys::check_memfd(unsealed.as_fd(), size)
            .unwrap_err()
            .contains("seals"));
        let small = sys::sealed_memfd("small", size - 4096).unwrap();
        assert!(sys::check_memfd(small.as_fd(), size)
            .unwrap_err()
            .contains("bytes"));
        let good = sys::sealed_memfd("good", size).unwrap();
        assert!(sys::check_memfd(good.as_fd(), size).is_ok());
    }

    #[test]
    fn refuses_a_peer_with_bad_magic() {
        let (a, b) = pair();
        let child = std::thread::spawn(move || {
            let mut garbage = hello("x", true, 1 << 16);
            garbage.magic = *b"GARBAGE!";
            sys::send_with_fds(b.as_fd(), garbage.as_bytes(), &[]).unwrap();
            b
        });
        let err = accept(&a, "p", true, 1 << 16).err().unwrap();
        assert!(err.to_string().contains("magic"), "{err}");
        drop(child.join());
    }
}
