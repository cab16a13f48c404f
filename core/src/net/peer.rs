//! One connection: v1 message framing (magic, command, length, checksum), the send
//! queue drained by a writer thread, traffic statistics and per-peer protocol state.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bitcoin::consensus::encode;
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::Magic;
use bitcoin::BlockHash;
use parking_lot::Mutex;

use crate::log_debug;

/// Core's `MAX_PROTOCOL_MESSAGE_LENGTH`: larger payloads get the peer disconnected.
pub const MAX_PROTOCOL_MESSAGE_LENGTH: usize = 4_000_000;
/// Size of the v1 message header, counted in the per-message byte statistics.
pub const HEADER_LEN: usize = 24;
/// A peer whose unsent data grows past this is not reading; it is disconnected.
const MAX_SEND_QUEUE_BYTES: usize = 64 << 20;
/// Inventory remembered per peer (so we do not announce back what it sent us).
const MAX_KNOWN_INV: usize = 50_000;

/// Why a connection exists, as `getpeerinfo` reports it in `connection_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnType {
    /// The peer connected to us.
    Inbound,
    /// `-connect`, `-addnode` or `addnode` (Core calls all of these manual).
    Manual,
}

/// What the peer told us in its `version` message.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    /// Protocol version.
    pub version: u32,
    /// Service bits.
    pub services: u64,
    /// User agent (`subver`).
    pub user_agent: String,
    /// Its best height when it connected.
    pub start_height: i32,
    /// Whether it wants transaction announcements.
    pub relay: bool,
}

/// Protocol state of one peer, changed by its reader thread and the announcer.
#[derive(Debug, Default)]
pub struct PeerState {
    /// Its `version`, once received.
    pub version: Option<VersionInfo>,
    /// `verack` received after our `version`: the handshake is complete.
    pub handshake_done: bool,
    /// It sent `wtxidrelay`: announce transactions by wtxid.
    pub wtxid_relay: bool,
    /// It sent `sendheaders`: announce blocks with `headers`.
    pub send_headers: bool,
    /// Its `feefilter` in sat/kvB.
    pub fee_filter: i64,
    /// Nonce and start of our outstanding `ping`.
    pub ping_sent: Option<(u64, Instant)>,
    /// Last measured round trip.
    pub ping_time: Option<Duration>,
    /// Smallest round trip measured.
    pub min_ping: Option<Duration>,
    /// Best block (hash, height) the peer is known to have.
    pub best_known: Option<(BlockHash, u32)>,
    /// Best block we announced to it.
    pub best_sent: Option<BlockHash>,
    /// Blocks it announced that we still have to request, oldest first.
    pub to_fetch: VecDeque<BlockHash>,
    /// Wtxids and txids it has or that we announced to it.
    pub known_inv: HashSet<[u8; 32]>,
    /// Unix time of the last new block and new transaction it gave us.
    pub last_block: i64,
    /// See `last_block`.
    pub last_tx: i64,
    /// When we last sent a `ping`, for the periodic one.
    pub last_ping: Option<Instant>,
}

impl PeerState {
    /// Remembers an inventory hash, forgetting everything when the set gets large.
    pub fn add_known(&mut self, h: [u8; 32]) -> bool {
        if self.known_inv.len() >= MAX_KNOWN_INV {
            self.known_inv.clear();
        }
        self.known_inv.insert(h)
    }
}

/// Traffic counters.
#[derive(Debug, Default, Clone)]
pub struct PeerStats {
    /// Bytes sent, headers included.
    pub bytes_sent: u64,
    /// Bytes received, headers included.
    pub bytes_recv: u64,
    /// Unix time of the last send.
    pub last_send: i64,
    /// Unix time of the last receive.
    pub last_recv: i64,
    /// Bytes sent per command.
    pub sent_per_msg: BTreeMap<String, u64>,
    /// Bytes received per command (`*other*` for unknown ones).
    pub recv_per_msg: BTreeMap<String, u64>,
}

/// A connected peer.
pub struct Peer {
    /// Node id, unique for the process lifetime.
    pub id: u64,
    /// Remote address.
    pub addr: SocketAddr,
    /// Local address of the socket.
    pub local: SocketAddr,
    /// The address string we dialled (outbound), matched by `disconnectnode` and
    /// `getaddednodeinfo`.
    pub addr_name: String,
    /// Connection type.
    pub conn_type: ConnType,
    /// `-whitelist` permissions.
    pub permissions: Vec<&'static str>,
    /// Unix time the connection was made.
    pub conn_time: i64,
    /// When the connection was made, for the handshake timeout.
    pub connected_at: Instant,
    /// Protocol state.
    pub state: Mutex<PeerState>,
    /// Traffic counters.
    pub stats: Mutex<PeerStats>,
    stream: TcpStream,
    sender: Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    queued: AtomicUsize,
    disconnecting: AtomicBool,
    magic: Magic,
}

impl Peer {
    /// Wraps a connected socket; returns the peer and the receiving end of its send queue
    /// (for [`run_writer`]).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: u64,
        stream: TcpStream,
        addr: SocketAddr,
        addr_name: String,
        conn_type: ConnType,
        permissions: Vec<&'static str>,
        magic: Magic,
    ) -> (Peer, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel();
        let local = stream
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let peer = Peer {
            id,
            addr,
            local,
            addr_name,
            conn_type,
            permissions,
            conn_time: crate::time::now(),
            connected_at: Instant::now(),
            state: Mutex::new(PeerState::default()),
            stats: Mutex::new(PeerStats::default()),
            stream,
            sender: Mutex::new(Some(tx)),
            queued: AtomicUsize::new(0),
            disconnecting: AtomicBool::new(false),
            magic,
        };
        (peer, rx)
    }

    /// Whether the peer came to us.
    pub fn inbound(&self) -> bool {
        self.conn_type == ConnType::Inbound
    }

    /// Whether `-whitelist` gave it `noban` (invalid data then does not disconnect it).
    pub fn noban(&self) -> bool {
        self.permissions.contains(&"noban")
    }

    /// Queues a message; the writer thread sends it. A peer whose queue keeps growing
    /// is disconnected rather than letting it hold our memory.
    pub fn send(&self, msg: NetworkMessage) {
        if self.is_disconnecting() {
            return;
        }
        let cmd = msg.command().to_string();
        let bytes = encode::serialize(&RawNetworkMessage::new(self.magic, msg));
        log_debug!(
            "net",
            "sending {cmd} ({} bytes) peer={}",
            bytes.len() - HEADER_LEN,
            self.id
        );
        {
            let mut s = self.stats.lock();
            s.bytes_sent += bytes.len() as u64;
            s.last_send = crate::time::now();
            *s.sent_per_msg.entry(cmd).or_default() += bytes.len() as u64;
        }
        let len = bytes.len();
        if self.queued.fetch_add(len, Ordering::SeqCst) + len > MAX_SEND_QUEUE_BYTES {
            self.disconnect("send queue full");
            return;
        }
        if let Some(s) = self.sender.lock().as_ref() {
            let _ = s.send(bytes);
        }
    }

    /// Closes the socket; the reader thread then ends and removes the peer.
    pub fn disconnect(&self, reason: &str) {
        if !self.disconnecting.swap(true, Ordering::SeqCst) {
            log_debug!("net", "disconnecting peer={}: {reason}", self.id);
        }
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Whether a disconnect was requested.
    pub fn is_disconnecting(&self) -> bool {
        self.disconnecting.load(Ordering::SeqCst)
    }

    /// Drops the send queue so the writer thread ends.
    pub fn close_queue(&self) {
        self.sender.lock().take();
    }

    /// A second handle on the socket, for the reader thread.
    pub fn reader(&self) -> std::io::Result<TcpStream> {
        self.stream.try_clone()
    }

    fn sent(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::SeqCst);
    }
}

/// Writes queued messages until the queue closes or the socket fails.
pub fn run_writer(peer: &Peer, rx: mpsc::Receiver<Vec<u8>>) {
    let Ok(mut stream) = peer.stream.try_clone() else {
        peer.disconnect("cannot clone socket");
        return;
    };
    while let Ok(bytes) = rx.recv() {
        let n = bytes.len();
        if let Err(e) = stream.write_all(&bytes) {
            peer.disconnect(&format!("send failed: {e}"));
            return;
        }
        peer.sent(n);
    }
}

/// Why reading the next message failed.
#[derive(Debug)]
pub enum ReadError {
    /// The socket closed or failed.
    Closed(String),
    /// The peer broke the framing or sent an undecodable payload; it gets disconnected.
    Protocol(String),
}

/// Reads v1 messages from one socket.
pub struct MessageReader {
    inner: BufReader<TcpStream>,
    magic: Magic,
}

/// One received message with its command name and wire size (header included).
pub struct Received {
    /// The command as sent (e.g. `version`, or an unknown command's name).
    pub command: String,
    /// Header plus payload bytes.
    pub wire_size: usize,
    /// The decoded message.
    pub msg: NetworkMessage,
}

impl MessageReader {
    /// Reads from `stream`, expecting `magic`.
    pub fn new(stream: TcpStream, magic: Magic) -> Self {
        MessageReader {
            inner: BufReader::with_capacity(64 * 1024, stream),
            magic,
        }
    }

    /// Reads and decodes the next message, checking magic, command, size and checksum.
    pub fn read_message(&mut self) -> Result<Received, ReadError> {
        let mut header = [0u8; HEADER_LEN];
        self.inner
            .read_exact(&mut header)
            .map_err(|e| ReadError::Closed(e.to_string()))?;
        parse_header(&header, self.magic)?;
        let len = u32::from_le_bytes(header[16..20].try_into().expect("4 bytes")) as usize;
        let command = command_name(&header);
        let mut buf = vec![0u8; HEADER_LEN + len];
        buf[..HEADER_LEN].copy_from_slice(&header);
        self.inner
            .read_exact(&mut buf[HEADER_LEN..])
            .map_err(|e| ReadError::Closed(e.to_string()))?;
        let raw: RawNetworkMessage =
            encode::deserialize_partial(&buf)
                .map(|(m, _)| m)
                .map_err(|e| match e {
                    encode::Error::InvalidChecksum { expected, actual } => {
                        ReadError::Protocol(format!(
                        "Header error: Wrong checksum ({command}, {len} bytes), expected {} was {}",
                        hex(&expected),
                        hex(&actual)
                    ))
                    }
                    e => ReadError::Protocol(format!("malformed {command} message: {e}")),
                })?;
        Ok(Received {
            command,
            wire_size: buf.len(),
            msg: raw.into_payload(),
        })
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The command field up to its NUL padding.
fn command_name(header: &[u8; HEADER_LEN]) -> String {
    let cmd = &header[4..16];
    let end = cmd.iter().position(|&b| b == 0).unwrap_or(12);
    String::from_utf8_lossy(&cmd[..end]).into_owned()
}

/// Core's `V1Transport::readHeader` checks: magic, a printable NUL-padded command and
/// the size limit.
fn parse_header(header: &[u8; HEADER_LEN], magic: Magic) -> Result<(), ReadError> {
    if header[..4] != magic.to_bytes() {
        return Err(ReadError::Protocol(format!(
            "Header error: Wrong MessageStart {} received",
            hex(&header[..4])
        )));
    }
    let cmd = &header[4..16];
    let end = cmd.iter().position(|&b| b == 0).unwrap_or(12);
    if end == 0
        || !cmd[..end].iter().all(|b| (0x20..0x7f).contains(b))
        || cmd[end..].iter().any(|&b| b != 0)
    {
        return Err(ReadError::Protocol(
            "Header error: Invalid message type".into(),
        ));
    }
    let len = u32::from_le_bytes(header[16..20].try_into().expect("4 bytes")) as usize;
    if len > MAX_PROTOCOL_MESSAGE_LENGTH {
        return Err(ReadError::Protocol(format!(
            "Header error: Size too large ({}, {len} bytes)",
            command_name(header)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let a = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (b, _) = l.accept().unwrap();
        (a, b)
    }

    #[test]
    fn round_trip_and_framing_errors() {
        let magic = Magic::REGTEST;
        let (mut a, b) = pair();
        let mut r = MessageReader::new(b, magic);
        let ping = encode::serialize(&RawNetworkMessage::new(magic, NetworkMessage::Ping(7)));
        a.write_all(&ping).unwrap();
        let got = r.read_message().unwrap();
        assert_eq!(got.command, "ping");
        assert_eq!(got.wire_size, 32);
        assert!(matches!(got.msg, NetworkMessage::Ping(7)));

        // Unknown commands decode as Unknown rather than failing.
        let mut unknown = ping.clone();
        unknown[4..16].copy_from_slice(b"whatever\0\0\0\0");
        a.write_all(&unknown).unwrap();
        assert!(matches!(
            r.read_message().unwrap().msg,
            NetworkMessage::Unknown { .. }
        ));

        let mut bad_sum = ping.clone();
        bad_sum[20] ^= 1;
        a.write_all(&bad_sum).unwrap();
        match r.read_message() {
            Err(ReadError::Protocol(m)) => assert!(m.contains("Wrong checksum"), "{m}"),
            _ => panic!("bad checksum accepted"),
        }
    }

    /// Random payloads under every command (with valid framing) decode or fail cleanly.
    #[test]
    fn random_payloads_never_panic() {
        use bitcoin::hashes::{sha256d, Hash};
        const COMMANDS: &[&str] = &[
            "version",
            "verack",
            "addr",
            "inv",
            "getdata",
            "notfound",
            "getblocks",
            "getheaders",
            "tx",
            "block",
            "headers",
            "ping",
            "pong",
            "feefilter",
            "sendcmpct",
            "cmpctblock",
            "getblocktxn",
            "blocktxn",
            "addrv2",
            "filterload",
            "merkleblock",
            "cfilter",
            "reject",
            "wtxidrelay",
            "other",
        ];
        let magic = Magic::REGTEST;
        let (mut a, b) = pair();
        let mut r = MessageReader::new(b, magic);
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2000 {
            let cmd = COMMANDS[round % COMMANDS.len()];
            let len = (next() % 300) as usize;
            let mut payload: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Small counts make the decoders go further than the first length field.
            if let Some(first) = payload.first_mut() {
                *first %= 4;
            }
            let mut msg = magic.to_bytes().to_vec();
            let mut c = [0u8; 12];
            c[..cmd.len()].copy_from_slice(cmd.as_bytes());
            msg.extend_from_slice(&c);
            msg.extend_from_slice(&(len as u32).to_le_bytes());
            msg.extend_from_slice(&sha256d::Hash::hash(&payload)[..4]);
            msg.extend_from_slice(&payload);
            a.write_all(&msg).unwrap();
            match r.read_message() {
                Ok(m) => assert_eq!(m.wire_size, HEADER_LEN + len),
                Err(ReadError::Protocol(m)) => assert!(m.contains(cmd), "{m}"),
                Err(ReadError::Closed(e)) => panic!("closed: {e}"),
            }
        }
    }

    #[test]
    fn header_checks() {
        let magic = Magic::REGTEST;
        let ok = encode::serialize(&RawNetworkMessage::new(magic, NetworkMessage::Verack));
        let h: [u8; 24] = ok[..24].try_into().unwrap();
        assert!(parse_header(&h, magic).is_ok());
        let mut big = h;
        big[16..20].copy_from_slice(&4_000_001u32.to_le_bytes());
        assert!(
            matches!(parse_header(&big, magic), Err(ReadError::Protocol(m)) if m.contains("Size too large"))
        );
        let mut wrong = h;
        wrong[0] = 0;
        assert!(parse_header(&wrong, magic).is_err());
        let mut cmd = h;
        cmd[4..16].copy_from_slice(b"ver\0ack\0\0\0\0\0");
        assert!(parse_header(&cmd, magic).is_err());
    }
}
