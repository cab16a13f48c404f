//! The HTTP/1.1 transport of the RPC server.
//!
//! A small hand-written server on std threads rather than tokio + hyper: the RPC load of
//! a regtest node is a few keep-alive connections, the commands themselves block on the
//! chainstate lock (so async buys nothing), and it keeps the dependency tree and build
//! time small. Each connection has a thread that parses requests. Core's limits are kept
//! with a counting gate instead of a separate worker pool: at most `-rpcthreads` calls
//! execute at once, at most `-rpcworkqueue` wait for a slot, and a request finding the
//! queue full gets 503. Running the call on the connection's own thread avoids two
//! thread hand-offs per request, which roughly doubles keep-alive throughput.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::auth::Authenticator;
use super::dispatch::{handle_http_body, HttpReply, RpcContext};
use crate::{log_debug, log_info};

/// Largest request body accepted (Core's `MAX_SIZE`).
const MAX_BODY: usize = 0x0200_0000;
/// Largest request head (request line plus headers).
const MAX_HEAD: usize = 8192;

/// An `-rpcallowip` entry: a network and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: IpAddr,
    prefix: u8,
}

impl Subnet {
    /// Parses `1.2.3.4`, `1.2.3.4/24`, `1.2.3.4/255.255.255.0` or the IPv6 forms.
    pub fn parse(s: &str) -> Option<Subnet> {
        let (addr, mask) = match s.split_once('/') {
            Some((a, m)) => (a, Some(m)),
            None => (s, None),
        };
        let network: IpAddr = addr.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match mask {
            None => max,
            Some(m) => match m.parse::<u8>() {
                Ok(p) if p <= max => p,
                Ok(_) => return None,
                Err(_) => {
                    // A netmask: contiguous ones, of the same family as the network.
                    let (bits, ones) = match (network, m.parse::<IpAddr>().ok()?) {
                        (IpAddr::V4(_), IpAddr::V4(m)) => {
                            (u128::from(u32::from(m)) << 96, u32::from(m).leading_ones())
                        }
                        (IpAddr::V6(_), IpAddr::V6(m)) => {
                            (u128::from(m), u128::from(m).leading_ones())
                        }
                        _ => return None,
                    };
                    if bits.count_ones() != ones {
                        return None;
                    }
                    ones as u8
                }
            },
        };
        Some(Subnet { network, prefix })
    }

    /// Whether `ip` is inside this subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let total = if ip.is_ipv4() { 32 } else { 128 };
        let shift = total - u32::from(self.prefix);
        let (a, b) = (ip_bits(ip), ip_bits(self.network));
        if shift >= 128 {
            return true;
        }
        (a >> shift) == (b >> shift)
    }
}

/// An address as a 128-bit number, IPv4 mapped as `::ffff:a.b.c.d`.
fn ip_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)) | (0xffff_ffff_ffff_ffff_ffff_ffffu128 << 32),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// Server settings from `-rpcbind`, `-rpcallowip`, `-rpcthreads`, `-rpcworkqueue` and
/// `-rpcservertimeout`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Addresses to listen on.
    pub bind: Vec<SocketAddr>,
    /// Extra client networks allowed; loopback is always allowed.
    pub allow: Vec<Subnet>,
    /// Worker threads.
    pub threads: usize,
    /// Queued requests allowed before 503.
    pub work_queue: usize,
    /// Idle timeout of a keep-alive connection.
    pub timeout: Duration,
    /// Open connections allowed at once; each has a thread, so a flood of idle
    /// connections must not exhaust threads. Further ones get 503 and are closed.
    pub max_connections: usize,
}

/// Default cap on open RPC connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;

/// Counts executing and waiting calls (Core's `-rpcthreads` and `-rpcworkqueue`).
struct Gate {
    threads: usize,
    work_queue: usize,
    state: Mutex<(usize, usize)>,
    freed: Condvar,
}

impl Gate {
    /// Takes an execution slot, waiting in the queue if needed; `false` when the queue is
    /// full.
    fn enter(&self) -> bool {
        let mut st = self.state.lock();
        if st.0 < self.threads {
            st.0 += 1;
            return true;
        }
        if st.1 >= self.work_queue {
            return false;
        }
        st.1 += 1;
        while st.0 >= self.threads {
            self.freed.wait(&mut st);
        }
        st.1 -= 1;
        st.0 += 1;
        true
    }

    fn leave(&self) {
        self.state.lock().0 -= 1;
        self.freed.notify_one();
    }
}

struct Shared {
    ctx: Arc<RpcContext>,
    auth: Authenticator,
    gate: Gate,
    allow: Vec<Subnet>,
    stopping: AtomicBool,
    in_flight: AtomicUsize,
    timeout: Duration,
    connections: AtomicUsize,
    max_connections: usize,
}

/// A running RPC server; [`RpcServer::stop`] waits for calls in progress.
pub struct RpcServer {
    shared: Arc<Shared>,
    local_addrs: Vec<SocketAddr>,
}

impl RpcServer {
    /// Binds the listeners and starts the workers; an error names the address that failed.
    pub fn start(
        config: ServerConfig,
        ctx: Arc<RpcContext>,
        auth: Authenticator,
    ) -> Result<RpcServer, String> {
        let mut listeners = Vec::new();
        for addr in &config.bind {
            let l = TcpListener::bind(addr)
                .map_err(|e| format!("Unable to bind to {addr} for the RPC server: {e}"))?;
            listeners.push(l);
        }
        let shared = Arc::new(Shared {
            ctx,
            auth,
            gate: Gate {
                threads: config.threads.max(1),
                work_queue: config.work_queue.max(1),
                state: Mutex::new((0, 0)),
                freed: Condvar::new(),
            },
            allow: config.allow.clone(),
            stopping: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            timeout: config.timeout,
            connections: AtomicUsize::new(0),
            max_connections: config.max_connections.max(1),
        });
        let mut local_addrs = Vec::new();
        for l in listeners {
            local_addrs.push(l.local_addr().map_err(|e| e.to_string())?);
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("http".into())
                .spawn(move || accept_loop(l, shared))
                .map_err(|e| format!("cannot start RPC listener: {e}"))?;
        }
        for a in &local_addrs {
            log_info!("Binding RPC on address {} port {}", a.ip(), a.port());
        }
        Ok(RpcServer {
            shared,
            local_addrs,
        })
    }

    /// Addresses actually bound.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Refuses new requests and waits (up to `max_wait`) for the running ones, so that the
    /// reply to `stop` reaches its caller.
    pub fn stop(&self, max_wait: Duration) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + max_wait;
        while self.shared.in_flight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn internal_error() -> HttpReply {
    let body = serde_json::json!({"result": null, "error": {"code": -1, "message": "Internal bug detected"}, "id": null});
    HttpReply {
        status: 500,
        body: Some(format!("{body}\n")),
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            return;
        }
        let mut stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, say: retrying at once would spin.
                log_debug!("http", "accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if shared.connections.fetch_add(1, Ordering::SeqCst) >= shared.max_connections {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
            log_debug!(
                "http",
                "refusing a connection: {} already open",
                shared.max_connections
            );
            let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = write_response(
                &mut stream,
                503,
                "Service Unavailable",
                "",
                "text/html",
                b"Too many connections",
                false,
            );
            continue;
        }
        let shared = Arc::clone(&shared);
        let spawned = thread::Builder::new().name("httpconn".into()).spawn({
            let shared = Arc::clone(&shared);
            move || {
                let peer = stream.peer_addr().ok();
                if let Err(e) = serve_connection(stream, &shared) {
                    log_debug!("http", "connection from {peer:?} closed: {e}");
                }
                shared.connections.fetch_sub(1, Ordering::SeqCst);
            }
        });
        if spawned.is_err() {
            shared.connections.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One parsed HTTP request.
struct HttpRequest {
    method: String,
    path: String,
    keep_alive: bool,
    authorization: Option<String>,
    body: Vec<u8>,
}

enum ReadOutcome {
    Request(HttpRequest),
    Closed,
    Bad(u16, &'static str),
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<ReadOutcome> {
    let mut head_len = 0;
    let mut line = String::new();
    // Skip blank lines between requests, as HTTP allows.
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(ReadOutcome::Closed);
        }
        head_len += line.len();
        if !line.trim().is_empty() {
            break;
        }
        if head_len > MAX_HEAD {
            return Ok(ReadOutcome::Bad(400, "Bad Request"));
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Ok(ReadOutcome::Bad(400, "Bad Request"));
    };
    let (method, path) = (method.to_string(), path.to_string());
    let mut keep_alive = version == "HTTP/1.1";
    let mut content_length: Option<usize> = None;
    let mut authorization = None;
    let mut chunked = false;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(ReadOutcome::Closed);
        }
        head_len += line.len();
        if head_len > MAX_HEAD {
            return Ok(ReadOutcome::Bad(431, "Request Header Fields Too Large"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Ok(ReadOutcome::Bad(400, "Bad Request"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => match value.parse() {
                Ok(n) => content_length = Some(n),
                Err(_) => return Ok(ReadOutcome::Bad(400, "Bad Request")),
            },
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
            "authorization" => authorization = Some(value.to_string()),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    let body = if chunked {
        match read_chunked(reader)? {
            Some(b) => b,
            None => return Ok(ReadOutcome::Bad(413, "Payload Too Large")),
        }
    } else {
        let len = content_length.unwrap_or(0);
        if len > MAX_BODY {
            return Ok(ReadOutcome::Bad(413, "Payload Too Large"));
        }
        let mut body = vec![0u8; len];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(ReadOutcome::Request(HttpRequest {
        method,
        path,
        keep_alive,
        authorization,
        body,
    }))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "bad chunk size"))?;
        if body.len() + size > MAX_BODY {
            return Ok(None);
        }
        if size == 0 {
            // Trailers end with an empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(Some(body));
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

fn write_response(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    extra_headers: &str,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
) -> std::io::Result<()> {
    let conn = if keep_alive { "keep-alive" } else { "close" };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: {conn}\r\n{extra_headers}\r\n",
        body.len()
    );
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// How long a connection polls for its next request before blocking. Clients such as
/// test frameworks send the next call right after reading a reply; when client and server
/// run on different vCPUs, the wake-up from a blocking read costs tens of microseconds
/// there, so a short poll (at most 50 µs of CPU per reply) triples back-to-back calls.
const SPIN: Duration = Duration::from_micros(50);

fn spin_for_next_request(reader: &mut BufReader<TcpStream>) {
    if !reader.buffer().is_empty() || reader.get_ref().set_nonblocking(true).is_err() {
        return;
    }
    let start = Instant::now();
    let mut byte = [0u8; 1];
    while start.elapsed() < SPIN {
        match reader.get_ref().peek(&mut byte) {
            Ok(_) => break,
            // Yield, not just pause: the client that reads our reply is usually woken onto
            // this CPU, and with the other one busy (a wallet process's thread waiting
            // for the next call) it would wait for this poll to end. hashvive-node's
            // wallet RPCs ran 2-6% faster with the yield (wallet-bench, A/B in one run);
            // hashvived's did not change.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(_) => break,
        }
    }
    let _ = reader.get_ref().set_nonblocking(false);
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    // Core's allow list: loopback always, plus -rpcallowip networks.
    if let Ok(peer) = stream.peer_addr() {
        let ip = match peer.ip() {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if !ip.is_loopback() && !shared.allow.iter().any(|s| s.contains(ip)) {
            log_info!("Rejected connection from {ip}: not in -rpcallowip");
            let mut s = stream;
            return write_response(&mut s, 403, "Forbidden", "", "text/html", b"", false);
        }
    }
    stream.set_read_timeout(Some(shared.timeout))?;
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        spin_for_next_request(&mut reader);
        let req = match read_request(&mut reader)? {
            ReadOutcome::Request(r) => r,
            ReadOutcome::Closed => return Ok(()),
            ReadOutcome::Bad(status, reason) => {
                return write_response(&mut writer, status, reason, "", "text/html", b"", false);
            }
        };
        if shared.stopping.load(Ordering::SeqCst) {
            return write_response(
                &mut writer,
                503,
                "Service Unavailable",
                "",
                "text/html",
                b"",
                false,
            );
        }
        let keep_alive = req.keep_alive;
        if req.path.starts_with("/wallet/") {
            // Wake an out-of-process wallet now: its wake-up overlaps our auth check and
            // parsing instead of following them.
            shared.ctx.client_commands.prepare_latest();
        }
        if req.method != "POST" {
            write_response(
                &mut writer,
                405,
                "Method Not Allowed",
                "",
                "text/html",
                b"JSONRPC server handles only POST requests",
                keep_alive,
            )?;
        } else if req
            .authorization
            .as_deref()
            .and_then(|h| shared.auth.check_header(h))
            .is_none()
        {
            log_info!(
                "ThreadRPCServer incorrect password attempt from {:?}",
                writer.peer_addr().ok()
            );
            // Core slows down password guessing the same way.
            thread::sleep(Duration::from_millis(250));
            write_response(
                &mut writer,
                401,
                "Unauthorized",
                "WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n",
                "text/html",
                b"",
                keep_alive,
            )?;
        } else if req.path != "/" && !req.path.starts_with("/wallet/") {
            write_response(
                &mut writer,
                404,
                "Not Found",
                "",
                "text/html",
                b"",
                keep_alive,
            )?;
        } else {
            shared.in_flight.fetch_add(1, Ordering::SeqCst);
            let result = shared.gate.enter().then(|| {
                // A bug in one command must not take the connection (or the server) down.
                let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle_http_body(&shared.ctx, &req.body, &req.path)
                }))
                .unwrap_or_else(|_| internal_error());
                shared.gate.leave();
                reply
            });
            let written = match result {
                Some(reply) => {
                    let body = reply.body.unwrap_or_default();
                    write_response(
                        &mut writer,
                        reply.status,
                        reason_phrase(reply.status),
                        "",
                        "application/json",
                        body.as_bytes(),
                        keep_alive,
                    )
                }
                None => {
                    log_info!("WARNING: request rejected because http work queue depth exceeded, it can be increased with the -rpcworkqueue= setting");
                    write_response(
                        &mut writer,
                        503,
                        "Service Unavailable",
                        "",
                        "text/html",
                        b"Work queue depth exceeded",
                        keep_alive,
                    )
                }
            };
            shared.in_flight.fetch_sub(1, Ordering::SeqCst);
            written?;
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.1.0.0/16").unwrap();
        assert!(s.contains("10.1.200.3".parse().unwrap()));
        assert!(!s.contains("10.2.0.1".parse().unwrap()));
        assert_eq!(Subnet::parse("10.1.0.0/255.255.0.0"), Some(s));
        assert!(Subnet::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.4".parse().unwrap()));
        assert!(!Subnet::parse("1.2.3.4")
            .unwrap()
            .contains("1.2.3.5".parse().unwrap()));
        assert!(Subnet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Subnet::parse("fd00::/8")
            .unwrap()
            .contains("fd12::1".parse().unwrap()));
        assert!(!Subnet::parse("fd00::/8")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        assert!(Subnet::parse("1.2.3.4/33").is_none());
        assert!(Subnet::parse("1.2.3.4/255.0.255.0").is_none());
        assert!(Subnet::parse("nonsense").is_none());
    }
}
