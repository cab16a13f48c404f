//! Bitcoin's v1 P2P protocol: the connection manager ([`Connman`]: listening, outbound
//! `-connect`/`-addnode` connections, limits, shutdown), one reader and one writer
//! thread per peer ([`peer`]), and message processing ([`processing`]: handshake,
//! headers-first sync, block and transaction relay).

pub mod peer;
pub mod processing;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bitcoin::p2p::Magic;
use parking_lot::Mutex;

use crate::node::{Node, NodeEvent};
use crate::rpc::server::Subnet;
use crate::{log_debug, log_info};
use peer::{ConnType, Peer};
use processing::SyncState;

/// Protocol version we speak (Core's, with wtxid relay).
pub const PROTOCOL_VERSION: u32 = 70016;
/// NODE_NETWORK | NODE_WITNESS.
pub const LOCAL_SERVICES: u64 = 1 | (1 << 3);
/// Core's `DEFAULT_MAX_PEER_CONNECTIONS`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 125;
/// Slots Core keeps out of `-maxconnections` for automatic outbound peers (8 full-relay,
/// 2 block-relay-only, 1 feeler); inbound peers get the rest.
const AUTOMATIC_OUTBOUND_SLOTS: usize = 8 + 2 + 1;
/// Added nodes connected at once, extra to `-maxconnections`, as in Core
/// (`MAX_ADDNODE_CONNECTIONS`).
const MAX_MANUAL_CONNECTIONS: usize = 8;
/// How often added nodes that are not connected are tried again.
const ADDNODE_RETRY: Duration = Duration::from_secs(2);
/// Timeout of an outbound `connect()`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings of the P2P layer, from the command line.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Accept inbound connections.
    pub listen: bool,
    /// Addresses to listen on.
    pub bind: Vec<SocketAddr>,
    /// Default port for addresses given without one.
    pub default_port: u16,
    /// `-connect` targets (only these are dialled).
    pub connect: Vec<String>,
    /// `-addnode` targets.
    pub addnode: Vec<String>,
    /// `-maxconnections`.
    pub max_connections: usize,
    /// `-whitelist` entries: permissions and subnet.
    pub whitelist: Vec<(Vec<&'static str>, Subnet)>,
    /// `-blocksonly`: no transaction relay.
    pub blocks_only: bool,
    /// Our user agent, `/hashvive:<version>(<comments>)/`.
    pub user_agent: String,
    /// `-networkactive`.
    pub network_active: bool,
}

/// The user agent Core-style: `/hashvive:0.1.0(comment1; comment2)/`.
pub fn user_agent(comments: &[String]) -> String {
    let version = env!("CARGO_PKG_VERSION");
    if comments.is_empty() {
        format!("/hashvive:{version}/")
    } else {
        format!("/hashvive:{version}({})/", comments.join("; "))
    }
}

/// Core's `SAFE_CHARS_UA_COMMENT` check for `-uacomment`.
pub fn is_safe_ua_comment(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || " .,;-_/:?@()".contains(c))
}

/// Parses `host[:port]` or `[v6]:port` into socket addresses (resolving names).
pub fn resolve(s: &str, default_port: u16) -> Option<SocketAddr> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    if let Ok(ip) = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        return Some(SocketAddr::new(ip, default_port));
    }
    let with_port = match s.rsplit_once(':') {
        Some((_, p)) if p.parse::<u16>().is_ok() => s.to_string(),
        _ => format!("{s}:{default_port}"),
    };
    with_port.to_socket_addrs().ok()?.next()
}

/// P2P permission names in the order Core's `NetPermissions::ToStrings` lists them.
const PERMISSIONS: &[&str] = &[
    "bloomfilter",
    "noban",
    "forcerelay",
    "relay",
    "mempool",
    "download",
    "addr",
];

/// Sorts permission names into Core's order and drops repeats.
fn in_core_order(perms: &mut Vec<&'static str>) {
    perms.sort_unstable_by_key(|p| PERMISSIONS.iter().position(|k| k == p));
    perms.dedup();
}

/// Parses one `-whitelist` entry, `[perm,...@]subnet`; a bare subnet gets Core's implicit
/// permissions.
pub fn parse_whitelist(s: &str) -> Result<(Vec<&'static str>, Subnet), String> {
    let (perms, net) = match s.split_once('@') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    let mut out = Vec::new();
    match perms {
        None => out.extend(["relay", "noban", "mempool", "download"]),
        Some(p) => {
            for name in p.split(',').filter(|x| !x.is_empty()) {
                if name == "all" {
                    out.extend(PERMISSIONS.iter().copied());
                    continue;
                }
                let known = PERMISSIONS
                    .iter()
                    .find(|k| **k == name)
                    .ok_or_else(|| format!("Invalid P2P permission: '{name}'"))?;
                out.push(*known);
            }
        }
    }
    // Core: noban implies download, forcerelay implies relay.
    if out.contains(&"noban") {
        out.push("download");
    }
    if out.contains(&"forcerelay") {
        out.push("relay");
    }
    in_core_order(&mut out);
    let subnet = Subnet::parse(net)
        .ok_or_else(|| format!("Invalid netmask specified in -whitelist: '{net}'"))?;
    Ok((out, subnet))
}

/// An `addnode` entry.
#[derive(Debug, Clone)]
struct AddedNode {
    name: String,
}

/// The connection manager: owns the peers and the network threads.
pub struct Connman {
    /// The node whose chain and mempool the peers sync.
    pub node: Arc<Node>,
    /// Settings.
    pub config: NetConfig,
    magic: Magic,
    peers: Mutex<HashMap<u64, Arc<Peer>>>,
    next_id: AtomicU64,
    added: Mutex<Vec<AddedNode>>,
    active: AtomicBool,
    stopping: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    listen_addrs: Vec<SocketAddr>,
    /// Bytes of closed connections, so `getnettotals` keeps counting them.
    closed_sent: AtomicU64,
    closed_recv: AtomicU64,
    /// Our `version` nonces, to notice connecting to ourselves.
    pub(crate) local_nonces: Mutex<Vec<u64>>,
    pub(crate) sync: Mutex<SyncState>,
}

/// A random u64 from the kernel.
pub fn random_u64() -> u64 {
    let mut buf = [0u8; 8];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != 8 {
        // Only used for nonces; a time-based value is an acceptable fallback.
        return std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
    }
    u64::from_le_bytes(buf)
}

impl Connman {
    /// Binds the listening sockets and starts the network threads. Fails with Core's
    /// message when a port cannot be bound.
    pub fn start(node: Arc<Node>, config: NetConfig) -> Result<Arc<Connman>, String> {
        let mut listeners = Vec::new();
        if config.listen {
            for addr in &config.bind {
                let l = TcpListener::bind(addr).map_err(|e| {
                    format!("Unable to bind to {addr} on this computer. hashvive is probably already running. ({e})")
                })?;
                l.set_nonblocking(true).map_err(|e| e.to_string())?;
                log_info!("Bound to {addr}");
                listeners.push(l);
            }
        }
        let magic = Magic::from_bytes(node.params().magic);
        let added = config
            .addnode
            .iter()
            .map(|name| AddedNode { name: name.clone() })
            .collect();
        let cm = Arc::new(Connman {
            node: Arc::clone(&node),
            magic,
            peers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            added: Mutex::new(added),
            active: AtomicBool::new(config.network_active),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
            listen_addrs: listeners
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .collect(),
            closed_sent: AtomicU64::new(0),
            closed_recv: AtomicU64::new(0),
            local_nonces: Mutex::new(Vec::new()),
            sync: Mutex::new(SyncState::default()),
            config,
        });
        let (ev_tx, ev_rx) = mpsc::channel::<NodeEvent>();
        // The callback runs with the chainstate locked: it only hands the event over.
        let ev_tx = Mutex::new(ev_tx);
        node.subscribe(Box::new(move |ev: &NodeEvent| {
            let _ = ev_tx.lock().send(ev.clone());
        }));
        let mut threads = Vec::new();
        for l in listeners {
            let c = Arc::clone(&cm);
            threads.push(spawn("net-listen", move || c.accept_loop(l)));
        }
        let c = Arc::clone(&cm);
        threads.push(spawn("net-opencon", move || c.open_connections_loop()));
        let c = Arc::clone(&cm);
        threads.push(spawn("net-announce", move || c.announce_loop(ev_rx)));
        let c = Arc::clone(&cm);
        threads.push(spawn("net-maint", move || c.maintenance_loop()));
        cm.threads.lock().extend(threads);
        Ok(cm)
    }

    /// Closes every socket and joins the network threads.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        loop {
            for p in self.peers() {
                p.disconnect("shutdown");
            }
            let handles: Vec<_> = std::mem::take(&mut *self.threads.lock());
            if handles.is_empty() {
                break;
            }
            for h in handles {
                let _ = h.join();
            }
        }
        log_info!("net: all connections closed");
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst) || self.node.shutdown_requested()
    }

    /// Whether network activity is enabled (`setnetworkactive`).
    pub fn network_active(&self) -> bool {
        self.active.load(Ordering::SeqCst)
    }

    /// `setnetworkactive`: turning it off disconnects everyone.
    pub fn set_network_active(&self, on: bool) {
        if self.active.swap(on, Ordering::SeqCst) != on {
            log_info!("SetNetworkActive: {on}");
        }
        if !on {
            for p in self.peers() {
                p.disconnect("network disabled");
            }
        }
    }

    /// Snapshot of the connected peers, by id.
    pub fn peers(&self) -> Vec<Arc<Peer>> {
        let mut v: Vec<_> = self.peers.lock().values().cloned().collect();
        v.sort_by_key(|p| p.id);
        v
    }

    /// The peer with this id.
    pub fn peer(&self, id: u64) -> Option<Arc<Peer>> {
        self.peers.lock().get(&id).cloned()
    }

    /// Addresses we listen on.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        &self.listen_addrs
    }

    /// Total bytes (sent, received), closed connections included.
    pub fn totals(&self) -> (u64, u64) {
        let mut sent = self.closed_sent.load(Ordering::Relaxed);
        let mut recv = self.closed_recv.load(Ordering::Relaxed);
        for p in self.peers() {
            let s = p.stats.lock();
            sent += s.bytes_sent;
            recv += s.bytes_recv;
        }
        (sent, recv)
    }

    /// Disconnects peers matching `address` (as dialled or as `ip:port`); returns whether
    /// any matched.
    pub fn disconnect_address(&self, address: &str) -> bool {
        let target = resolve(address, self.config.default_port);
        let mut found = false;
        for p in self.peers() {
            if p.addr_name == address || Some(p.addr) == target {
                p.disconnect("disconnectnode");
                found = true;
            }
        }
        found
    }

    /// Disconnects a peer by id; returns whether it existed.
    pub fn disconnect_id(&self, id: u64) -> bool {
        match self.peer(id) {
            Some(p) => {
                p.disconnect("disconnectnode");
                true
            }
            None => false,
        }
    }

    /// `addnode add`: false if already added.
    pub fn add_node(&self, name: &str) -> bool {
        let mut added = self.added.lock();
        if added.iter().any(|a| a.name == name) {
            return false;
        }
        added.push(AddedNode {
            name: name.to_string(),
        });
        true
    }

    /// `addnode remove`: false if it was not added.
    pub fn remove_node(&self, name: &str) -> bool {
        let mut added = self.added.lock();
        let before = added.len();
        added.retain(|a| a.name != name);
        added.len() != before
    }

    /// Added nodes with the peer connected for each (if any).
    pub fn added_nodes(&self) -> Vec<(String, Option<Arc<Peer>>)> {
        let names: Vec<String> = self.added.lock().iter().map(|a| a.name.clone()).collect();
        names
            .into_iter()
            .map(|n| {
                let p = self.connected_to(&n);
                (n, p)
            })
            .collect()
    }

    fn connected_to(&self, name: &str) -> Option<Arc<Peer>> {
        let target = resolve(name, self.config.default_port);
        self.peers()
            .into_iter()
            .find(|p| p.addr_name == name || (!p.inbound() && Some(p.addr) == target))
    }

    /// Dials `name` once (`addnode onetry`, `-connect`, added nodes); errors are logged.
    /// Only added nodes are capped (by the caller), as Core's `onetry` takes no slot.
    pub fn connect_to(self: &Arc<Self>, name: &str) -> Result<(), String> {
        if !self.network_active() || self.stopping() {
            return Err("network is not active".into());
        }
        if self.connected_to(name).is_some() {
            return Ok(());
        }
        let addr = resolve(name, self.config.default_port)
            .ok_or_else(|| format!("cannot resolve {name}"))?;
        log_debug!("net", "trying connection {name}");
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
            log_debug!("net", "connection to {name} failed: {e}");
            e.to_string()
        })?;
        self.add_peer(stream, addr, name.to_string(), ConnType::Manual, Vec::new());
        Ok(())
    }

    fn permissions_for(&self, ip: IpAddr) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for (perms, net) in &self.config.whitelist {
            if net.contains(ip) {
                out.extend(perms.iter().copied());
            }
        }
        in_core_order(&mut out);
        out
    }

    fn add_peer(
        self: &Arc<Self>,
        stream: TcpStream,
        addr: SocketAddr,
        name: String,
        conn_type: ConnType,
        permissions: Vec<&'static str>,
    ) {
        let _ = stream.set_nodelay(true);
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let reader = match stream.try_clone() {
            Ok(r) => r,
            Err(e) => {
                log_info!("net: cannot use socket for {addr}: {e}");
                return;
            }
        };
        let (peer, rx) = Peer::new(id, stream, addr, name, conn_type, permissions, self.magic);
        let peer = Arc::new(peer);
        self.peers.lock().insert(id, Arc::clone(&peer));
        // `stop` sets the flag before closing every peer in the map: a peer inserted
        // after that sweep sees the flag here, so no reader is left blocked.
        if self.stopping() {
            peer.disconnect("shutdown");
        }
        log_debug!(
            "net",
            "Added connection to {addr} peer={id} ({})",
            if peer.inbound() { "inbound" } else { "manual" }
        );
        let w = Arc::clone(&peer);
        let writer = spawn(&format!("net-send-{id}"), move || peer::run_writer(&w, rx));
        if !peer.inbound() {
            processing::send_version(self, &peer);
        }
        let c = Arc::clone(self);
        let p = Arc::clone(&peer);
        let reader_thread = spawn(&format!("net-recv-{id}"), move || {
            // A bug hit by one peer's message must not leave that peer half-registered
            // or take other peers down: the peer is dropped and the node carries on.
            let run = std::panic::AssertUnwindSafe(|| c.read_loop(&p, reader));
            if std::panic::catch_unwind(run).is_err() {
                log_info!("ERROR: internal error while processing a message from peer={id}; disconnecting it");
            }
            c.remove_peer(&p);
        });
        let mut threads = self.threads.lock();
        // Finished peers' handles are joined here so the list does not grow forever.
        let (done, running): (Vec<_>, Vec<_>) = std::mem::take(&mut *threads)
            .into_iter()
            .partition(|h| h.is_finished());
        for h in done {
            let _ = h.join();
        }
        *threads = running;
        threads.push(writer);
        threads.push(reader_thread);
    }

    fn remove_peer(&self, p: &Arc<Peer>) {
        p.disconnect("connection closed");
        p.close_queue();
        self.peers.lock().remove(&p.id);
        processing::peer_gone(self, p);
        let s = p.stats.lock();
        self.closed_sent.fetch_add(s.bytes_sent, Ordering::Relaxed);
        self.closed_recv.fetch_add(s.bytes_recv, Ordering::Relaxed);
        log_debug!("net", "Removed peer={}", p.id);
    }

    fn read_loop(self: &Arc<Self>, p: &Arc<Peer>, stream: TcpStream) {
        let mut reader = peer::MessageReader::new(stream, self.magic);
        loop {
            match reader.read_message() {
                Ok(m) => {
                    {
                        let mut s = p.stats.lock();
                        s.bytes_recv += m.wire_size as u64;
                        s.last_recv = crate::time::now();
                        let key = if matches!(
                            m.msg,
                            bitcoin::p2p::message::NetworkMessage::Unknown { .. }
                        ) {
                            "*other*".to_string()
                        } else {
                            m.command.clone()
                        };
                        *s.recv_per_msg.entry(key).or_default() += m.wire_size as u64;
                    }
                    log_debug!(
                        "net",
                        "received: {} ({} bytes) peer={}",
                        m.command,
                        m.wire_size - peer::HEADER_LEN,
                        p.id
                    );
                    processing::process_message(self, p, m);
                    if p.is_disconnecting() {
                        return;
                    }
                }
                Err(peer::ReadError::Closed(_)) => return,
                Err(peer::ReadError::Protocol(msg)) => {
                    log_debug!("net", "{msg}, peer={}", p.id);
                    p.disconnect(&msg);
                    return;
                }
            }
        }
    }

    fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        while !self.stopping() {
            let mut pfd = libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the listener we own; a 200 ms timeout lets
            // the loop notice shutdown.
            unsafe { libc::poll(&mut pfd, 1, 200) };
            let (stream, addr) = match listener.accept() {
                Ok(x) => x,
                Err(_) => continue,
            };
            if stream.set_nonblocking(false).is_err() {
                continue;
            }
            if !self.network_active() {
                log_debug!(
                    "net",
                    "connection from {addr} dropped (not accepting new connections)"
                );
                continue;
            }
            let perms = self.permissions_for(addr.ip());
            let inbound = self.peers().iter().filter(|p| p.inbound()).count();
            let max_inbound = self
                .config
                .max_connections
                .saturating_sub(AUTOMATIC_OUTBOUND_SLOTS);
            if inbound >= max_inbound {
                log_debug!("net", "connection from {addr} dropped (full)");
                continue;
            }
            self.add_peer(stream, addr, addr.to_string(), ConnType::Inbound, perms);
        }
    }

    fn open_connections_loop(self: Arc<Self>) {
        let mut last_try: HashMap<String, Instant> = HashMap::new();
        while !self.stopping() {
            if self.network_active() {
                let mut targets: Vec<String> = self
                    .config
                    .connect
                    .iter()
                    .filter(|c| c.as_str() != "0")
                    .cloned()
                    .collect();
                let added = self.added_nodes();
                // Core's addnode semaphore: at most 8 added nodes connected at once.
                let mut added_slots = MAX_MANUAL_CONNECTIONS
                    .saturating_sub(added.iter().filter(|(_, p)| p.is_some()).count());
                let fixed = targets.len();
                targets.extend(
                    added
                        .into_iter()
                        .filter(|(_, p)| p.is_none())
                        .map(|(n, _)| n),
                );
                for (i, t) in targets.into_iter().enumerate() {
                    let is_added = i >= fixed;
                    if is_added && added_slots == 0 {
                        continue;
                    }
                    if self.stopping() {
                        break;
                    }
                    if last_try
                        .get(&t)
                        .is_some_and(|at| at.elapsed() < ADDNODE_RETRY)
                    {
                        continue;
                    }
                    if self.connected_to(&t).is_some() {
                        continue;
                    }
                    last_try.insert(t.clone(), Instant::now());
                    if self.connect_to(&t).is_ok() && is_added {
                        added_slots -= 1;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn announce_loop(self: Arc<Self>, rx: mpsc::Receiver<NodeEvent>) {
        while !self.stopping() {
            let first = match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(ev) => ev,
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            };
            // Coalesce: only the latest tip matters; every new transaction does.
            let mut tip_changed = false;
            let mut txs = Vec::new();
            for ev in std::iter::once(first).chain(rx.try_iter()) {
                match ev {
                    NodeEvent::TipChanged(_) => tip_changed = true,
                    NodeEvent::TxAdded { .. } => txs.push(ev),
                }
            }
            if tip_changed {
                processing::announce_tip(&self);
            }
            if !txs.is_empty() {
                processing::announce_txs(&self, &txs);
            }
        }
    }

    fn maintenance_loop(self: Arc<Self>) {
        while !self.stopping() {
            std::thread::sleep(Duration::from_millis(250));
            processing::maintenance(&self);
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .expect("spawn network thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_and_comments() {
        let v = env!("CARGO_PKG_VERSION");
        assert_eq!(user_agent(&[]), format!("/hashvive:{v}/"));
        assert_eq!(
            user_agent(&["a".into(), "b c".into()]),
            format!("/hashvive:{v}(a; b c)/")
        );
        assert!(is_safe_ua_comment("testnode0"));
        assert!(!is_safe_ua_comment("bad/<>"));
    }

    #[test]
    fn whitelist_and_resolve() {
        let (perms, net) = parse_whitelist("127.0.0.1").unwrap();
        assert_eq!(perms, vec!["noban", "relay", "mempool", "download"]);
        assert!(net.contains("127.0.0.1".parse().unwrap()));
        let (perms, _) = parse_whitelist("noban@10.0.0.0/8").unwrap();
        assert_eq!(perms, vec!["noban", "download"]);
        let (perms, _) = parse_whitelist("download,forcerelay@10.0.0.0/8").unwrap();
        assert_eq!(perms, vec!["forcerelay", "relay", "download"]);
        assert!(parse_whitelist("foo@1.2.3.4").is_err());
        assert!(parse_whitelist("nonsense").is_err());
        assert_eq!(
            resolve("127.0.0.1", 18444),
            Some("127.0.0.1:18444".parse().unwrap())
        );
        assert_eq!(
            resolve("127.0.0.1:5", 18444),
            Some("127.0.0.1:5".parse().unwrap())
        );
        assert_eq!(resolve("[::1]:7", 18444), Some("[::1]:7".parse().unwrap()));
    }
}
