//! Message processing, after Core's `net_processing.cpp`: the version handshake,
//! ping/pong, headers-first block download with several blocks in flight, serving
//! `getheaders`/`getdata`, block announcements, and transaction relay with orphans.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitcoin::block::Header;
use bitcoin::hashes::Hash;
use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_blockdata::{GetHeadersMessage, Inventory};
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;
use bitcoin::{Block, BlockHash, Transaction, Txid};

use super::peer::{Peer, PeerState, Received, VersionInfo};
use super::{random_u64, Connman, LOCAL_SERVICES, PROTOCOL_VERSION};
use crate::chainstate::{ChainError, ChainState, Entry};
use crate::node::NodeEvent;
use crate::{log_debug, log_info};

/// Core's `MAX_HEADERS_RESULTS`.
const MAX_HEADERS_RESULTS: usize = 2000;
/// Core's `MAX_INV_SZ`.
const MAX_INV_SZ: usize = 50_000;
/// Blocks requested from one peer at a time (Core's `MAX_BLOCKS_IN_TRANSIT_PER_PEER`).
const MAX_BLOCKS_IN_FLIGHT_PER_PEER: usize = 16;
/// Most headers announced in one `headers` message before falling back to `inv`.
const MAX_BLOCKS_TO_ANNOUNCE: usize = 8;
/// A requested block not received in this time is released for another request.
const BLOCK_DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// Core's `MAX_ORPHAN_TRANSACTIONS` and `ORPHAN_TX_EXPIRE_TIME`.
const MAX_ORPHAN_TXS: usize = 100;
const ORPHAN_TX_EXPIRE: Duration = Duration::from_secs(20 * 60);
/// Blocks whose parent is unknown, kept until it arrives.
const MAX_ORPHAN_BLOCKS: usize = 64;
/// Headers received whose blocks we do not have yet, at most (bounds memory under
/// header spam).
const MAX_PENDING_HEADERS: usize = 200_000;
/// Core's `PING_INTERVAL` and `TIMEOUT_INTERVAL`; the handshake timeout is `-peertimeout`'s
/// default.
const PING_INTERVAL: Duration = Duration::from_secs(120);
const PING_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);
/// How often a peer that has more blocks than us but gives us none is asked again.
const RESYNC_INTERVAL: Duration = Duration::from_secs(5);
/// Oldest protocol version we talk to (Core's `MIN_PEER_PROTO_VERSION`).
const MIN_PEER_PROTO_VERSION: u32 = 31800;
/// Versions from which peers understand `sendheaders` and `wtxidrelay`.
const SENDHEADERS_VERSION: u32 = 70012;
const WTXID_RELAY_VERSION: u32 = 70016;

/// A transaction waiting for its parents.
struct OrphanTx {
    tx: Transaction,
    from: u64,
    added: Instant,
}

/// Download and relay state shared by all peers.
#[derive(Default)]
pub struct SyncState {
    /// Requested blocks: by whom and when.
    in_flight: HashMap<BlockHash, (u64, Instant)>,
    /// Heights of announced headers whose blocks we do not have yet.
    pending_headers: HashMap<BlockHash, u32>,
    /// Blocks waiting for their parent, by parent hash.
    orphan_blocks: HashMap<BlockHash, Vec<Block>>,
    orphan_txs: HashMap<Txid, OrphanTx>,
    /// Wtxids refused recently, not requested again until the tip changes.
    recent_rejects: HashSet<[u8; 32]>,
    /// Per peer: when we last sent an unprompted `getheaders`.
    last_resync: HashMap<u64, Instant>,
    /// Wtxid to txid of transactions that entered the mempool, so wtxid lookups do not
    /// scan the pool (the mempool is keyed by txid).
    wtxids: HashMap<[u8; 32], Txid>,
}

/// Entries of [`SyncState::wtxids`] kept before it is cleared.
const MAX_WTXID_MAP: usize = 200_000;

impl SyncState {
    fn orphan_block_count(&self) -> usize {
        self.orphan_blocks.values().map(Vec::len).sum()
    }

    /// Blocks currently requested from `peer`.
    pub fn in_flight_for(&self, peer: u64) -> Vec<BlockHash> {
        self.in_flight
            .iter()
            .filter(|(_, (id, _))| *id == peer)
            .map(|(h, _)| *h)
            .collect()
    }
}

fn misbehaving(p: &Peer, reason: &str) {
    log_debug!("net", "Misbehaving: peer={}: {reason}", p.id);
    if p.noban() {
        log_debug!("net", "Warning: not punishing noban peer {}!", p.id);
    } else {
        p.disconnect(reason);
    }
}

/// Sends our `version`.
pub fn send_version(cm: &Connman, p: &Peer) {
    let nonce = random_u64();
    {
        let mut n = cm.local_nonces.lock();
        if n.len() >= 1000 {
            n.remove(0);
        }
        n.push(nonce);
    }
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let msg = VersionMessage {
        version: PROTOCOL_VERSION,
        services: ServiceFlags::from(LOCAL_SERVICES),
        timestamp: crate::time::now(),
        receiver: Address::new(&p.addr, ServiceFlags::NONE),
        sender: Address::new(&unspecified, ServiceFlags::from(LOCAL_SERVICES)),
        nonce,
        user_agent: cm.config.user_agent.clone(),
        start_height: cm.node.tip().height as i32,
        relay: !cm.config.blocks_only,
    };
    p.send(NetworkMessage::Version(msg));
}

/// Sends a `ping` with a fresh nonce (a queued one replaces any outstanding, as in Core).
pub fn send_ping(p: &Peer) {
    let nonce = random_u64().max(1);
    {
        let mut st = p.state.lock();
        if !st.handshake_done {
            return;
        }
        st.ping_sent = Some((nonce, Instant::now()));
        st.last_ping = Some(Instant::now());
    }
    p.send(NetworkMessage::Ping(nonce));
}

/// Core's block locator: the last ten blocks, then exponentially sparser, then genesis.
fn locator(chain: &ChainState) -> Vec<BlockHash> {
    let mut out = Vec::new();
    let mut h = i64::from(chain.height());
    let mut step = 1;
    while h > 0 {
        out.extend(chain.hash_at(h as u32));
        if out.len() >= 10 {
            step *= 2;
        }
        h -= step;
    }
    out.extend(chain.hash_at(0));
    out
}

fn send_getheaders(cm: &Connman, p: &Peer) {
    let loc = locator(&cm.node.chain());
    p.send(NetworkMessage::GetHeaders(GetHeadersMessage::new(
        loc,
        BlockHash::all_zeros(),
    )));
}

/// Handles one message from `p`.
pub fn process_message(cm: &Arc<Connman>, p: &Arc<Peer>, m: Received) {
    let (has_version, handshake_done) = {
        let st = p.state.lock();
        (st.version.is_some(), st.handshake_done)
    };
    match m.msg {
        NetworkMessage::Version(v) => on_version(cm, p, v),
        _ if !has_version => log_debug!(
            "net",
            "non-version message before version handshake. Message \"{}\" from peer={}",
            m.command,
            p.id
        ),
        NetworkMessage::Verack => on_verack(cm, p),
        // Only valid before verack; later it is ignored.
        NetworkMessage::WtxidRelay if !handshake_done => p.state.lock().wtxid_relay = true,
        NetworkMessage::WtxidRelay => {}
        NetworkMessage::SendAddrV2 => {}
        _ if !handshake_done => log_debug!(
            "net",
            "unsupported message \"{}\" prior to verack from peer={}",
            m.command,
            p.id
        ),
        NetworkMessage::Ping(n) => p.send(NetworkMessage::Pong(n)),
        NetworkMessage::Pong(n) => on_pong(p, n),
        NetworkMessage::SendHeaders => p.state.lock().send_headers = true,
        NetworkMessage::FeeFilter(f) => p.state.lock().fee_filter = f,
        NetworkMessage::GetHeaders(gh) => on_getheaders(cm, p, gh),
        NetworkMessage::Headers(hs) => on_headers(cm, p, hs),
        NetworkMessage::Inv(inv) => on_inv(cm, p, inv),
        NetworkMessage::GetData(inv) => on_getdata(cm, p, inv),
        NetworkMessage::Block(b) => on_block(cm, p, b),
        NetworkMessage::Tx(tx) => on_tx(cm, p, tx),
        NetworkMessage::NotFound(inv) => {
            let mut sync = cm.sync.lock();
            for i in inv {
                if let Inventory::Block(h) | Inventory::WitnessBlock(h) = i {
                    if sync.in_flight.get(&h).is_some_and(|(id, _)| *id == p.id) {
                        sync.in_flight.remove(&h);
                    }
                }
            }
        }
        // Everything else (addr, bloom filters, compact blocks, unknown commands) is
        // ignored, as Core ignores messages it does not know.
        _ => {}
    }
}

fn on_version(cm: &Connman, p: &Peer, v: VersionMessage) {
    if p.state.lock().version.is_some() {
        misbehaving(p, "redundant version message");
        return;
    }
    if v.version < MIN_PEER_PROTO_VERSION {
        p.disconnect(&format!("using obsolete version {}", v.version));
        return;
    }
    if p.inbound() && cm.local_nonces.lock().contains(&v.nonce) {
        p.disconnect(&format!("connected to self at {}", p.addr));
        return;
    }
    log_debug!(
        "net",
        "receive version message: {}: version {}, blocks={}, peer={}",
        v.user_agent,
        v.version,
        v.start_height,
        p.id
    );
    p.state.lock().version = Some(VersionInfo {
        version: v.version,
        services: v.services.to_u64(),
        user_agent: v.user_agent,
        start_height: v.start_height,
        relay: v.relay,
    });
    if p.inbound() {
        send_version(cm, p);
    }
    if v.version >= WTXID_RELAY_VERSION {
        p.send(NetworkMessage::WtxidRelay);
    }
    p.send(NetworkMessage::SendAddrV2);
    p.send(NetworkMessage::Verack);
}

fn on_verack(cm: &Connman, p: &Peer) {
    let version = {
        let mut st = p.state.lock();
        if st.handshake_done {
            return;
        }
        st.handshake_done = true;
        st.version.as_ref().map(|v| v.version).unwrap_or(0)
    };
    log_debug!(
        "net",
        "New {} v1 peer connected: version: {version}, peer={}",
        if p.inbound() { "inbound" } else { "manual" },
        p.id
    );
    if version >= SENDHEADERS_VERSION {
        p.send(NetworkMessage::SendHeaders);
    }
    if !cm.config.blocks_only {
        let min_fee = {
            let mut pool = cm.node.mempool();
            pool.min_fee_rate().max(pool.min_relay_fee)
        };
        p.send(NetworkMessage::FeeFilter(min_fee as i64));
    }
    send_ping(p);
    send_getheaders(cm, p);
}

fn on_pong(p: &Peer, nonce: u64) {
    let mut st = p.state.lock();
    match st.ping_sent {
        Some((sent, start)) if sent == nonce => {
            let rtt = start.elapsed();
            st.ping_time = Some(rtt);
            st.min_ping = Some(st.min_ping.map_or(rtt, |m| m.min(rtt)));
            st.ping_sent = None;
        }
        Some(_) if nonce == 0 => {
            log_debug!("net", "pong peer={}: Nonce zero", p.id);
            st.ping_sent = None;
        }
        Some(_) => log_debug!("net", "pong peer={}: Nonce mismatch", p.id),
        None => log_debug!("net", "pong peer={}: Unsolicited pong without ping", p.id),
    }
}

/// Where the active chain and the block `hash` meet, if we know the block.
fn fork_point(chain: &ChainState, hash: &BlockHash) -> Option<Entry> {
    let mut e = chain.entry(hash)?.clone();
    while !chain.is_active(&e) {
        e = chain.entry(&e.header.prev_blockhash)?.clone();
    }
    Some(e)
}

fn on_getheaders(cm: &Connman, p: &Peer, gh: GetHeadersMessage) {
    if gh.locator_hashes.len() > 101 {
        misbehaving(p, "getheaders locator too large");
        return;
    }
    let (headers, fork) = {
        let chain = cm.node.chain();
        let fork = gh.locator_hashes.iter().find_map(|h| fork_point(&chain, h));
        let start = fork.as_ref().map_or(1, |e| e.height + 1);
        let mut headers = Vec::new();
        let mut h = start;
        while headers.len() < MAX_HEADERS_RESULTS {
            let Some(hash) = chain.hash_at(h) else { break };
            let e = chain.entry(&hash).expect("active entries are indexed");
            headers.push(e.header);
            if hash == gh.stop_hash {
                break;
            }
            h += 1;
        }
        (headers, fork.map(|e| (e.hash, e.height)))
    };
    {
        let mut st = p.state.lock();
        if let Some((hash, height)) = fork {
            if st.best_known.is_none_or(|(_, h)| h < height) {
                st.best_known = Some((hash, height));
            }
        }
        if let Some(last) = headers.last() {
            st.best_sent = Some(last.block_hash());
        }
    }
    p.send(NetworkMessage::Headers(headers));
}

fn on_headers(cm: &Arc<Connman>, p: &Arc<Peer>, hs: Vec<Header>) {
    if hs.len() > MAX_HEADERS_RESULTS {
        misbehaving(p, &format!("headers message size = {}", hs.len()));
        return;
    }
    let Some(first) = hs.first() else { return };
    let hashes: Vec<BlockHash> = hs.iter().map(Header::block_hash).collect();
    for (i, h) in hs.iter().enumerate() {
        if i > 0 && h.prev_blockhash != hashes[i - 1] {
            misbehaving(p, "non-continuous headers sequence");
            return;
        }
        if h.validate_pow(h.target()).is_err() {
            misbehaving(p, "header with invalid proof of work");
            return;
        }
    }
    let (prev_height, have): (Option<u32>, Vec<bool>) = {
        let chain = cm.node.chain();
        let prev = chain.entry(&first.prev_blockhash).map(|e| e.height);
        let have = hashes
            .iter()
            .map(|h| {
                chain
                    .entry(h)
                    .is_some_and(|e| e.has_data() || e.is_failed())
            })
            .collect();
        (prev, have)
    };
    let mut sync = cm.sync.lock();
    let Some(base) =
        prev_height.or_else(|| sync.pending_headers.get(&first.prev_blockhash).copied())
    else {
        drop(sync);
        log_debug!(
            "net",
            "received headers that do not connect, peer={}: asking for more",
            p.id
        );
        send_getheaders(cm, p);
        return;
    };
    let last = (*hashes.last().expect("not empty"), base + hs.len() as u32);
    let mut st = p.state.lock();
    for (i, hash) in hashes.iter().enumerate() {
        // It sent the header, so it has the block: never announce it back.
        st.add_known(hash.to_byte_array());
        if have[i] {
            continue;
        }
        // Full only if peers announced headers whose blocks never came: forgetting them
        // costs at most a `getheaders` round trip, while refusing new ones would stall.
        if sync.pending_headers.len() >= MAX_PENDING_HEADERS {
            sync.pending_headers.clear();
        }
        sync.pending_headers.insert(*hash, base + 1 + i as u32);
        if st.to_fetch.len() >= MAX_PENDING_HEADERS {
            st.to_fetch.clear();
        }
        st.to_fetch.push_back(*hash);
    }
    if st.best_known.is_none_or(|(_, h)| h < last.1) {
        st.best_known = Some(last);
    }
    drop(st);
    drop(sync);
    if hs.len() == MAX_HEADERS_RESULTS {
        p.send(NetworkMessage::GetHeaders(GetHeadersMessage::new(
            vec![last.0],
            BlockHash::all_zeros(),
        )));
    }
    request_blocks(cm, p);
}

/// Requests queued blocks from `p` up to the in-flight limit.
fn request_blocks(cm: &Connman, p: &Peer) {
    let mut want = Vec::new();
    {
        let chain = cm.node.chain();
        let mut sync = cm.sync.lock();
        let mut st = p.state.lock();
        let mut n = sync
            .in_flight
            .values()
            .filter(|(id, _)| *id == p.id)
            .count();
        while n < MAX_BLOCKS_IN_FLIGHT_PER_PEER {
            let Some(h) = st.to_fetch.pop_front() else {
                break;
            };
            if chain.entry(&h).is_some_and(Entry::has_data)
                || sync.in_flight.contains_key(&h)
                || sync
                    .orphan_blocks
                    .values()
                    .flatten()
                    .any(|b| b.block_hash() == h)
            {
                continue;
            }
            sync.in_flight.insert(h, (p.id, Instant::now()));
            want.push(Inventory::WitnessBlock(h));
            n += 1;
        }
    }
    if !want.is_empty() {
        p.send(NetworkMessage::GetData(want));
    }
}

fn on_block(cm: &Arc<Connman>, p: &Arc<Peer>, block: Block) {
    let hash = block.block_hash();
    p.state.lock().add_known(hash.to_byte_array());
    let solicited = cm.sync.lock().in_flight.remove(&hash).is_some();
    process_block(cm, p, block, solicited);
    request_blocks(cm, p);
}

/// Validates a block (and any stored children waiting for it). Blocks whose parent is
/// unknown wait for it; an unsolicited one also makes us ask the peer for headers.
fn process_block(cm: &Connman, p: &Peer, block: Block, solicited: bool) {
    let mut queue = vec![block];
    while let Some(block) = queue.pop() {
        let hash = block.block_hash();
        let prev = block.header.prev_blockhash;
        if cm.node.chain().entry(&prev).is_none() {
            let mut sync = cm.sync.lock();
            if sync.orphan_block_count() >= MAX_ORPHAN_BLOCKS {
                sync.orphan_blocks.clear();
            }
            sync.orphan_blocks.entry(prev).or_default().push(block);
            drop(sync);
            if !solicited {
                send_getheaders(cm, p);
            }
            continue;
        }
        match cm.node.submit_block(&block) {
            Ok(()) => {
                let height = cm.node.chain().entry(&hash).map(|e| e.height);
                let mut st = p.state.lock();
                st.last_block = crate::time::now();
                if let Some(h) = height {
                    if st.best_known.is_none_or(|(_, b)| b <= h) {
                        st.best_known = Some((hash, h));
                    }
                }
            }
            Err(ChainError::Invalid(e)) if e.reason == "duplicate" => {}
            Err(ChainError::Invalid(e)) => {
                log_debug!("net", "block {hash} from peer={} rejected: {e}", p.id);
                cm.sync.lock().pending_headers.remove(&hash);
                misbehaving(p, &format!("invalid block {hash}: {}", e.reason));
                continue;
            }
            Err(e) => {
                log_info!("ERROR: block {hash} from peer={}: {e}", p.id);
                continue;
            }
        }
        let mut sync = cm.sync.lock();
        sync.pending_headers.remove(&hash);
        if let Some(children) = sync.orphan_blocks.remove(&hash) {
            queue.extend(children);
        }
    }
}

/// Whether the peer is known to have block `e` (it gave it to us, announced a
/// descendant, or we announced one to it).
fn peer_has(chain: &ChainState, st: &PeerState, e: &Entry) -> bool {
    if st.known_inv.contains(&e.hash.to_byte_array()) {
        return true;
    }
    let known = [st.best_known.map(|(h, _)| h), st.best_sent];
    known.iter().flatten().any(|k| {
        chain
            .entry(k)
            .filter(|k| k.height >= e.height)
            .and_then(|k| chain.ancestor(k, e.height))
            .is_some_and(|a| a.hash == e.hash)
    })
}

/// Announces the new tip to every peer that lacks it: `headers` (up to eight, when they
/// connect to what the peer has and it asked with `sendheaders`), otherwise `inv`.
pub fn announce_tip(cm: &Connman) {
    let chain = cm.node.chain();
    let tip = chain.tip().clone();
    for p in cm.peers() {
        let mut st = p.state.lock();
        if !st.handshake_done {
            continue;
        }
        let mut list = Vec::new();
        let mut connects = false;
        let mut cur = tip.clone();
        loop {
            if peer_has(&chain, &st, &cur) {
                connects = true;
                break;
            }
            if list.len() == MAX_BLOCKS_TO_ANNOUNCE {
                break;
            }
            list.push(cur.header);
            match chain.entry(&cur.header.prev_blockhash) {
                Some(e) => cur = e.clone(),
                None => break,
            }
        }
        if list.is_empty() {
            continue;
        }
        st.best_sent = Some(tip.hash);
        let headers = st.send_headers && connects;
        drop(st);
        if headers {
            list.reverse();
            p.send(NetworkMessage::Headers(list));
        } else {
            p.send(NetworkMessage::Inv(vec![Inventory::Block(tip.hash)]));
        }
    }
    drop(chain);
    // A new tip may make refused transactions valid (Core clears its reject filter), and
    // may hold the coins an orphan was missing (a peer ahead of us relayed it early).
    cm.sync.lock().recent_rejects.clear();
    retry_orphans(cm);
}

/// Offers every orphan to the mempool again, keeping those still missing inputs.
fn retry_orphans(cm: &Connman) {
    let orphans: Vec<(Txid, Transaction)> = cm
        .sync
        .lock()
        .orphan_txs
        .iter()
        .map(|(t, o)| (*t, o.tx.clone()))
        .collect();
    for (txid, tx) in orphans {
        match cm.node.accept_to_mempool(&tx, false, None) {
            Err(r) if r.missing_inputs => continue,
            Ok(_) => {
                cm.sync.lock().orphan_txs.remove(&txid);
                log_debug!("mempool", "accepted orphan tx {txid} after a new tip");
                process_orphans(cm, txid);
            }
            Err(_) => {
                cm.sync.lock().orphan_txs.remove(&txid);
            }
        }
    }
}

/// Announces new mempool transactions to peers that relay and whose fee filter they pass.
pub fn announce_txs(cm: &Connman, events: &[NodeEvent]) {
    {
        let mut sync = cm.sync.lock();
        if sync.wtxids.len() >= MAX_WTXID_MAP {
            sync.wtxids.clear();
        }
        for ev in events {
            if let NodeEvent::TxAdded { txid, wtxid, .. } = ev {
                sync.wtxids.insert(wtxid.to_byte_array(), *txid);
            }
        }
    }
    if cm.config.blocks_only {
        return;
    }
    for p in cm.peers() {
        let mut st = p.state.lock();
        if !st.handshake_done || !st.version.as_ref().is_some_and(|v| v.relay) {
            continue;
        }
        let mut inv = Vec::new();
        for ev in events {
            let NodeEvent::TxAdded {
                txid,
                wtxid,
                fee_rate,
            } = ev
            else {
                continue;
            };
            if (*fee_rate as i64) < st.fee_filter
                || st.known_inv.contains(&wtxid.to_byte_array())
                || st.known_inv.contains(&txid.to_byte_array())
            {
                continue;
            }
            st.add_known(wtxid.to_byte_array());
            inv.push(if st.wtxid_relay {
                Inventory::WTx(*wtxid)
            } else {
                Inventory::Transaction(*txid)
            });
        }
        drop(st);
        for chunk in inv.chunks(MAX_INV_SZ) {
            p.send(NetworkMessage::Inv(chunk.to_vec()));
        }
    }
}

fn have_tx(cm: &Connman, hash: [u8; 32], by_wtxid: bool) -> bool {
    {
        let sync = cm.sync.lock();
        if sync.recent_rejects.contains(&hash) {
            return true;
        }
        if !by_wtxid && sync.orphan_txs.contains_key(&Txid::from_byte_array(hash)) {
            return true;
        }
    }
    if by_wtxid {
        mempool_tx_by_wtxid(cm, hash).is_some()
    } else {
        cm.node
            .mempool()
            .get(&Txid::from_byte_array(hash))
            .is_some()
    }
}

/// The mempool transaction with this wtxid. Transactions that entered the pool without
/// an event (reloaded from `mempool.dat`, returned by a reorg) are found by a scan.
fn mempool_tx_by_wtxid(cm: &Connman, wtxid: [u8; 32]) -> Option<Transaction> {
    let txid = cm.sync.lock().wtxids.get(&wtxid).copied();
    let pool = cm.node.mempool();
    if let Some(e) = txid.and_then(|t| pool.get(&t)) {
        if e.wtxid.to_byte_array() == wtxid {
            return Some(e.tx.clone());
        }
    }
    let found = pool
        .entries()
        .find(|e| e.wtxid.to_byte_array() == wtxid)
        .map(|e| e.tx.clone());
    found
}

fn tx_relay_refused(cm: &Connman, p: &Peer, what: &str) -> bool {
    if cm.config.blocks_only && !p.permissions.contains(&"relay") {
        p.disconnect(&format!("{what} sent in violation of protocol"));
        return true;
    }
    false
}

fn on_inv(cm: &Connman, p: &Peer, inv: Vec<Inventory>) {
    if inv.len() > MAX_INV_SZ {
        misbehaving(p, &format!("inv message size = {}", inv.len()));
        return;
    }
    let mut want = Vec::new();
    let mut unknown_block = false;
    for i in inv {
        match i {
            Inventory::Block(h) | Inventory::WitnessBlock(h) | Inventory::CompactBlock(h) => {
                p.state.lock().add_known(h.to_byte_array());
                if cm.node.chain().entry(&h).is_none()
                    && !cm.sync.lock().pending_headers.contains_key(&h)
                {
                    unknown_block = true;
                }
            }
            Inventory::Transaction(txid) | Inventory::WitnessTransaction(txid) => {
                if tx_relay_refused(cm, p, &format!("transaction ({txid}) inv")) {
                    return;
                }
                p.state.lock().add_known(txid.to_byte_array());
                if !have_tx(cm, txid.to_byte_array(), false) {
                    want.push(Inventory::WitnessTransaction(txid));
                }
            }
            Inventory::WTx(wtxid) => {
                if tx_relay_refused(cm, p, &format!("transaction ({wtxid}) inv")) {
                    return;
                }
                p.state.lock().add_known(wtxid.to_byte_array());
                if !have_tx(cm, wtxid.to_byte_array(), true) {
                    want.push(Inventory::WTx(wtxid));
                }
            }
            _ => {}
        }
    }
    if unknown_block {
        send_getheaders(cm, p);
    }
    if !want.is_empty() {
        p.send(NetworkMessage::GetData(want));
    }
}

fn on_getdata(cm: &Connman, p: &Peer, inv: Vec<Inventory>) {
    if inv.len() > MAX_INV_SZ {
        misbehaving(p, &format!("getdata message size = {}", inv.len()));
        return;
    }
    let mut not_found = Vec::new();
    for i in inv {
        if p.is_disconnecting() {
            return;
        }
        match i {
            Inventory::Block(h) | Inventory::WitnessBlock(h) => {
                let block = {
                    let chain = cm.node.chain();
                    chain
                        .entry(&h)
                        .filter(|e| e.has_data())
                        .and_then(|e| chain.read_block(e).ok())
                };
                match block {
                    Some(mut b) => {
                        // MSG_BLOCK asks for the serialization without witnesses.
                        if matches!(i, Inventory::Block(_)) {
                            b.txdata.iter_mut().for_each(strip_witness);
                        }
                        p.send(NetworkMessage::Block(b))
                    }
                    // Core answers only transactions with `notfound`.
                    None => log_debug!(
                        "net",
                        "ignoring getdata from peer={} for unknown block {h}",
                        p.id
                    ),
                }
            }
            Inventory::Transaction(t) | Inventory::WitnessTransaction(t) => {
                let tx = cm.node.mempool().get(&t).map(|e| e.tx.clone());
                match tx {
                    Some(mut tx) => {
                        if matches!(i, Inventory::Transaction(_)) {
                            strip_witness(&mut tx);
                        }
                        p.send(NetworkMessage::Tx(tx))
                    }
                    None => not_found.push(i),
                }
            }
            Inventory::WTx(w) => match mempool_tx_by_wtxid(cm, w.to_byte_array()) {
                Some(tx) => p.send(NetworkMessage::Tx(tx)),
                None => not_found.push(i),
            },
            _ => {}
        }
    }
    if !not_found.is_empty() {
        p.send(NetworkMessage::NotFound(not_found));
    }
}

fn strip_witness(tx: &mut Transaction) {
    for input in &mut tx.input {
        input.witness.clear();
    }
}

fn on_tx(cm: &Connman, p: &Peer, tx: Transaction) {
    if tx_relay_refused(cm, p, "transaction") {
        return;
    }
    let txid = tx.compute_txid();
    let wtxid = tx.compute_wtxid();
    {
        let mut st = p.state.lock();
        st.add_known(txid.to_byte_array());
        st.add_known(wtxid.to_byte_array());
    }
    match cm.node.accept_to_mempool(&tx, false, None) {
        Ok(_) => {
            log_debug!(
                "mempool",
                "AcceptToMemoryPool: peer={}: accepted {txid}",
                p.id
            );
            p.state.lock().last_tx = crate::time::now();
            process_orphans(cm, txid);
        }
        Err(r) if r.missing_inputs => add_orphan(cm, p, tx, txid),
        Err(r) => {
            log_debug!(
                "mempool",
                "{txid} from peer={} was not accepted: {}",
                p.id,
                r.message()
            );
            cm.sync.lock().recent_rejects.insert(wtxid.to_byte_array());
        }
    }
}

fn add_orphan(cm: &Connman, p: &Peer, tx: Transaction, txid: Txid) {
    // Core's limit: larger orphans are not worth holding.
    if tx.weight().to_wu() > 400_000 {
        return;
    }
    let parents: Vec<Txid> = tx.input.iter().map(|i| i.previous_output.txid).collect();
    {
        let mut sync = cm.sync.lock();
        if sync.orphan_txs.len() >= MAX_ORPHAN_TXS {
            let oldest = sync
                .orphan_txs
                .iter()
                .min_by_key(|(_, o)| o.added)
                .map(|(t, _)| *t);
            if let Some(t) = oldest {
                sync.orphan_txs.remove(&t);
            }
        }
        sync.orphan_txs.insert(
            txid,
            OrphanTx {
                tx,
                from: p.id,
                added: Instant::now(),
            },
        );
    }
    log_debug!("mempool", "stored orphan tx {txid} from peer={}", p.id);
    let want: Vec<Inventory> = parents
        .into_iter()
        .filter(|t| !have_tx(cm, t.to_byte_array(), false))
        .map(Inventory::WitnessTransaction)
        .collect();
    if !want.is_empty() {
        p.send(NetworkMessage::GetData(want));
    }
}

/// Retries orphans that spend `parent` (and, in turn, their own children).
fn process_orphans(cm: &Connman, parent: Txid) {
    let mut work = vec![parent];
    while let Some(parent) = work.pop() {
        let children: Vec<(Txid, Transaction, u64)> = cm
            .sync
            .lock()
            .orphan_txs
            .iter()
            .filter(|(_, o)| o.tx.input.iter().any(|i| i.previous_output.txid == parent))
            .map(|(t, o)| (*t, o.tx.clone(), o.from))
            .collect();
        for (txid, tx, from) in children {
            let result = cm.node.accept_to_mempool(&tx, false, None);
            if result.as_ref().is_err_and(|r| r.missing_inputs) {
                continue;
            }
            cm.sync.lock().orphan_txs.remove(&txid);
            match result {
                Ok(_) => {
                    log_debug!("mempool", "accepted orphan tx {txid} from peer={from}");
                    work.push(txid);
                }
                Err(r) => log_debug!("mempool", "orphan tx {txid} refused: {}", r.message()),
            }
        }
    }
}

/// Forgets a closed peer's requests so other peers can serve them.
pub fn peer_gone(cm: &Connman, p: &Peer) {
    let mut sync = cm.sync.lock();
    sync.in_flight.retain(|_, (id, _)| *id != p.id);
    sync.last_resync.remove(&p.id);
}

/// Timeouts and periodic work: handshake and ping timeouts, periodic pings, stalled
/// downloads, catching up with peers ahead of us, orphan expiry.
pub fn maintenance(cm: &Connman) {
    let tip_height = cm.node.tip().height;
    let mut resync = Vec::new();
    {
        let mut sync = cm.sync.lock();
        sync.in_flight
            .retain(|_, (_, at)| at.elapsed() < BLOCK_DOWNLOAD_TIMEOUT);
        sync.orphan_txs
            .retain(|_, o| o.added.elapsed() < ORPHAN_TX_EXPIRE);
        for p in cm.peers() {
            let busy = sync.in_flight.values().any(|(id, _)| *id == p.id);
            let st = p.state.lock();
            if !st.handshake_done {
                if p.connected_at.elapsed() > HANDSHAKE_TIMEOUT {
                    drop(st);
                    p.disconnect("version handshake timeout");
                }
                continue;
            }
            if st
                .ping_sent
                .is_some_and(|(_, at)| at.elapsed() > PING_TIMEOUT)
            {
                drop(st);
                p.disconnect("ping timeout");
                continue;
            }
            let ping_due = st.ping_sent.is_none()
                && st.last_ping.is_none_or(|at| at.elapsed() >= PING_INTERVAL);
            let behind = st.best_known.is_some_and(|(_, h)| h > tip_height)
                && st.to_fetch.is_empty()
                && !busy;
            drop(st);
            if ping_due {
                send_ping(&p);
            }
            if behind
                && sync
                    .last_resync
                    .get(&p.id)
                    .is_none_or(|at| at.elapsed() >= RESYNC_INTERVAL)
            {
                sync.last_resync.insert(p.id, Instant::now());
                resync.push(p);
            }
        }
    }
    for p in resync {
        send_getheaders(cm, &p);
    }
}

/// `synced_headers` and `synced_blocks` of `getpeerinfo`: the height of the best block
/// the peer is known to have, and of the last block we both have (-1 when unknown).
pub fn synced_heights(cm: &Connman, p: &Peer) -> (i64, i64) {
    let best = p.state.lock().best_known;
    let Some((hash, height)) = best else {
        return (-1, -1);
    };
    let chain = cm.node.chain();
    let common = fork_point(&chain, &hash).map_or(-1, |e| i64::from(e.height));
    (i64::from(height), common)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locator_shape() {
        let dir = std::env::temp_dir().join(format!("hashvive-locator-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let params = crate::chainparams::ChainParams::regtest();
        let node = crate::node::Node::open(params, &dir, 1000).unwrap();
        let script = bitcoin::ScriptBuf::from_bytes(vec![0x51]);
        node.generate(&script, 30, u64::MAX).unwrap();
        let chain = node.chain();
        let loc = locator(&chain);
        let heights: Vec<u32> = loc.iter().map(|h| chain.entry(h).unwrap().height).collect();
        assert_eq!(
            heights,
            vec![30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 19, 15, 7, 0]
        );
        drop(chain);
        drop(node);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
