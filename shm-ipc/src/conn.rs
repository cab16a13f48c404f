//! A connection: typed calls in both directions over shared-memory rings or the socket.
//!
//! # Threads
//!
//! There is no dedicated I/O thread on the hot path. A thread waiting for a frame (a
//! caller waiting for its response, or a server thread waiting for its next request)
//! takes the *reader role* if it is free, reads the inbound ring itself and hands frames
//! meant for others to their slots (leader/follower). A caller that is alone therefore
//! reads its own response with no thread hop. When nobody waits, a background thread,
//! woken through the ring's "no reader" eventfd, drains the ring and dispatches.
//!
//! # Logical threads
//!
//! Every frame names the logical thread of its call chain. A chain starts on the thread
//! that makes an outgoing call and keeps its id across nested calls in both directions:
//! the peer serves a chain on one dedicated thread, and a callback into a chain that
//! started here is delivered to the very thread that is blocked in the outgoing call,
//! which runs the handler inline (as libmultiprocess does), so locks and stack stay
//! consistent and nothing deadlocks. The top bit of an id says which side started it.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard, RwLock};
use rkyv::util::AlignedVec;
use zerocopy::IntoBytes;

use crate::frame::{
    self, FrameHeader, Kind, Method, RemoteError, Sink, Wire, ERR_BAD_REQUEST, ERR_HANDLER,
    ERR_PANIC, ERR_UNKNOWN_METHOD, FLAG_MORE, FRAME_HEADER_SIZE,
};
use crate::handshake::{self, Negotiated, PeerInfo, SharedRings};
use crate::ring::{self, Consumer, Producer, RecordHeader, Releaser, WakeMode};
use crate::socket::{SocketReader, SocketWriter};
use crate::sys;
use crate::trace::{Trace, TraceRecord, DIR_RECV, DIR_SEND, FLAG_SHM};
use crate::Error;

/// Receives each `-debug=ipc` line. Called only when logging is on.
pub type LogHook = Arc<dyn Fn(&str) + Send + Sync>;

/// How a connection is set up and behaves.
#[derive(Clone)]
pub struct Options {
    /// This process's name, sent in the hello and shown in logs.
    pub name: String,
    /// Allow shared memory (`-ipcshm`); when either side refuses, the socket carries frames.
    pub shm: bool,
    /// Bytes per ring direction; a power of two.
    pub ring_capacity: usize,
    /// The longest a waiting reader spins before parking (`-ipcspin`); the budget
    /// adapts below it.
    pub spin: Duration,
    /// Read the peer's archives in place (a spawned child or parent); otherwise copy
    /// each record out before validating it.
    pub trusted: bool,
    /// Largest message accepted, in bytes.
    pub max_message: usize,
    /// Most threads serving the peer's call chains at once (busy or idle).
    pub max_server_threads: usize,
    /// Upper bound on one blocking wait, after which state is rechecked.
    pub park_timeout: Duration,
    /// How long the handshake may take.
    pub handshake_timeout: Duration,
    /// `-debug=ipc` sink.
    pub log: Option<LogHook>,
    /// Asked before each line is formatted; lines are produced only while it returns
    /// true (so `logging` can switch the category at run time). `None`: always.
    pub log_gate: Option<fn() -> bool>,
    /// `-ipctrace` sink.
    pub trace: Option<Arc<Trace>>,
}

/// Default `-ipcspin`, in microseconds (see README: measured, not guessed). A reader
/// spins up to twice its recent waits within this, so a peer answering within half of
/// it is caught without a wake-up.
pub const DEFAULT_SPIN_US: u64 = 1000;
/// Default ring size per direction.
pub const DEFAULT_RING_CAPACITY: usize = 8 << 20;

impl Default for Options {
    fn default() -> Options {
        Options {
            name: "hashvive".into(),
            shm: true,
            ring_capacity: DEFAULT_RING_CAPACITY,
            spin: Duration::from_micros(DEFAULT_SPIN_US),
            trusted: false,
            max_message: 256 << 20,
            max_server_threads: 256,
            park_timeout: Duration::from_millis(50),
            handshake_timeout: Duration::from_secs(10),
            log: None,
            log_gate: None,
            trace: None,
        }
    }
}

/// Which end of the handshake this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Creates the shared memory: the spawning parent, or the listener.
    Acceptor,
    /// The spawned child, or the dialler.
    Connector,
}

/// What carries the frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Shared-memory rings.
    Shm,
    /// Length-prefixed frames over the Unix socket.
    Socket,
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Shm => "shared memory",
            Transport::Socket => "socket",
        })
    }
}

const SIDE_BIT: u64 = 1 << 63;

/// Serves one interface.
pub trait Service: Send + Sync + 'static {
    /// Interface name, for logs.
    fn interface_name(&self) -> &'static str;
    /// Handles one request; must call `reply.send` exactly once on success.
    fn handle(&self, request: &Request<'_>, reply: &mut Reply<'_>) -> Result<(), String>;
}

/// Interfaces served on a connection, by id. Clone it to share between connections.
#[derive(Clone, Default)]
pub struct Services(Arc<RwLock<HashMap<u16, Arc<dyn Service>>>>);

impl Services {
    /// Adds or replaces the service for `interface`.
    pub fn add(&self, interface: u16, service: Arc<dyn Service>) {
        self.0.write().insert(interface, service);
    }

    fn get(&self, interface: u16) -> Option<Arc<dyn Service>> {
        self.0.read().get(&interface).cloned()
    }
}

/// An incoming request as a handler sees it.
pub struct Request<'a> {
    header: &'a FrameHeader,
    archive: &'a [u8],
    conn: &'a Connection,
}

impl<'a> Request<'a> {
    /// Method id.
    pub fn method(&self) -> u16 {
        self.header.method
    }

    /// Call id.
    pub fn call_id(&self) -> u64 {
        self.header.call_id
    }

    /// The connection the request arrived on, for nested calls back to the caller.
    pub fn connection(&self) -> &'a Connection {
        self.conn
    }

    /// Validates the archive as `T` and returns its root, in place.
    pub fn archived<T: Wire>(&self) -> Result<&'a T::Archived, String> {
        frame::access::<T>(self.archive)
    }
}

/// Sends the answer to one request.
pub struct Reply<'a> {
    inner: &'a Inner,
    request: FrameHeader,
    received_ticks: u64,
    sent: bool,
    /// The reader role, taken before replying: the caller's next frame then finds this
    /// thread already reading, so the peer needs no wake-up.
    reader: Option<ReaderGuard<'a>>,
}

impl Reply<'_> {
    /// Sends `value` as the response; it must archive as the method's result type.
    pub fn send<T: Wire>(&mut self, value: &T) -> Result<(), Error> {
        self.send_archivable(value)
    }

    /// Like `send`, for a value whose archived form equals the result type's without
    /// being that type (e.g. [`crate::BytesRef`] for `Vec<u8>`).
    pub fn send_archivable<T>(&mut self, value: &T) -> Result<(), Error>
    where
        T: for<'x, 'v> rkyv::Serialize<frame::WireSerializer<'x, 'v>>,
    {
        if self.sent {
            return Err(Error::Protocol("reply sent twice".into()));
        }
        self.sent = true;
        if self.request.call_id == NO_RESPONSE {
            return Ok(());
        }
        let header = FrameHeader {
            kind: Kind::Response as u8,
            ..self.request
        };
        if self.reader.is_none() {
            self.reader = self.inner.try_reader();
        }
        self.inner
            .send(header, self.received_ticks, &mut self.reader, |sink| {
                rkyv::api::high::to_bytes_in::<_, rkyv::rancor::Error>(value, sink)
                    .map(|sink| rkyv::ser::Positional::pos(&sink))
            })
    }
}

/// Typed dispatcher: one closure per method, built with [`Dispatcher::method`].
pub struct Dispatcher {
    name: &'static str,
    methods: Vec<Option<MethodHandler>>,
}

type MethodHandler = Box<dyn Fn(&Request<'_>, &mut Reply<'_>) -> Result<(), String> + Send + Sync>;

impl Dispatcher {
    /// A dispatcher for the interface called `name`.
    pub fn new(name: &'static str) -> Dispatcher {
        Dispatcher {
            name,
            methods: Vec::new(),
        }
    }

    /// Serves `M` with a handler that reads its parameters in place and returns owned results.
    pub fn method<M: Method>(
        self,
        handler: impl Fn(&<M::Params as rkyv::Archive>::Archived, &Request<'_>) -> Result<M::Results, String>
            + Send
            + Sync
            + 'static,
    ) -> Dispatcher {
        self.method_with_reply::<M>(move |params, request, reply| {
            let results = handler(params, request)?;
            reply.send(&results).map_err(|e| e.to_string())
        })
    }

    /// Serves `M` with a handler that sends its own reply, for zero-copy responses.
    pub fn method_with_reply<M: Method>(
        mut self,
        handler: impl Fn(
                &<M::Params as rkyv::Archive>::Archived,
                &Request<'_>,
                &mut Reply<'_>,
            ) -> Result<(), String>
            + Send
            + Sync
            + 'static,
    ) -> Dispatcher {
        let id = M::ID as usize;
        if self.methods.len() <= id {
            self.methods.resize_with(id + 1, || None);
        }
        self.methods[id] = Some(Box::new(move |request, reply| {
            let params = request.archived::<M::Params>()?;
            let inner = reply.inner;
            if let Some(log) = inner.log_enabled() {
                let params = frame::deserialize::<M::Params>(params)?;
                log(&inner.log_line(format_args!(
                    "IPC server recv request #{} {}.{}$Params {}",
                    request.call_id(),
                    M::INTERFACE_NAME,
                    M::NAME,
                    Truncated(&params)
                )));
            }
            handler(params, request, reply)?;
            if let Some(log) = inner.log_enabled() {
                log(&inner.log_line(format_args!(
                    "IPC server send response #{} {}.{}$Results",
                    request.call_id(),
                    M::INTERFACE_NAME,
                    M::NAME
                )));
            }
            Ok(())
        }));
        self
    }
}

impl Service for Dispatcher {
    fn interface_name(&self) -> &'static str {
        self.name
    }

    fn handle(&self, request: &Request<'_>, reply: &mut Reply<'_>) -> Result<(), String> {
        match self.methods.get(request.method() as usize) {
            Some(Some(handler)) => handler(request, reply),
            _ => Err(format!(
                "{} has no method with id {}",
                self.name,
                request.method()
            )),
        }
    }
}

/// Formats a value with `Debug`, cut at 200 characters like Bitcoin Core's IPC log.
struct Truncated<'a, T: std::fmt::Debug>(&'a T);

impl<T: std::fmt::Debug> std::fmt::Display for Truncated<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = format!("{:?}", self.0);
        match text.char_indices().nth(200) {
            Some((cut, _)) => write!(f, "({}...)", &text[..cut]),
            None => write!(f, "({text})"),
        }
    }
}

/// Where a received frame's archive lives.
enum Body {
    /// In place in the inbound ring (trusted peer); released after use.
    Ring(ring::Record),
    /// Copied out (untrusted peer, socket, or reassembled chunks).
    Owned(AlignedVec<16>),
}

/// A received frame.
struct Incoming {
    header: FrameHeader,
    kind: Kind,
    body: Body,
    received_ticks: u64,
}

/// Per-thread mailbox for frames routed to that thread.
struct Slot {
    thread: Thread,
    inbox: Mutex<VecDeque<Incoming>>,
    /// Bit 0: a frame is in the inbox; bit 1: promoted to reader.
    pending: AtomicU32,
}

const PENDING_FRAME: u32 = 1;
const PENDING_PROMOTE: u32 = 2;

impl Slot {
    fn new() -> Arc<Slot> {
        Arc::new(Slot {
            thread: thread::current(),
            inbox: Mutex::new(VecDeque::with_capacity(4)),
            pending: AtomicU32::new(0),
        })
    }

    fn push(&self, frame: Incoming) {
        self.inbox.lock().push_back(frame);
        self.pending.fetch_or(PENDING_FRAME, Ordering::Release);
        self.thread.unpark();
    }

    fn pop(&self) -> Option<Incoming> {
        if self.pending.load(Ordering::Acquire) & PENDING_FRAME == 0 {
            return None;
        }
        let mut inbox = self.inbox.lock();
        let frame = inbox.pop_front();
        if inbox.is_empty() {
            self.pending.fetch_and(!PENDING_FRAME, Ordering::Relaxed);
        }
        frame
    }
}

struct Routes {
    slots: HashMap<u64, Arc<Slot>>,
    /// Threads waiting for the reader role: those waiting for a response first.
    followers: Vec<(Arc<Slot>, Wait)>,
    /// Threads serving the peer's chains, busy or idle.
    server_threads: usize,
    /// Slots of server threads between calls, waiting for any chain's next request.
    idle: Vec<Arc<Slot>>,
}

impl Routes {
    /// An idle server thread for a new chain: the calling thread itself if it is one
    /// (it is awake and reading), else the one that went idle last.
    fn take_idle(&mut self) -> Option<Arc<Slot>> {
        let me = thread::current().id();
        let at = self
            .idle
            .iter()
            .rposition(|s| s.thread.id() == me)
            .or_else(|| self.idle.len().checked_sub(1))?;
        Some(self.idle.swap_remove(at))
    }

    /// Unroutes `slot` from chain `logical`, if it is still that chain's.
    fn unroute(&mut self, logical: u64, slot: &Arc<Slot>) {
        if self
            .slots
            .get(&logical)
            .is_some_and(|s| Arc::ptr_eq(s, slot))
        {
            self.slots.remove(&logical);
        }
    }
}

/// What a server thread does after a request: its chain has more queued, it waits
/// for any chain's next request, or the idle pool is full and it ends.
enum AfterRequest {
    Busy,
    Idle,
    End,
}

/// The chain of an idle server thread: matches no frame (real chains are a side bit
/// and a thread number counted from 1).
const IDLE_CHAIN: u64 = u64::MAX;

/// Idle server threads kept for new chains; more end. Each costs a parked thread,
/// each spared spawn a thread start on the critical path of a call.
const MAX_IDLE_SERVERS: usize = 16;

enum Inbound {
    Ring(Consumer),
    Socket(SocketReader),
}

struct Rx {
    inbound: Inbound,
    /// Chunks of messages larger than one record, by (thread, call id).
    partial: HashMap<(u64, u64), AlignedVec<16>>,
}

enum Outbound {
    Ring(Producer),
    Socket(SocketWriter),
}

struct Tx {
    outbound: Outbound,
    scratch: AlignedVec<16>,
}

struct Shm {
    rings: SharedRings,
    inbound: usize,
    outbound: usize,
}

struct Inner {
    me: Weak<Inner>,
    id: u32,
    side: Side,
    opts: Options,
    peer: PeerInfo,
    socket: OwnedFd,
    shm: Option<Shm>,
    tx: Mutex<Tx>,
    rx: Mutex<Rx>,
    releaser: Mutex<Option<Releaser>>,
    routes: Mutex<Routes>,
    closed: AtomicBool,
    /// The background reader wants the role (see `vacate`).
    background_pending: AtomicBool,
    /// A thread waiting for a response wants the reader role: a leader that is only
    /// waiting for its next request gives it up (see `wait_frame`).
    handoff: AtomicBool,
    /// Spin budgets in ns, adapted between `MIN_SPIN_NS` and `max_spin_ns`: one for
    /// waits for a response, one for a server's wait for its next request (by `Wait`).
    spin_ns: [AtomicU64; 2],
    /// `Options::spin` in ns, or what `Connection::set_spin` set later.
    max_spin_ns: AtomicU64,
    /// Length of `Routes::followers`, readable without the routes lock.
    followers: AtomicUsize,
    /// Server threads running a handler. While one does, an idle server thread neither
    /// takes the reader role nor spins: its spin would take the CPU the handler needs,
    /// and the busy thread, once done, is the one to spin for its chain's next call.
    handling: AtomicUsize,
    /// The reader role's holder waits for a request (it honours `handoff`).
    leader_serves: AtomicBool,
    /// Reusable buffers for frames copied out of the ring or read from the socket.
    buffers: Mutex<Vec<AlignedVec<16>>>,
    /// A leader is blocked on the data eventfd; `parks` counts such blocks.
    parked: AtomicBool,
    parks: AtomicU64,
    /// Frames a reader passed to another thread waiting on its chain (each costs that
    /// thread a wake-up): `Connection::handed_over`.
    handed_over: AtomicU64,
    close_reason: Mutex<Option<String>>,
    next_call: AtomicU64,
    services: Services,
    close_callbacks: Mutex<Vec<CloseCallback>>,
    /// A trace started after the handshake (`Connection::set_trace`).
    late_trace: std::sync::OnceLock<Arc<Trace>>,
}

type CloseCallback = Box<dyn FnOnce(&str) + Send>;

/// A connection to another process. Cloning shares it; it closes when the last clone
/// drops or [`Connection::close`] is called.
#[derive(Clone)]
pub struct Connection {
    inner: Arc<Inner>,
    /// None for the connection's own threads, which must not keep it open.
    _handle: Option<Arc<CloseOnDrop>>,
}

struct CloseOnDrop(Arc<Inner>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close("connection closed locally", true);
    }
}

/// Buffers kept for copied-out frames, and the largest one kept.
const POOLED_BUFFERS: usize = 64;
const POOLED_BUFFER_MAX: usize = 64 << 10;

/// Buffers a copying connection starts with, and their size.
const PREFILLED_BUFFERS: usize = 4;
const PREFILLED_BUFFER_SIZE: usize = 4096;

/// Followers a connection can hold without allocating.
const MAX_RESERVED_FOLLOWERS: usize = 16;

/// The least a thread spins for its chain's next frame after handling a callback.
const AFTER_CALLBACK_SPIN: Duration = Duration::from_micros(20);

/// Shortest adaptive spin: a round trip on an idle machine still fits.
const MIN_SPIN_NS: u64 = 2_000;

/// The spin budget after a wait that ended `waited_ns` after the ring came up empty,
/// `caught` if spinning saw the frame. A missed frame that a spin of at most `max_ns`
/// would have caught sets the budget to twice its wait; one that came later than any
/// allowed spin halves it, down to `MIN_SPIN_NS` (never up): spinning through such
/// waits only burns the CPU the peer needs. Halving alone would get stuck below a
/// peer's usual answer time (each wait then misses and halves again).
fn spin_after_wait(budget_ns: u64, waited_ns: u64, caught: bool, max_ns: u64) -> u64 {
    if caught {
        budget_ns
    } else if waited_ns <= max_ns {
        waited_ns.saturating_mul(2).max(MIN_SPIN_NS).min(max_ns)
    } else {
        (budget_ns / 2).max(MIN_SPIN_NS).min(budget_ns)
    }
}

/// `d` in nanoseconds, saturating (an absurd `-ipcspin` must not wrap to a short one).
fn nanos(d: Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

/// Call id of a message that expects no response.
const NO_RESPONSE: u64 = 0;

static NEXT_CONN: AtomicU32 = AtomicU32::new(1);
static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

struct Binding {
    conn: Weak<Inner>,
    conn_id: u32,
    logical: u64,
    slot: Arc<Slot>,
}

struct ThreadContext {
    number: u64,
    bindings: Vec<Binding>,
}

impl Drop for ThreadContext {
    fn drop(&mut self) {
        for binding in &self.bindings {
            if let Some(conn) = binding.conn.upgrade() {
                conn.routes.lock().unroute(binding.logical, &binding.slot);
            }
        }
    }
}

thread_local! {
    static CONTEXT: RefCell<ThreadContext> = RefCell::new(ThreadContext {
        number: NEXT_THREAD.fetch_add(1, Ordering::Relaxed),
        bindings: Vec::new(),
    });
}

impl Connection {
    /// Runs the handshake on a connected Unix stream socket and starts serving.
    pub fn new(
        socket: OwnedFd,
        side: Side,
        opts: Options,
        services: Services,
    ) -> Result<Connection, Error> {
        if !sys::is_stream_socket(socket.as_fd()) {
            return Err(Error::Setup(
                "descriptor is not a Unix stream socket".into(),
            ));
        }
        rustix::net::sockopt::set_socket_timeout(
            &socket,
            rustix::net::sockopt::Timeout::Recv,
            Some(opts.handshake_timeout),
        )
        .map_err(|e| Error::Setup(format!("socket timeout: {e}")))?;
        let (negotiated, refusal) = match side {
            Side::Acceptor => (
                handshake::accept(&socket, &opts.name, opts.shm, opts.ring_capacity),
                None,
            ),
            Side::Connector => {
                match handshake::connect(&socket, &opts.name, opts.shm, opts.ring_capacity) {
                    Ok((n, refusal)) => (Ok(n), refusal),
                    Err(e) => (Err(e), None),
                }
            }
        };
        let Negotiated { peer, shm } =
            negotiated.map_err(|e| Error::Setup(format!("IPC handshake failed: {e}")))?;
        rustix::net::sockopt::set_socket_timeout(
            &socket,
            rustix::net::sockopt::Timeout::Recv,
            None,
        )
        .map_err(|e| Error::Setup(format!("socket timeout: {e}")))?;
        rustix::fs::fcntl_setfl(&socket, rustix::fs::OFlags::NONBLOCK)
            .map_err(|e| Error::Setup(format!("non-blocking socket: {e}")))?;

        let (inbound_index, outbound_index) = match side {
            Side::Acceptor => (1, 0),
            Side::Connector => (0, 1),
        };
        let (tx, rx, releaser, shm) = match shm {
            Some(rings) => {
                let capacity = rings.capacity;
                // SAFETY: the mapping lives in `Inner::shm` for as long as the producer
                // and consumer; each ring has exactly one producer and one consumer.
                let producer = unsafe { Producer::new(rings.ring_base(outbound_index), capacity) };
                let (consumer, releaser) =
                    unsafe { ring::consumer(rings.ring_base(inbound_index), capacity) };
                (
                    Outbound::Ring(producer),
                    Inbound::Ring(consumer),
                    Some(releaser),
                    Some(Shm {
                        rings,
                        inbound: inbound_index,
                        outbound: outbound_index,
                    }),
                )
            }
            None => (
                Outbound::Socket(SocketWriter),
                Inbound::Socket(SocketReader::new(opts.max_message)),
                None,
                None,
            ),
        };
        let opts_spin_ns = nanos(opts.spin);
        // Frames copied out (untrusted peer or socket) take buffers from a pool. A
        // request's buffer is held until after its reply, so the next frame can need a
        // second one: start with a few, so warm calls never allocate.
        let copies_frames = !(shm.is_some() && opts.trusted);
        let prefilled_buffers = if copies_frames {
            (0..PREFILLED_BUFFERS)
                .map(|_| AlignedVec::with_capacity(PREFILLED_BUFFER_SIZE))
                .collect()
        } else {
            Vec::new()
        };
        let inner = Arc::new_cyclic(|me| Inner {
            me: me.clone(),
            id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            side,
            opts,
            peer,
            socket,
            shm,
            tx: Mutex::new(Tx {
                outbound: tx,
                scratch: AlignedVec::new(),
            }),
            rx: Mutex::new(Rx {
                inbound: rx,
                partial: HashMap::new(),
            }),
            releaser: Mutex::new(releaser),
            routes: Mutex::new(Routes {
                slots: HashMap::new(),
                // Reserved up front: the first follower must not allocate on a call.
                followers: Vec::with_capacity(MAX_RESERVED_FOLLOWERS),
                server_threads: 0,
                idle: Vec::new(),
            }),
            closed: AtomicBool::new(false),
            background_pending: AtomicBool::new(false),
            handoff: AtomicBool::new(false),
            buffers: Mutex::new(prefilled_buffers),
            followers: AtomicUsize::new(0),
            handling: AtomicUsize::new(0),
            leader_serves: AtomicBool::new(false),
            spin_ns: [AtomicU64::new(opts_spin_ns), AtomicU64::new(opts_spin_ns)],
            max_spin_ns: AtomicU64::new(opts_spin_ns),
            parked: AtomicBool::new(false),
            parks: AtomicU64::new(0),
            handed_over: AtomicU64::new(0),
            close_reason: Mutex::new(None),
            next_call: AtomicU64::new(1),
            services,
            close_callbacks: Mutex::new(Vec::new()),
            late_trace: std::sync::OnceLock::new(),
        });
        if let (Some(log), Some(reason)) = (inner.log_enabled(), refusal) {
            log(&inner.log_line(format_args!(
                "IPC shared memory refused, using the socket: {reason}"
            )));
        }
        let background = Arc::clone(&inner);
        thread::Builder::new()
            .name(format!("ipc-bg-{}", inner.id))
            .spawn(move || background.background_reader())
            .map_err(|e| Error::Setup(format!("cannot start IPC thread: {e}")))?;
        Ok(Connection {
            _handle: Some(Arc::new(CloseOnDrop(Arc::clone(&inner)))),
            inner,
        })
    }

    /// The peer's name and pid from its hello.
    pub fn peer(&self) -> &PeerInfo {
        &self.inner.peer
    }

    /// What carries the frames.
    pub fn transport(&self) -> Transport {
        if self.inner.shm.is_some() {
            Transport::Shm
        } else {
            Transport::Socket
        }
    }

    /// Wakes the peer's reader if it is parked, ahead of a call about to be sent: its
    /// wake-up then overlaps the caller's remaining work, and the call finds it spinning.
    /// One eventfd write when the peer's reader is parked, nothing otherwise, and nothing
    /// on the socket transport.
    pub fn prewake(&self) {
        let Some(shm) = &self.inner.shm else { return };
        let marked = match &self.inner.tx.lock().outbound {
            Outbound::Ring(producer) => producer.prewake(),
            Outbound::Socket(_) => false,
        };
        if marked {
            sys::signal(shm.rings.fds[shm.outbound].data.as_fd());
        }
    }

    /// Frames that arrived for a waiting thread while another thread was reading, so that
    /// the reader had to pass them on and wake the waiting thread. Low when each thread
    /// reads its own frames, as the reader role is meant to go to whoever waits for one.
    pub fn handed_over(&self) -> u64 {
        self.inner.handed_over.load(Ordering::Relaxed)
    }

    /// Whether the peer's reader is parked on its eventfd, so that a frame sent now
    /// costs it a wake-up. Always false on the socket transport.
    pub fn peer_reader_parked(&self) -> bool {
        match &self.inner.tx.lock().outbound {
            Outbound::Ring(producer) => producer.consumer_parked(),
            Outbound::Socket(_) => false,
        }
    }

    /// True once the connection has closed, for whatever reason.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(Ordering::Acquire)
    }

    /// Why the connection closed, if it has.
    pub fn close_reason(&self) -> Option<String> {
        self.inner.close_reason.lock().clone()
    }

    /// Runs `callback` once when the connection closes (at once if it already has).
    pub fn on_close(&self, callback: impl FnOnce(&str) + Send + 'static) {
        let mut callbacks = self.inner.close_callbacks.lock();
        if self.is_closed() {
            drop(callbacks);
            callback(&self.close_reason().unwrap_or_default());
        } else {
            callbacks.push(Box::new(callback));
        }
    }

    /// Starts recording frames into `trace`, for a process whose settings arrive over
    /// the connection itself. Ignored when a trace was already set.
    pub fn set_trace(&self, trace: Arc<Trace>) {
        if self.inner.opts.trace.is_none() {
            let _ = self.inner.late_trace.set(trace);
        }
    }

    /// Sets the longest spin, for a process whose settings arrive over the connection
    /// itself (a spawned wallet takes the node's `-ipcspin`).
    pub fn set_spin(&self, spin: Duration) {
        let ns = nanos(spin);
        self.inner.max_spin_ns.store(ns, Ordering::Relaxed);
        for budget in &self.inner.spin_ns {
            budget.store(ns, Ordering::Relaxed);
        }
    }

    /// Closes the connection: the peer sees a close, and waiting calls fail.
    pub fn close(&self) {
        self.inner.close("connection closed locally", true);
    }

    /// Overwrites both shared rings with garbage, as a hostile peer would. Only for
    /// tests of the other side's robustness.
    #[doc(hidden)]
    pub fn scribble_for_tests(&self) {
        if let Some(shm) = &self.inner.shm {
            let base = shm.rings.ring_base(0);
            for offset in 0..2 * ring::ring_bytes(shm.rings.capacity) {
                // SAFETY: inside the mapping; volatile so the writes really happen.
                unsafe { std::ptr::write_volatile(base.add(offset), 0xA5) };
            }
            for fds in &shm.rings.fds {
                sys::signal(fds.data.as_fd());
                sys::signal(fds.background.as_fd());
            }
        }
    }

    /// Sends `M` without waiting for, or getting, a response. Messages one thread sends
    /// this way are handled in order, on the peer's thread for this thread's chain.
    pub fn notify<M: Method>(&self, params: &M::Params) -> Result<(), Error> {
        let inner = &*self.inner;
        let (logical, _) = inner.binding();
        let header = inner.outgoing::<M>(NO_RESPONSE, logical, params, " (no response)");
        inner.send(header, 0, &mut None, |sink| frame::serialize(params, sink))
    }

    /// Calls `M` and deserializes its results.
    pub fn call<M: Method>(&self, params: &M::Params) -> Result<M::Results, Error> {
        self.call_with::<M, _>(params, |results| {
            frame::deserialize::<M::Results>(results).map_err(Error::Protocol)
        })?
    }

    /// Calls `M` and passes its archived results, in place, to `read`.
    pub fn call_with<M: Method, R>(
        &self,
        params: &M::Params,
        read: impl FnOnce(&<M::Results as rkyv::Archive>::Archived) -> R,
    ) -> Result<R, Error> {
        let inner = &*self.inner;
        if inner.closed.load(Ordering::Acquire) {
            return Err(inner.disconnected());
        }
        let (logical, slot) = inner.binding();
        let call_id = inner.next_call.fetch_add(1, Ordering::Relaxed);
        let header = inner.outgoing::<M>(call_id, logical, params, "");
        // Take the reader role before sending so a fast response finds us spinning and
        // the peer needs no eventfd write.
        let mut reader = inner.try_reader();
        // Only the trace uses it; an untraced call reads no clock here.
        let sent_ticks = if inner.trace().is_some() {
            sys::ticks()
        } else {
            0
        };
        inner.send(header, 0, &mut reader, |sink| {
            frame::serialize(params, sink)
        })?;
        // After a callback the peer is busy on this chain: its next callback or the
        // response usually follows within microseconds, even in a call whose response
        // takes too long to spin for.
        let mut floor = Duration::ZERO;
        loop {
            let frame = inner.wait_frame(&slot, logical, reader.take(), Wait::Response, floor)?;
            match frame.kind {
                Kind::Response | Kind::Error if frame.header.call_id == call_id => {
                    // Zero when a late trace (`set_trace`) started during the call.
                    let latency = if sent_ticks != 0 {
                        frame.received_ticks.saturating_sub(sent_ticks)
                    } else {
                        0
                    };
                    inner.trace_frame(DIR_RECV, &frame, latency);
                    let result = inner.finish_call::<M, R>(&frame, read);
                    inner.release(frame);
                    return result;
                }
                Kind::Request | Kind::Callback => {
                    inner.trace_frame(DIR_RECV, &frame, 0);
                    reader = self.handle(frame);
                    floor = AFTER_CALLBACK_SPIN;
                }
                _ => {
                    let stray = frame.header.call_id;
                    inner.release(frame);
                    inner.close(
                        &format!("response to call #{stray} arrived while waiting for #{call_id}"),
                        true,
                    );
                    return Err(inner.disconnected());
                }
            }
        }
    }

    /// Runs a request's handler on this thread and sends its response or error.
    /// Returns the reader role if replying took it, for the thread's next wait.
    fn handle(&self, frame: Incoming) -> Option<ReaderGuard<'_>> {
        let inner = &*self.inner;
        let archive = inner.archive(&frame);
        let request = Request {
            header: &frame.header,
            archive,
            conn: self,
        };
        let mut reply = Reply {
            inner,
            request: frame.header,
            received_ticks: frame.received_ticks,
            sent: false,
            reader: None,
        };
        let outcome = match inner.services.get(frame.header.interface) {
            None => Err((
                ERR_UNKNOWN_METHOD,
                format!("no service for interface {}", frame.header.interface),
            )),
            Some(service) => {
                match catch_unwind(AssertUnwindSafe(|| service.handle(&request, &mut reply))) {
                    Ok(Ok(())) if reply.sent => Ok(()),
                    Ok(Ok(())) => Err((ERR_HANDLER, "handler sent no reply".to_string())),
                    Ok(Err(message)) if reply.sent => {
                        // The reply went out but a later step failed; nothing more to send.
                        inner.log_warning(&message);
                        Ok(())
                    }
                    Ok(Err(message)) => {
                        let code = if message.starts_with("invalid archive") {
                            ERR_BAD_REQUEST
                        } else {
                            ERR_HANDLER
                        };
                        Err((code, format!("{}: {message}", service.interface_name())))
                    }
                    Err(panic) => Err((
                        ERR_PANIC,
                        format!(
                            "{} handler panicked: {}",
                            service.interface_name(),
                            panic_message(&*panic)
                        ),
                    )),
                }
            }
        };
        let header = frame.header;
        let received_ticks = frame.received_ticks;
        let mut reader = reply.reader.take();
        inner.release(frame);
        if let Err((code, message)) = outcome {
            if header.call_id == NO_RESPONSE {
                inner.log_warning(&format!("one-way message failed: {message}"));
                return reader;
            }
            if let Some(log) = inner.log_enabled() {
                log(&inner.log_line(format_args!(
                    "IPC server send error #{} {message}",
                    header.call_id
                )));
            }
            let error = RemoteError { code, message };
            let header = FrameHeader {
                kind: Kind::Error as u8,
                ..header
            };
            if reader.is_none() {
                reader = inner.try_reader();
            }
            // A failure here means the connection is gone; the caller sees Disconnected.
            let _ = inner.send(header, received_ticks, &mut reader, |sink| {
                frame::serialize(&error, sink)
            });
        }
        reader
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

type ReaderGuard<'a> = MutexGuard<'a, Rx>;

/// What a waiting thread expects; each kind adapts its own spin budget. A response
/// comes as fast as the peer computes; a server's next request comes after the caller's
/// own work, which for a node relaying HTTP calls outlasts any sensible spin. Spinning
/// through that only takes the CPU the caller's client needs (on two cores, the node
/// polling its HTTP socket and a wallet spinning for its next call starved the client).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    Response = 0,
    Request = 1,
}

impl Inner {
    fn disconnected(&self) -> Error {
        Error::Disconnected(
            self.close_reason
                .lock()
                .clone()
                .unwrap_or_else(|| "connection closed".into()),
        )
    }

    fn log_enabled(&self) -> Option<&LogHook> {
        self.opts
            .log
            .as_ref()
            .filter(|_| self.opts.log_gate.is_none_or(|gate| gate()))
    }

    fn log_line(&self, message: std::fmt::Arguments<'_>) -> String {
        let current = thread::current();
        let name = current.name().unwrap_or("thread");
        format!(
            "{{{}-{}/{}}} {}",
            self.opts.name,
            std::process::id(),
            name,
            message
        )
    }

    /// The header of an outgoing call of `M` on chain `logical`, logged with `-debug=ipc`.
    /// A call on a chain the peer started is a callback into its waiting thread.
    fn outgoing<M: Method>(
        &self,
        call_id: u64,
        logical: u64,
        params: &M::Params,
        note: &str,
    ) -> FrameHeader {
        if let Some(log) = self.log_enabled() {
            log(&self.log_line(format_args!(
                "IPC client send {}.{}$Params {}{note}",
                M::INTERFACE_NAME,
                M::NAME,
                Truncated(params)
            )));
        }
        let ours = (logical & SIDE_BIT != 0) == (self.side == Side::Connector);
        let kind = if ours || call_id == NO_RESPONSE {
            Kind::Request
        } else {
            Kind::Callback
        };
        FrameHeader {
            call_id,
            thread: logical,
            interface: M::INTERFACE,
            method: M::ID,
            kind: kind as u8,
            flags: 0,
            reserved: 0,
        }
    }

    fn log_warning(&self, message: &str) {
        if let Some(log) = self.log_enabled() {
            log(&self.log_line(format_args!("IPC warning: {message}")));
        }
    }

    fn trace(&self) -> Option<&Arc<Trace>> {
        self.opts.trace.as_ref().or_else(|| self.late_trace.get())
    }

    fn trace_frame(&self, direction: u8, frame: &Incoming, latency_ticks: u64) {
        if let Some(trace) = self.trace() {
            let size = match &frame.body {
                Body::Ring(record) => record.len,
                Body::Owned(buf) => buf.len() + FRAME_HEADER_SIZE,
            };
            // The reader's receive stamp, not a fresh clock read: receives are on the
            // round trip's critical path, and the stamp is the truer time anyway.
            trace.record(self.trace_record(
                frame.received_ticks,
                direction,
                &frame.header,
                size,
                latency_ticks,
            ));
        }
    }

    fn trace_record(
        &self,
        time_ns: u64,
        direction: u8,
        header: &FrameHeader,
        size: usize,
        latency_ns: u64,
    ) -> TraceRecord {
        TraceRecord {
            time_ns,
            latency_ns,
            call_id: header.call_id,
            thread: header.thread,
            size: size as u32,
            conn: self.id,
            interface: header.interface,
            method: header.method,
            direction,
            kind: header.kind,
            flags: if self.shm.is_some() { FLAG_SHM } else { 0 },
            reserved: 0,
        }
    }

    /// The logical thread this OS thread uses on this connection, and its slot.
    fn binding(&self) -> (u64, Arc<Slot>) {
        CONTEXT.with(|context| {
            let mut context = context.borrow_mut();
            if let Some(binding) = context.bindings.iter().find(|b| b.conn_id == self.id) {
                return (binding.logical, Arc::clone(&binding.slot));
            }
            let side_bit = match self.side {
                Side::Acceptor => 0,
                Side::Connector => SIDE_BIT,
            };
            let logical = side_bit | context.number;
            let slot = Slot::new();
            self.routes.lock().slots.insert(logical, Arc::clone(&slot));
            context.bindings.retain(|b| b.conn.strong_count() > 0);
            context.bindings.push(Binding {
                conn: self.me.clone(),
                conn_id: self.id,
                logical,
                slot: Arc::clone(&slot),
            });
            (logical, slot)
        })
    }

    fn try_reader(&self) -> Option<ReaderGuard<'_>> {
        let guard = self.rx.try_lock()?;
        if let Inbound::Ring(consumer) = &guard.inbound {
            consumer.set_wake_mode(WakeMode::Active);
        }
        Some(guard)
    }

    /// Waits for the next frame addressed to `logical`, reading the inbound side
    /// ourselves whenever nobody else is.
    fn wait_frame<'a>(
        &'a self,
        slot: &Arc<Slot>,
        logical: u64,
        mut reader: Option<ReaderGuard<'a>>,
        wait: Wait,
        floor: Duration,
    ) -> Result<Incoming, Error> {
        // A server thread back from a request may take the role from an idle one (once
        // per wait, so two idle threads never hand it back and forth).
        let mut may_claim = wait == Wait::Request;
        // We just handed the role over: let the new holder take it before trying again.
        let mut yielded = false;
        loop {
            if let Some(frame) = slot.pop() {
                self.took(wait);
                if let Some(guard) = reader.take() {
                    self.vacate(guard);
                }
                return Ok(frame);
            }
            if self.closed.load(Ordering::Acquire) {
                if let Some(guard) = reader.take() {
                    self.vacate(guard);
                }
                return Err(self.disconnected());
            }
            let idle_while_busy = self.stays_idle(wait);
            if reader.is_none() && !yielded && !idle_while_busy {
                reader = self.try_reader();
            }
            match reader.as_mut() {
                Some(guard) => {
                    if let Some(frame) = self.lead(guard, slot, logical, wait, floor) {
                        self.took(wait);
                        self.vacate(reader.take().expect("held"));
                        return Ok(frame);
                    }
                    if wait == Wait::Request && self.handoff.swap(false, Ordering::SeqCst) {
                        self.vacate(reader.take().expect("held"));
                        yielded = true;
                    }
                }
                None => {
                    let claim = match wait {
                        Wait::Response => true,
                        Wait::Request => {
                            std::mem::take(&mut may_claim)
                                && !yielded
                                && !idle_while_busy
                                && self.leader_serves.load(Ordering::SeqCst)
                        }
                    };
                    if claim {
                        self.request_handoff();
                    }
                    // Having just handed the role over, sleep even though it looks free:
                    // taking it back before the promoted thread wakes would undo the
                    // hand-over (the promoted thread would only ask again, and again).
                    self.follow(slot, wait, idle_while_busy || yielded);
                    yielded = false;
                }
            }
        }
    }

    /// A frame came for a thread waiting `wait`: a server thread now runs its handler
    /// (counted until `Connection::serve` is done with it), so that the role it is
    /// about to leave does not go to an idle server thread that would only spin.
    fn took(&self, wait: Wait) {
        if wait == Wait::Request {
            self.handling.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Whether a thread waiting `wait` stays off the reader role and does not spin: an
    /// idle server thread while another server thread runs a handler.
    fn stays_idle(&self, wait: Wait) -> bool {
        wait == Wait::Request && self.handling.load(Ordering::SeqCst) > 0
    }

    /// Reads as the leader until a frame for `logical` arrives (returned), our slot gets
    /// something, or the connection closes (None in both cases).
    fn lead(
        &self,
        guard: &mut ReaderGuard<'_>,
        slot: &Slot,
        logical: u64,
        wait: Wait,
        floor: Duration,
    ) -> Option<Incoming> {
        // When the ring came up empty (read once spinning has gone on for a while, so a
        // quickly caught frame costs no clock read: catching leaves the budget as it is),
        // and whether we parked since: a frame then ends a wait, whose length and
        // outcome adapt the spin budget.
        let mut empty_since: Option<Instant> = None;
        let mut parked = false;
        // Set when the peer woke us with nothing to read yet (`Connection::prewake`):
        // its frame is on the way, so spin the full budget from then before parking.
        let mut prewoken_at: Option<Instant> = None;
        let mut spins = 0u32;
        self.leader_serves
            .store(wait == Wait::Request, Ordering::SeqCst);
        loop {
            match self.read_frame(guard) {
                Ok(Some(frame)) => {
                    if let Some(since) = empty_since.take() {
                        self.adapt_spin(wait, since.elapsed(), !std::mem::take(&mut parked));
                    }
                    if frame.header.thread == logical {
                        return Some(frame);
                    }
                    self.dispatch(frame);
                    continue;
                }
                Ok(None) => {}
                Err(error) => {
                    self.close(&error, true);
                    return None;
                }
            }
            if slot.pending.load(Ordering::Acquire) & PENDING_FRAME != 0
                || self.closed.load(Ordering::Acquire)
                || (wait == Wait::Request && self.handoff.load(Ordering::Acquire))
            {
                return None;
            }
            let budget = match prewoken_at {
                Some(_) => self.spin_budget_max(),
                None if parked => Duration::ZERO,
                None if self.stays_idle(wait) => Duration::ZERO,
                None => self
                    .spin_budget(wait)
                    .max(floor.min(self.spin_budget_max())),
            };
            if budget.is_zero() {
                empty_since.get_or_insert_with(Instant::now);
                prewoken_at = self.park_and_note_prewake(guard);
                parked = true;
                continue;
            }
            // Spin on one atomic load; `read_frame` (which takes the releaser lock)
            // runs again only once something was published, or every 64 turns.
            if let Inbound::Ring(consumer) = &guard.inbound {
                for _ in 0..64 {
                    if consumer.has_data() {
                        break;
                    }
                    std::hint::spin_loop();
                }
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(4) {
                continue;
            }
            // The peer may be runnable on this very CPU: a wake-up from an eventfd puts
            // the woken thread next to its waker, and until the scheduler spreads them
            // every spin would hold the peer off for the whole budget (rescans ran 8x
            // slower in that state). A yield with nothing else runnable returns at once.
            thread::yield_now();
            let since = *empty_since.get_or_insert_with(Instant::now);
            if prewoken_at.unwrap_or(since).elapsed() < budget {
                continue;
            }
            prewoken_at = self.park_and_note_prewake(guard);
            parked = true;
        }
    }

    /// Parks the leader; returns when it woke if the peer woke it ahead of a frame (a
    /// `prewake`) and the frame is not there yet.
    fn park_and_note_prewake(&self, guard: &mut ReaderGuard<'_>) -> Option<Instant> {
        self.park_reader(guard);
        let Inbound::Ring(consumer) = &guard.inbound else {
            return None;
        };
        // Taken after every park, so that a hint whose frame came with it goes stale.
        let prewoken = consumer.take_prewake();
        (prewoken && !consumer.has_data() && !self.closed.load(Ordering::Acquire))
            .then(Instant::now)
    }

    /// How long to spin before parking. Spinning on a socket would be a syscall per
    /// turn, so socket readers park at once; ring readers use the adaptive budget.
    fn spin_budget(&self, wait: Wait) -> Duration {
        if self.shm.is_none() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.spin_ns[wait as usize].load(Ordering::Relaxed))
    }

    /// The longest spin (`-ipcspin`), zero on the socket.
    fn spin_budget_max(&self) -> Duration {
        if self.shm.is_none() {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.max_spin_ns.load(Ordering::Relaxed))
    }

    /// A wait of kind `wait` ended after `waited`; `caught` if spinning saw it end.
    fn adapt_spin(&self, wait: Wait, waited: Duration, caught: bool) {
        let max = self.max_spin_ns.load(Ordering::Relaxed);
        let budget = &self.spin_ns[wait as usize];
        let now = budget.load(Ordering::Relaxed);
        budget.store(
            spin_after_wait(now, nanos(waited), caught, max),
            Ordering::Relaxed,
        );
    }

    /// Blocks the leader until data may be there, using the waiting-flag protocol.
    fn park_reader(&self, guard: &mut ReaderGuard<'_>) {
        match &guard.inbound {
            Inbound::Ring(consumer) => {
                consumer.set_wake_mode(WakeMode::ReaderParked);
                if !consumer.has_data() && !self.closed.load(Ordering::Acquire) {
                    let shm = self.shm.as_ref().expect("ring mode");
                    let efd = shm.rings.fds[shm.inbound].data.as_fd();
                    // One blocking read both sleeps and resets the eventfd, as cheap as
                    // a bare eventfd ping-pong. Hang-ups reach us through the background
                    // reader (which closes and signals this eventfd), and its watchdog
                    // is the safety net that bounds this wait.
                    self.parks.fetch_add(1, Ordering::Relaxed);
                    self.parked.store(true, Ordering::SeqCst);
                    let blocked = sys::read_event(efd);
                    self.parked.store(false, Ordering::SeqCst);
                    if blocked.is_err() {
                        // A peer-made non-blocking eventfd: wait with poll instead.
                        if let Err(e) = self.wait_event(efd) {
                            self.close(&format!("poll failed: {e}"), false);
                        }
                    }
                }
                consumer.set_wake_mode(WakeMode::Active);
            }
            Inbound::Socket(_) => {
                if let Err(e) = sys::wait(None, self.socket.as_fd(), self.opts.park_timeout) {
                    self.close(&format!("poll failed: {e}"), false);
                }
            }
        }
    }

    /// A thread about to wait for a response found the reader role taken. A leader
    /// that only waits for its next request (an idle server thread, parked on the
    /// eventfd) would otherwise read our response and hand it over: a wake-up for it and
    /// another for us on every call. Ask it to give the role up, and wake it, so we spin
    /// for the response ourselves; both wake-ups overlap the peer's work instead.
    fn request_handoff(&self) {
        self.handoff.store(true, Ordering::SeqCst);
        if self.parked.load(Ordering::SeqCst) {
            if let Some(shm) = &self.shm {
                sys::signal(shm.rings.fds[shm.inbound].data.as_fd());
            }
        }
    }

    /// Waits as a follower until our slot gets a frame or we are promoted to reader.
    /// Followers park at once: on a small machine a spinning follower steals the CPU
    /// the leader needs to deliver its frame. A thread waiting for a response queues
    /// first, so a leader letting go promotes it before any idle server thread.
    fn follow(&self, slot: &Arc<Slot>, wait: Wait, sleep_anyway: bool) {
        {
            let mut routes = self.routes.lock();
            if !routes.followers.iter().any(|(f, _)| Arc::ptr_eq(f, slot)) {
                match wait {
                    Wait::Response => routes.followers.insert(0, (Arc::clone(slot), wait)),
                    Wait::Request => routes.followers.push((Arc::clone(slot), wait)),
                }
                self.followers.fetch_add(1, Ordering::SeqCst);
            }
        }
        // The reader may have left between our try_lock and registering: look again
        // before sleeping so the promotion cannot be missed (pairs with `vacate`).
        fence(Ordering::SeqCst);
        // A thread staying off the role (an idle server thread while a handler runs, or
        // one that has just handed it over) sleeps even when the role is free: the
        // background reader, or the new holder, delivers its frames.
        if slot.pending.load(Ordering::Acquire) == 0 && (sleep_anyway || self.rx.is_locked()) {
            thread::park_timeout(self.opts.park_timeout);
        }
        {
            let mut routes = self.routes.lock();
            let before = routes.followers.len();
            routes.followers.retain(|(f, _)| !Arc::ptr_eq(f, slot));
            let removed = before - routes.followers.len();
            self.followers.fetch_sub(removed, Ordering::SeqCst);
        }
        slot.pending.fetch_and(!PENDING_PROMOTE, Ordering::Relaxed);
    }

    /// Gives up the reader role: promote a follower, or leave the ring to the
    /// background reader. Data that arrived while we held the role is drained first;
    /// after letting go we honour a background reader that failed to get the role
    /// (modelled in tests/loom_wakeup.rs, which found the lost wake-up this prevents).
    fn vacate<'a>(&'a self, guard: ReaderGuard<'a>) {
        let mut guard = guard;
        loop {
            let ring = match &guard.inbound {
                Inbound::Ring(consumer) => {
                    consumer.set_wake_mode(WakeMode::NoReader);
                    // A closed connection's ring may be garbage that always looks ready.
                    if consumer.has_data() && !self.closed.load(Ordering::Acquire) {
                        consumer.set_wake_mode(WakeMode::Active);
                        self.drain(&mut guard);
                        continue;
                    }
                    true
                }
                Inbound::Socket(_) => false,
            };
            drop(guard);
            // Pairs with the fence in `follow`: either we see the follower, or it sees
            // the role free and does not sleep.
            fence(Ordering::SeqCst);
            if self.followers.load(Ordering::SeqCst) > 0 {
                if let Some((follower, wait)) = self.routes.lock().followers.first() {
                    if !self.stays_idle(*wait) {
                        follower
                            .pending
                            .fetch_or(PENDING_PROMOTE, Ordering::Release);
                        follower.thread.unpark();
                        return;
                    }
                }
            }
            if !ring {
                // The socket is level-triggered: the background reader's poll sees it.
                return;
            }
            if !self.background_pending.swap(false, Ordering::SeqCst) {
                return;
            }
            let Some(again) = self.rx.try_lock() else {
                return;
            };
            if let Inbound::Ring(consumer) = &again.inbound {
                consumer.set_wake_mode(WakeMode::Active);
            }
            guard = again;
        }
    }

    /// Dispatches everything readable right now.
    fn drain(&self, guard: &mut ReaderGuard<'_>) {
        loop {
            match self.read_frame(guard) {
                Ok(Some(frame)) => self.dispatch(frame),
                Ok(None) => return,
                Err(error) => {
                    self.close(&error, true);
                    return;
                }
            }
        }
    }

    /// The background reader: handles frames when no thread is waiting, and notices
    /// the peer hanging up.
    fn background_reader(self: Arc<Inner>) {
        let mut last_park = None;
        while !self.closed.load(Ordering::Acquire) {
            let event = self
                .shm
                .as_ref()
                .map(|shm| shm.rings.fds[shm.inbound].background.as_fd());
            let ready = match sys::wait(event, self.socket.as_fd(), self.opts.park_timeout) {
                Ok(ready) => ready,
                Err(e) => {
                    self.close(&format!("poll failed: {e}"), false);
                    break;
                }
            };
            if let (true, Some(event)) = (ready.event, event) {
                sys::drain(event);
            }
            if ready.socket && self.shm.is_some() {
                self.check_socket();
            }
            if !ready.event && !ready.socket {
                self.watchdog(&mut last_park);
            }
            if self.shm.is_some() {
                // Announce ourselves before trying the role: a holder that is letting
                // go checks this flag after releasing (see `vacate`).
                self.background_pending.store(true, Ordering::SeqCst);
                fence(Ordering::SeqCst);
            }
            let Some(mut guard) = self.rx.try_lock() else {
                if self.shm.is_none() {
                    // A leader is reading the socket: wait for it rather than spin on a
                    // level-triggered poll.
                    thread::sleep(Duration::from_micros(200));
                }
                continue;
            };
            match &guard.inbound {
                Inbound::Ring(consumer) => {
                    self.background_pending.store(false, Ordering::SeqCst);
                    consumer.set_wake_mode(WakeMode::Active);
                }
                Inbound::Socket(_) => {
                    if !ready.socket {
                        continue;
                    }
                }
            }
            self.drain(&mut guard);
            self.vacate(guard);
        }
        self.fail_all();
    }

    /// The safety net for a leader blocked on its eventfd: if the same park is still in
    /// progress a whole timeout later, wake it so it rechecks the ring.
    fn watchdog(&self, last_park: &mut Option<u64>) {
        let Some(shm) = &self.shm else { return };
        let park = self.parks.load(Ordering::Relaxed);
        if self.parked.load(Ordering::SeqCst) {
            if *last_park == Some(park) {
                sys::signal(shm.rings.fds[shm.inbound].data.as_fd());
            }
            *last_park = Some(park);
        } else {
            *last_park = None;
        }
    }

    /// Waits, bounded by the park timeout, for a ring eventfd or the liveness socket;
    /// resets the eventfd if it fired and handles a hang-up.
    fn wait_event(&self, efd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
        let ready = sys::wait(Some(efd), self.socket.as_fd(), self.opts.park_timeout)?;
        if ready.event {
            sys::drain(efd);
        }
        if ready.socket {
            self.check_socket();
        }
        Ok(())
    }

    /// In ring mode the socket carries only liveness: EOF or a close message.
    fn check_socket(&self) {
        let mut buf = [0u8; 64];
        match rustix::io::read(&self.socket, &mut buf) {
            Ok(0) => self.close("peer disconnected", false),
            Ok(_) => self.close("peer sent data on the control socket", false),
            Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => self.close(&format!("peer disconnected ({e})"), false),
        }
    }

    /// Reads one frame if one is ready. Errors are protocol violations.
    fn read_frame(&self, guard: &mut ReaderGuard<'_>) -> Result<Option<Incoming>, String> {
        let rx = &mut **guard;
        loop {
            let (header, kind, body) = match &mut rx.inbound {
                Inbound::Ring(consumer) => {
                    let mut releaser = self.releaser.lock();
                    let releaser = releaser.as_mut().expect("ring mode");
                    let Some(record) = consumer.next(releaser).map_err(|e| e.to_string())? else {
                        return Ok(None);
                    };
                    if record.len < FRAME_HEADER_SIZE {
                        return Err(format!(
                            "record of {} bytes has no frame header",
                            record.len
                        ));
                    }
                    // SAFETY: the record lies inside the ring (checked by `next`); a
                    // volatile copy takes a snapshot without referencing shared memory.
                    let bytes = unsafe {
                        std::ptr::read_volatile(record.ptr.cast::<[u8; FRAME_HEADER_SIZE]>())
                    };
                    let (header, kind) = FrameHeader::parse(&bytes)?;
                    let archive_len = record.len - FRAME_HEADER_SIZE;
                    let chunked = header.flags & FLAG_MORE != 0
                        || rx.partial.contains_key(&(header.thread, header.call_id));
                    if self.opts.trusted && !chunked {
                        (header, kind, Body::Ring(record))
                    } else {
                        let mut owned = self.buffer(archive_len);
                        // SAFETY: bounds checked by `next`; copying out is exactly how an
                        // untrusted peer's record is read.
                        unsafe {
                            std::ptr::copy_nonoverlapping(
                                record.ptr.add(FRAME_HEADER_SIZE),
                                owned.as_mut_ptr(),
                                archive_len,
                            );
                            owned.set_len(archive_len);
                        }
                        if releaser.release(&record) {
                            self.wake_producer();
                        }
                        (header, kind, Body::Owned(owned))
                    }
                }
                Inbound::Socket(reader) => {
                    match reader.read_frame(self.socket.as_fd(), |len| self.buffer(len)) {
                        Ok(Some((header, kind, owned))) => (header, kind, Body::Owned(owned)),
                        Ok(None) => return Ok(None),
                        Err(e) => {
                            // EOF is an orderly disconnect, not a protocol violation.
                            self.close(&e, false);
                            return Ok(None);
                        }
                    }
                }
            };
            // Stamped even untraced (a TSC read): a trace started mid-call (`set_trace`)
            // still gets the latency of the response to this request.
            let received_ticks = sys::ticks();
            if header.flags & FLAG_MORE != 0
                || rx.partial.contains_key(&(header.thread, header.call_id))
            {
                let Body::Owned(chunk) = body else {
                    unreachable!()
                };
                let key = (header.thread, header.call_id);
                let total = rx.partial.get(&key).map_or(0, |b| b.len()) + chunk.len();
                if total > self.opts.max_message {
                    return Err(format!(
                        "message of more than {} bytes",
                        self.opts.max_message
                    ));
                }
                let buf = rx.partial.entry(key).or_default();
                buf.extend_from_slice(&chunk);
                if header.flags & FLAG_MORE != 0 {
                    continue;
                }
                let whole = rx.partial.remove(&key).expect("just inserted");
                return Ok(Some(Incoming {
                    header,
                    kind,
                    body: Body::Owned(whole),
                    received_ticks,
                }));
            }
            return Ok(Some(Incoming {
                header,
                kind,
                body,
                received_ticks,
            }));
        }
    }

    /// Sends a frame to whoever should handle it.
    fn dispatch(&self, frame: Incoming) {
        if frame.kind == Kind::Close {
            self.release(frame);
            self.close("peer closed the connection", false);
            return;
        }
        let thread = frame.header.thread;
        let ours = (thread & SIDE_BIT != 0) == (self.side == Side::Connector);
        let mut routes = self.routes.lock();
        // Pushed under the routes lock: a server thread retires its chain under it too,
        // so no frame lands in a slot that has just left its chain.
        if let Some(slot) = routes.slots.get(&thread) {
            slot.push(frame);
            self.handed_over.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if ours || !matches!(frame.kind, Kind::Request) {
            drop(routes);
            let (kind, call) = (frame.kind, frame.header.call_id);
            self.release(frame);
            self.close(
                &format!(
                    "peer sent {} #{call} to thread {thread:#x}, which is not waiting",
                    kind.name()
                ),
                true,
            );
            return;
        }
        if let Some(slot) = routes.take_idle() {
            routes.slots.insert(thread, Arc::clone(&slot));
            slot.push(frame);
            return;
        }
        if routes.server_threads >= self.opts.max_server_threads {
            drop(routes);
            self.release(frame);
            self.close("peer opened too many concurrent call chains", true);
            return;
        }
        routes.server_threads += 1;
        drop(routes);
        self.spawn_server(thread, frame);
    }

    fn spawn_server(&self, logical: u64, first: Incoming) {
        let this = self.strong();
        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
        let spawned = thread::Builder::new()
            .name(format!("ipc-{}-{}", self.peer.name, logical & !SIDE_BIT))
            .spawn(move || {
                let conn = Connection {
                    inner: this,
                    _handle: None,
                };
                let slot = conn.inner.bind_server(logical);
                let _ = ready_tx.send(Arc::clone(&slot));
                conn.serve(logical, &slot);
            });
        match spawned {
            Ok(_) => match ready_rx.recv() {
                Ok(slot) => slot.push(first),
                Err(_) => self.release(first),
            },
            Err(e) => {
                self.release(first);
                self.close(&format!("cannot start a server thread: {e}"), true);
            }
        }
    }
}

impl Connection {
    /// A server thread's life: serve the peer call chain `logical` until it has no
    /// call in flight, then wait idle for any chain's next request. A chain needs its
    /// own thread only while a call is in flight (nested callbacks must find it), so
    /// threads are bounded by concurrent calls, not by the peer threads ever seen.
    /// Ends when the connection closes or the idle pool is full.
    fn serve(&self, mut logical: u64, slot: &Arc<Slot>) {
        let inner = &*self.inner;
        let mut reader = None;
        while let Ok(frame) =
            inner.wait_frame(slot, logical, reader.take(), Wait::Request, Duration::ZERO)
        {
            if logical == IDLE_CHAIN {
                logical = frame.header.thread;
                inner.rebind_server(logical);
            }
            match frame.kind {
                Kind::Request | Kind::Callback => {
                    inner.trace_frame(DIR_RECV, &frame, 0);
                    reader = self.handle(frame);
                }
                kind => {
                    let call = frame.header.call_id;
                    inner.release(frame);
                    inner.close(
                        &format!("peer sent an unexpected {} #{call}", kind.name()),
                        true,
                    );
                }
            }
            inner.handling.fetch_sub(1, Ordering::SeqCst);
            match inner.after_request(logical, slot) {
                AfterRequest::Busy => {}
                AfterRequest::Idle => {
                    logical = IDLE_CHAIN;
                    inner.rebind_server(logical);
                }
                AfterRequest::End => break,
            }
        }
        if let Some(guard) = reader.take() {
            inner.vacate(guard);
        }
        let mut routes = inner.routes.lock();
        routes.unroute(logical, slot);
        routes.idle.retain(|s| !Arc::ptr_eq(s, slot));
        routes.server_threads -= 1;
    }
}

impl Inner {
    fn strong(&self) -> Arc<Inner> {
        self.me.upgrade().expect("a method of a live connection")
    }

    /// After a request: keep serving `logical` if it has more queued, else let the chain
    /// go and join the idle pool (or end when the pool is full).
    fn after_request(&self, logical: u64, slot: &Arc<Slot>) -> AfterRequest {
        let mut routes = self.routes.lock();
        if slot.pending.load(Ordering::Acquire) & PENDING_FRAME != 0 {
            return AfterRequest::Busy;
        }
        routes.unroute(logical, slot);
        if routes.idle.len() >= MAX_IDLE_SERVERS {
            return AfterRequest::End;
        }
        routes.idle.push(Arc::clone(slot));
        AfterRequest::Idle
    }

    /// Points this server thread's binding at chain `logical`, so its own calls on the
    /// connection are callbacks into that chain.
    fn rebind_server(&self, logical: u64) {
        CONTEXT.with(|context| {
            if let Some(binding) = context
                .borrow_mut()
                .bindings
                .iter_mut()
                .find(|b| b.conn_id == self.id)
            {
                binding.logical = logical;
            }
        })
    }

    /// Registers the current thread as the server of the peer's chain `logical`.
    fn bind_server(&self, logical: u64) -> Arc<Slot> {
        let slot = Slot::new();
        self.routes.lock().slots.insert(logical, Arc::clone(&slot));
        CONTEXT.with(|context| {
            context.borrow_mut().bindings.push(Binding {
                conn: self.me.clone(),
                conn_id: self.id,
                logical,
                slot: Arc::clone(&slot),
            })
        });
        slot
    }

    /// The archive of a received frame. In place only for a trusted peer's ring records.
    fn archive<'a>(&self, frame: &'a Incoming) -> &'a [u8] {
        match &frame.body {
            // SAFETY: trusted peer (see design.md, "Trust"): the record stays unreleased,
            // so the producer will not reuse it, until `release` after this borrow ends.
            Body::Ring(record) => unsafe {
                std::slice::from_raw_parts(
                    record.ptr.add(FRAME_HEADER_SIZE),
                    record.len - FRAME_HEADER_SIZE,
                )
            },
            Body::Owned(buf) => buf.as_slice(),
        }
    }

    fn finish_call<M: Method, R>(
        &self,
        frame: &Incoming,
        read: impl FnOnce(&<M::Results as rkyv::Archive>::Archived) -> R,
    ) -> Result<R, Error> {
        let archive = self.archive(frame);
        if frame.kind == Kind::Error {
            let error = frame::access::<RemoteError>(archive)
                .and_then(frame::deserialize::<RemoteError>)
                .map_err(Error::Protocol)?;
            if let Some(log) = self.log_enabled() {
                log(&self.log_line(format_args!(
                    "IPC client recv {}.{}$Error ({})",
                    M::INTERFACE_NAME,
                    M::NAME,
                    error.message
                )));
            }
            return Err(Error::Remote(error));
        }
        let results = frame::access::<M::Results>(archive).map_err(Error::Protocol)?;
        if let Some(log) = self.log_enabled() {
            let owned = frame::deserialize::<M::Results>(results).map_err(Error::Protocol)?;
            log(&self.log_line(format_args!(
                "IPC client recv {}.{}$Results {}",
                M::INTERFACE_NAME,
                M::NAME,
                Truncated(&owned)
            )));
        }
        Ok(read(results))
    }

    /// Returns a frame's ring space, waking the peer's producer if it waits for space,
    /// or its buffer to the pool.
    fn release(&self, frame: Incoming) {
        match frame.body {
            Body::Ring(record) => {
                let wake = self
                    .releaser
                    .lock()
                    .as_mut()
                    .is_some_and(|releaser| releaser.release(&record));
                if wake {
                    self.wake_producer();
                }
            }
            Body::Owned(buffer) => {
                if buffer.capacity() <= POOLED_BUFFER_MAX {
                    let mut pool = self.buffers.lock();
                    if pool.len() < POOLED_BUFFERS {
                        pool.push(buffer);
                    }
                }
            }
        }
    }

    /// An empty aligned buffer with room for `len` bytes, from the pool when possible,
    /// so that copying out small frames allocates nothing once warm.
    fn buffer(&self, len: usize) -> AlignedVec<16> {
        let mut buffer = self.buffers.lock().pop().unwrap_or_default();
        buffer.clear();
        buffer.reserve(len);
        buffer
    }

    fn wake_producer(&self) {
        if let Some(shm) = &self.shm {
            sys::signal(shm.rings.fds[shm.inbound].space.as_fd());
        }
    }

    fn wake_consumer(&self, mode: WakeMode) {
        let Some(shm) = &self.shm else { return };
        let fds = &shm.rings.fds[shm.outbound];
        match mode {
            WakeMode::Active => {}
            WakeMode::ReaderParked => sys::signal(fds.data.as_fd()),
            WakeMode::NoReader => sys::signal(fds.background.as_fd()),
        }
    }

    /// Sends one message, serialized by `write` straight into ring space when it fits.
    /// If the sender must block for space it first gives up `reader`, so that two
    /// processes each blocked on a full ring can never hold each other's reader.
    fn send<'a>(
        &'a self,
        header: FrameHeader,
        request_ticks: u64,
        reader: &mut Option<ReaderGuard<'a>>,
        write: impl Fn(Sink<'_>) -> Result<usize, rkyv::rancor::Error>,
    ) -> Result<(), Error> {
        if self.closed.load(Ordering::Acquire) {
            return Err(self.disconnected());
        }
        let mut tx = self.tx.lock();
        let tx = &mut *tx;
        let size = match &mut tx.outbound {
            Outbound::Ring(producer) => {
                // First try: serialize straight into whatever contiguous space is free.
                let direct = producer
                    .grant(FRAME_HEADER_SIZE + 256)
                    .map_err(|e| self.fail(e.to_string()))?;
                let mut sent = None;
                if let Some(grant) = direct {
                    // SAFETY: the grant reserves `capacity` bytes for us alone.
                    let archive_ptr = unsafe { grant.ptr.add(FRAME_HEADER_SIZE) };
                    let sink = Sink::raw(archive_ptr, grant.capacity - FRAME_HEADER_SIZE);
                    // An error means the space at hand is too small: use the scratch buffer.
                    if let Ok(len) = write(sink) {
                        write_header(grant.ptr, &header);
                        let mode = producer.commit(grant, FRAME_HEADER_SIZE + len);
                        self.wake_consumer(mode);
                        sent = Some(FRAME_HEADER_SIZE + len);
                    }
                }
                match sent {
                    Some(size) => size,
                    None => {
                        let len = write(Sink::vec(&mut tx.scratch))
                            .map_err(|e| Error::Serialize(e.to_string()))?;
                        self.send_scratch(producer, &tx.scratch[..len], header, reader)?
                    }
                }
            }
            Outbound::Socket(writer) => {
                let len = write(Sink::vec(&mut tx.scratch))
                    .map_err(|e| Error::Serialize(e.to_string()))?;
                if FRAME_HEADER_SIZE + len > self.opts.max_message {
                    return Err(Error::TooLarge(len));
                }
                let record = RecordHeader {
                    len: (FRAME_HEADER_SIZE + len) as u32,
                    tag: u32::from_le_bytes(*b"DATA"),
                };
                if let Err(e) = writer.write_frame(
                    self.socket.as_fd(),
                    &[record.as_bytes(), header.as_bytes(), &tx.scratch[..len]],
                    self.opts.park_timeout,
                    &self.closed,
                ) {
                    return Err(self.fail(e));
                }
                FRAME_HEADER_SIZE + len
            }
        };
        if let Some(trace) = self.trace() {
            let now = sys::ticks();
            let latency = if request_ticks != 0 {
                now.saturating_sub(request_ticks)
            } else {
                0
            };
            trace.record(self.trace_record(now, DIR_SEND, &header, size, latency));
        }
        Ok(())
    }

    /// Copies a serialized message into the ring, waiting for space and chunking it
    /// when it is larger than one record may be.
    fn send_scratch<'a>(
        &'a self,
        producer: &mut Producer,
        archive: &[u8],
        header: FrameHeader,
        reader: &mut Option<ReaderGuard<'a>>,
    ) -> Result<usize, Error> {
        if FRAME_HEADER_SIZE + archive.len() > self.opts.max_message {
            return Err(Error::TooLarge(archive.len()));
        }
        let chunk_max = producer.max_payload() - FRAME_HEADER_SIZE;
        let mut rest = archive;
        loop {
            let chunk = &rest[..rest.len().min(chunk_max)];
            rest = &rest[chunk.len()..];
            let flags = if rest.is_empty() { 0 } else { FLAG_MORE };
            let grant = self.wait_for_space(producer, FRAME_HEADER_SIZE + chunk.len(), reader)?;
            let header = FrameHeader { flags, ..header };
            // SAFETY: the grant holds at least header plus chunk bytes.
            unsafe {
                write_header(grant.ptr, &header);
                std::ptr::copy_nonoverlapping(
                    chunk.as_ptr(),
                    grant.ptr.add(FRAME_HEADER_SIZE),
                    chunk.len(),
                );
            }
            let mode = producer.commit(grant, FRAME_HEADER_SIZE + chunk.len());
            self.wake_consumer(mode);
            if rest.is_empty() {
                return Ok(FRAME_HEADER_SIZE + archive.len());
            }
        }
    }

    fn wait_for_space<'a>(
        &'a self,
        producer: &mut Producer,
        len: usize,
        reader: &mut Option<ReaderGuard<'a>>,
    ) -> Result<ring::Grant, Error> {
        let shm = self.shm.as_ref().expect("ring mode");
        let space = shm.rings.fds[shm.outbound].space.as_fd();
        loop {
            if let Some(grant) = producer.grant(len).map_err(|e| self.fail(e.to_string()))? {
                if grant.capacity >= len {
                    return Ok(grant);
                }
            }
            if self.closed.load(Ordering::Acquire) {
                return Err(self.disconnected());
            }
            if let Some(guard) = reader.take() {
                self.vacate(guard);
            }
            producer.set_waiting_for_space(true);
            let ready = producer
                .grant(len)
                .map_err(|e| self.fail(e.to_string()))?
                .is_some_and(|g| g.capacity >= len);
            if !ready {
                if let Err(e) = self.wait_event(space) {
                    producer.set_waiting_for_space(false);
                    return Err(self.fail(format!("poll failed: {e}")));
                }
            }
            producer.set_waiting_for_space(false);
        }
    }

    fn fail(&self, reason: String) -> Error {
        self.close(&reason, true);
        self.disconnected()
    }

    /// Closes the connection once: tells the peer (if `notify`), fails every waiter and
    /// runs the close callbacks.
    fn close(&self, reason: &str, notify: bool) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        *self.close_reason.lock() = Some(reason.to_string());
        if let Some(log) = self.log_enabled() {
            log(&self.log_line(format_args!(
                "IPC connection to {}-{} closed: {reason}",
                self.peer.name, self.peer.pid
            )));
        }
        if notify {
            // Best effort: the shutdown below is what the peer relies on.
            let _ = rustix::net::shutdown(&self.socket, rustix::net::Shutdown::Write);
        }
        let _ = rustix::net::shutdown(&self.socket, rustix::net::Shutdown::Read);
        self.fail_all();
        let callbacks = std::mem::take(&mut *self.close_callbacks.lock());
        for callback in callbacks {
            callback(reason);
        }
    }

    /// Wakes every waiting thread so it sees the closed flag.
    fn fail_all(&self) {
        let routes = self.routes.lock();
        for slot in routes
            .slots
            .values()
            .chain(routes.followers.iter().map(|(f, _)| f))
        {
            slot.thread.unpark();
        }
        if let Some(shm) = &self.shm {
            for fds in &shm.rings.fds {
                sys::signal(fds.data.as_fd());
                sys::signal(fds.space.as_fd());
            }
        }
    }
}

fn write_header(ptr: *mut u8, header: &FrameHeader) {
    // SAFETY: callers pass the start of a grant, which has room for the header.
    unsafe {
        std::ptr::copy_nonoverlapping(header.as_bytes().as_ptr(), ptr, FRAME_HEADER_SIZE);
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.inner.id)
            .field("peer", &self.inner.peer)
            .field("transport", &self.transport())
            .finish()
    }
}

/// Makes an unconnected pair of sockets, for a parent to hand one end to a child.
pub fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::net::socketpair(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_budget_follows_the_peers_answer_time() {
        let max = 50_000;
        // Answers slower than any allowed spin halve the budget down to the floor.
        let mut budget = max;
        for _ in 0..20 {
            budget = spin_after_wait(budget, 150_000, false, max);
        }
        assert_eq!(budget, MIN_SPIN_NS);
        // From there, a missed answer that a spin could have caught sets twice its wait
        // (halving alone stayed stuck below a 5 µs answer, parking on every call).
        budget = spin_after_wait(budget, 5_000, false, max);
        assert_eq!(budget, 10_000);
        assert_eq!(spin_after_wait(budget, 4_000, true, max), 10_000);
        assert_eq!(spin_after_wait(MIN_SPIN_NS, 40_000, false, max), max);
        assert_eq!(spin_after_wait(MIN_SPIN_NS, 100, false, max), MIN_SPIN_NS);
        // -ipcspin=0 never spins, and a budget below the floor is kept, not raised.
        assert_eq!(spin_after_wait(0, 0, false, 0), 0);
        assert_eq!(spin_after_wait(0, 10_000, false, 0), 0);
        assert_eq!(spin_after_wait(1_000, 1_000_000, false, 1_000), 1_000);
        assert_eq!(spin_after_wait(1_000, 500, false, 1_000), 1_000);
    }
}
