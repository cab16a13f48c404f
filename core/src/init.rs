//! Start-up and shutdown of the `hashvived` process: settings, data directory, logging,
//! chainstate, RPC server and signals. The binary only calls [`run_daemon`].

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::args::{default_datadir, specs, ArgKind, ArgSpec, ArgsError, ArgsManager};
use crate::chainparams::ChainParams;
use crate::interfaces::{Chain, NodeChain, WalletLoader};
use crate::log_info;
use crate::logging::{self, LogConfig};
use crate::net::{self, Connman, NetConfig};
use crate::node::Node;
use crate::rpc::auth::{Authenticator, CookieFile, COOKIE_USER};
use crate::rpc::server::{RpcServer, ServerConfig, Subnet};
use crate::rpc::RpcContext;
use crate::settings::RwSettings;
use crate::signals::Signal;

/// Options of `hashvived`.
pub const DAEMON_ARGS: &[ArgSpec] = specs![
    "?" Single "Print this help message and exit",
    "h" Single "Print this help message and exit",
    "help" Single "Print this help message and exit",
    "version" Single "Print version and exit",
    "regtest" Single "Use the regression test chain",
    "testnet" Single "Use the test chain (not supported)",
    "testnet4" Single "Use the testnet4 chain (not supported)",
    "signet" Single "Use the signet chain (not supported)",
    "chain" Single "Use the chain <chain> (only regtest is supported)",
    "datadir" Single "Specify data directory (default: ~/.hashvive)",
    "conf" Single "Specify configuration file, relative to the datadir (default: hashvive.conf)",
    "includeconf" Single "Specify additional configuration file (config file only)",
    "printtoconsole" Single "Send trace/debug info to console as well as debug.log",
    "debuglogfile" Single "Specify the debug log file (default: debug.log); -nodebuglogfile disables it",
    "debug" List "Output debug logging for <category> (repeatable; 1 or all for every category)",
    "logtimemicros" Single "Add microsecond precision to debug timestamps",
    "logtimestamps" Single "Prepend debug output with timestamp (always on)",
    "shrinkdebugfile" Single "Shrink debug.log file on client startup",
    "server" Single "Accept JSON-RPC commands (default: 1)",
    "minrelaytxfee" Single "Fees (in BTC/kvB) smaller than this are considered zero fee for relaying (default: 0.00001)",
    "rpcbind" List "Bind to given address to listen for JSON-RPC connections (needs -rpcallowip)",
    "rpcallowip" List "Allow JSON-RPC connections from specified source (IP, IP/CIDR or IP/netmask)",
    "persistmempool" Single "Whether to save the mempool on shutdown and load on restart (default: 1)",
    "acceptstalefeeestimates" Single "Read fee estimates even if they are stale (default: 0)",
    "acceptnonstdtxn" Single "Relay and mine \"non-standard\" transactions (test networks only; default: 0)",
    "datacarrier" Single "Relay and mine data carrier transactions (default: 1)",
    "datacarriersize" Single "Relay and mine transactions whose data-carrying raw scriptPubKey is of this size or less (default: 83)",
    "limitancestorcount" Single "Do not accept transactions if number of in-mempool ancestors is <n> or more (default: 25)",
    "limitancestorsize" Single "Do not accept transactions whose size with all in-mempool ancestors exceeds <n> kilobytes (default: 101)",
    "limitdescendantcount" Single "Do not accept transactions if any ancestor would have <n> or more in-mempool descendants (default: 25)",
    "limitdescendantsize" Single "Do not accept transactions if any ancestor would have more than <n> kilobytes of in-mempool descendants (default: 101)",
    "mocktime" Single "Replace actual time with UNIX epoch time (default: 0)",
    "checkblocks" Single "How many blocks to check at startup (default: 6, 0 = all)",
    "checklevel" Single "How thorough the block verification of -checkblocks is: 0-4 (default: 3)",
    "maxmempool" Single "Keep the transaction memory pool below <n> megabytes (default: 300)",
    "mempoolexpiry" Single "Do not keep transactions in the mempool longer than <n> hours (default: 336)",
    "txindex" Single "Maintain a full transaction index, used by the getrawtransaction rpc call (default: 0)",
    "rpcport" Single "Listen for JSON-RPC connections on <port> (regtest default: 18443)",
    "rpcuser" Single "Username for JSON-RPC connections",
    "rpcpassword" Single "Password for JSON-RPC connections",
    "rpcauth" List "Username and HMAC-SHA-256 hashed password for JSON-RPC connections (user:salt$hash)",
    "rpccookiefile" Single "Location of the auth cookie, relative to the chain's data directory",
    "rpcthreads" Single "Number of threads to service RPC calls (default: 16)",
    "rpcworkqueue" Single "Depth of the work queue to service RPC calls (default: 64)",
    "rpcservertimeout" Single "Timeout during HTTP requests in seconds (default: 30)",
    "logsourcelocations" Ignored "Accepted for compatibility; not implemented",
    "loglevel" Ignored "Accepted for compatibility; not implemented",
    "logratelimit" Ignored "Accepted for compatibility; not implemented",
    "v2transport" Ignored "Accepted for compatibility; not implemented",
    "debugexclude" List "Exclude debug and trace logging for a category (repeatable)",
    "uacomment" List "Append comment to the user agent string",
    "logthreadnames" Single "Prepend debug output with name of the originating thread",
    "par" Ignored "Accepted for compatibility; not implemented",
    "unsafesqlitesync" Ignored "Accepted for compatibility; not implemented",
    "rpcdoccheck" Ignored "Accepted for compatibility; not implemented",
    "port" Single "Listen for connections on <port> (regtest default: 18444)",
    "listen" Single "Accept connections from outside (default: 1 if no -connect)",
    "bind" List "Bind to given address and always listen on it (default: 0.0.0.0)",
    "connect" List "Connect only to the specified node(s); -connect=0 disables automatic connections",
    "addnode" List "Add a node to connect to and attempt to keep the connection open",
    "maxconnections" Single "Maintain at most <n> automatic connections to peers (default: 125)",
    "whitelist" List "Add permission flags to the peers connecting from the given IP address or subnet ([permissions@]IP/CIDR; default permissions: relay,noban,mempool,download)",
    "blocksonly" Single "Whether to reject transactions from network peers (default: 0)",
    "networkactive" Single "Enable all P2P network activity (default: 1). Can be changed by the setnetworkactive RPC command",
    "discover" Ignored "Address discovery (not used on regtest)",
    "dnsseed" Ignored "DNS seeding (regtest has no DNS seeds)",
    "fixedseeds" Ignored "Fixed seeds (regtest has none)",
    "listenonion" Ignored "Tor (not implemented)",
    "upnp" Ignored "UPnP (not implemented)",
    "natpmp" Ignored "NAT-PMP (not implemented)",
    "peertimeout" Ignored "P2P inactivity timeout (not implemented; the handshake must finish within 60 s)",
    "disablewallet" Single "Do not load the wallet and disable wallet RPC calls",
    "walletdir" Single "Specify directory to hold wallets (default: <datadir>/wallets if it exists, otherwise <datadir>)",
    "wallet" List "Specify wallet path to load at startup. Can be used multiple times to load multiple wallets. Path is to a directory containing wallet data and log files. If the path is not absolute, it is interpreted relative to <walletdir>. This only loads existing wallets and does not create new ones. For backwards compatibility this also accepts names of existing top-level data files in <walletdir>.",
    "keypool" Single "Set key pool size to <n> (default: 1000). Warning: Smaller sizes may increase the risk of losing funds when restoring from an old backup, if none of the addresses in the original keypool have been used.",
    "fallbackfee" Single "A fee rate (in BTC/kvB) that will be used when fee estimation has insufficient data. 0 to entirely disable the fallbackfee feature. (default: 0.00)",
    "paytxfee" Single "Fee rate (in BTC/kvB) to add to transactions you send (default: 0.00)",
    "mintxfee" Single "Fee rates (in BTC/kvB) smaller than this are considered zero fee for transaction creation (default: 0.00001)",
    "maxtxfee" Single "Maximum total fees (in BTC) to use in a single wallet transaction; setting this too low may abort large transactions (default: 0.10)",
    "txconfirmtarget" Single "If paytxfee is not set, include enough fee so transactions begin confirmation on average within n blocks (default: 6)",
    "walletrbf" Single "Send transactions with full-RBF opt-in enabled (RPC only, default: 1)",
    "spendzeroconfchange" Single "Spend unconfirmed change when sending transactions (default: 1)",
    "addresstype" Single "What type of addresses to use (\"legacy\", \"p2sh-segwit\", \"bech32\", or \"bech32m\", default: \"bech32\")",
    "changetype" Single "What type of change to use (\"legacy\", \"p2sh-segwit\", \"bech32\", or \"bech32m\"). Default is \"legacy\" when -addresstype=legacy, else it is an implementation detail.",
    "walletbroadcast" Single "Make the wallet broadcast transactions (default: 1)",
    "avoidpartialspends" Single "Group outputs by address, selecting many (possibly all) or none, instead of selecting on a per-output basis. (default: 0)",
    "deprecatedrpc" Ignored "No deprecated RPCs exist yet",
];

/// Options `hashvive-node` accepts beyond [`DAEMON_ARGS`].
pub const NODE_IPC_ARGS: &[ArgSpec] = specs![
    "ipcbind" List "Listen for hashvive-wallet and hashvive-gui processes on <address>: unix (<datadir>/<chain>/node.sock) or unix:<path>",
    "ipcshm" Single "Use shared-memory rings for IPC when the peer allows it (default: 1); 0 keeps frames on the socket",
    "ipcspin" Single "Longest an IPC reader spins before sleeping, in microseconds (default: 1000)",
    "ipctrace" Single "Record every IPC frame into <file>, relative to the chain's data directory",
];

/// Options of `hashvive-wallet`. Spawned, it gets only `-ipcfd`; its settings come from
/// the node.
pub const WALLET_PROCESS_ARGS: &[ArgSpec] = specs![
    "?" Single "Print this help message and exit",
    "h" Single "Print this help message and exit",
    "help" Single "Print this help message and exit",
    "version" Single "Print version and exit",
    "ipcfd" Single "Talk to the parent process over this inherited socket (set by hashvive-node)",
    "ipcconnect" Single "Attach to a running hashvive-node at <address>: auto or unix (<datadir>/<chain>/node.sock) or unix:<path>",
    "ipcshm" Single "Use shared-memory rings for IPC when the peer allows it (default: 1)",
    "ipcspin" Single "Longest an IPC reader spins before sleeping, in microseconds (default: 1000)",
    "ipctrace" Single "Record every IPC frame into <file>",
    "datadir" Single "Specify data directory (default: ~/.hashvive), to find the node's socket",
    "regtest" Single "Use the regression test chain",
    "chain" Single "Use the chain <chain> (only regtest is supported)",
    "printtoconsole" Single "Send log lines to the console before the node's settings arrive",
];

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
    }
}

/// Takes an exclusive `flock` on `<chain dir>/.lock`, held while the returned file is open.
fn lock_dir(dir: &Path) -> Result<std::fs::File, String> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(|e| e.to_string())?;
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor we own.
    let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if r != 0 {
        return Err(format!(
            "Cannot obtain a lock on data directory {}. hashvive is probably already running.",
            dir.display()
        ));
    }
    Ok(f)
}

fn usage(program: &str, extra: &[ArgSpec]) -> String {
    let mut out = format!(
        "{program} version v{}\n\nUsage:  {program} [options]\n\nOptions:\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for s in DAEMON_ARGS
        .iter()
        .chain(extra)
        .filter(|s| s.kind != ArgKind::Ignored && !["?", "h"].contains(&s.name))
    {
        out.push_str(&format!("  -{}\n       {}\n\n", s.name, s.help));
    }
    out
}

/// Parses `-rpcbind=addr[:port]` (IPv6 in brackets when a port is given).
fn parse_bind(s: &str, default_port: u16) -> Option<std::net::SocketAddr> {
    if let Ok(sa) = s.parse::<std::net::SocketAddr>() {
        return Some(sa);
    }
    let ip: std::net::IpAddr = s
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()?;
    Some(std::net::SocketAddr::new(ip, default_port))
}

/// Parses a BTC/kvB amount such as `0.00001` into sat/kvB.
fn parse_fee_rate(v: &str) -> Option<u64> {
    bitcoin::Amount::from_str_in(v.trim(), bitcoin::Denomination::Bitcoin)
        .ok()
        .map(|a| a.to_sat())
}

/// The P2P settings: `-listen`, `-bind`, `-port`, `-connect`, `-addnode`,
/// `-maxconnections`, `-whitelist`, `-blocksonly`, `-uacomment`, `-networkactive`.
fn net_config(args: &ArgsManager, params: &ChainParams) -> Result<NetConfig, String> {
    let comments = args.get_args("uacomment");
    if let Some(bad) = comments.iter().find(|c| !net::is_safe_ua_comment(c)) {
        return Err(e(format!(
            "User Agent comment ({bad}) contains unsafe characters."
        )));
    }
    let user_agent = net::user_agent(&comments);
    if user_agent.len() > 256 {
        return Err(e(format!("Total length of network version string ({}) exceeds maximum length (256). Reduce the number or size of uacomments.", user_agent.len())));
    }
    let port = args
        .get_int("port", i64::from(params.p2p_port))
        .map_err(|err| err.to_string())?;
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| e(format!("Invalid port specified in -port: '{port}'")))?;
    let connect = args.get_args("connect");
    // As in Core, connecting only to given nodes turns listening off unless asked for.
    let connect_only = connect.iter().any(|c| c != "0");
    let mut bind = Vec::new();
    for b in args.get_args("bind") {
        let addr = b.strip_suffix("=onion").unwrap_or(&b);
        bind.push(
            parse_bind(addr, port)
                .ok_or_else(|| e(format!("Cannot resolve -bind address: '{b}'")))?,
        );
    }
    if bind.is_empty() {
        bind.push(std::net::SocketAddr::from(([0, 0, 0, 0], port)));
    }
    let whitelist = args
        .get_args("whitelist")
        .iter()
        .map(|w| net::parse_whitelist(w).map_err(e))
        .collect::<Result<Vec<_>, _>>()?;
    let max_connections = args
        .get_int("maxconnections", net::DEFAULT_MAX_CONNECTIONS as i64)
        .map_err(|err| err.to_string())?
        .max(0) as usize;
    Ok(NetConfig {
        // An explicit -bind means listening, even with -connect (Core's interaction).
        listen: args.get_bool("listen", !connect_only || !args.get_args("bind").is_empty()),
        bind,
        default_port: port,
        connect,
        addnode: args.get_args("addnode"),
        max_connections,
        whitelist,
        blocks_only: args.get_bool("blocksonly", false),
        user_agent,
        network_active: args.get_bool("networkactive", true),
    })
}

/// The mempool's options from `-maxmempool`, `-mempoolexpiry`, `-acceptnonstdtxn`,
/// `-datacarrier(size)` and `-limit{ancestor,descendant}{count,size}` (sizes in kvB).
fn mempool_options(args: &ArgsManager) -> Result<crate::mempool::Options, String> {
    let defaults = crate::mempool::Options::default();
    let int = |name: &str, default: i64| -> Result<i64, String> {
        args.get_int(name, default).map_err(|err| err.to_string())
    };
    let count = |name: &str, default: usize| -> Result<usize, String> {
        Ok(int(name, default as i64)?.max(0) as usize)
    };
    let kvb = |name: &str, default: u64| -> Result<u64, String> {
        Ok((int(name, (default / 1000) as i64)?.max(0) as u64).saturating_mul(1000))
    };
    let datacarrier_size = int("datacarriersize", crate::policy::MAX_OP_RETURN_RELAY as i64)?;
    let mut options = crate::mempool::Options {
        max_bytes: 0,
        expiry_secs: int(
            "mempoolexpiry",
            crate::mempool::DEFAULT_MEMPOOL_EXPIRY_HOURS,
        )?
        .max(0)
        .saturating_mul(3600),
        require_standard: !args.get_bool("acceptnonstdtxn", false),
        max_datacarrier_bytes: args
            .get_bool("datacarrier", true)
            .then_some(datacarrier_size.max(0) as usize),
        ancestor_count: count("limitancestorcount", defaults.ancestor_count)?,
        ancestor_size: kvb("limitancestorsize", defaults.ancestor_size)?,
        descendant_count: count("limitdescendantcount", defaults.descendant_count)?,
        descendant_size: kvb("limitdescendantsize", defaults.descendant_size)?,
    };
    let max_mb = int("maxmempool", crate::mempool::DEFAULT_MAX_MEMPOOL_MB as i64)?;
    let min_mb = options.min_max_mempool_mb();
    if max_mb < min_mb as i64 {
        return Err(e(format!("-maxmempool must be at least {min_mb} MB")));
    }
    options.max_bytes = (max_mb as u64).saturating_mul(1_000_000);
    Ok(options)
}

/// Runs the daemon until `stop` or a signal; returns the process exit code.
/// What the daemon needs to start wallets: the `Chain` they work through, the RPC table
/// they register with, the settings, and the chain's data directory.
pub struct WalletEnv<'a> {
    /// The node as the wallet sees it.
    pub chain: Arc<dyn Chain>,
    /// The RPC server's context: its table of registered commands, and the `echoipc`
    /// route.
    pub rpc: Arc<RpcContext>,
    /// The daemon's settings.
    pub args: &'a ArgsManager,
    /// `<datadir>/<chain>`.
    pub chain_dir: &'a Path,
}

/// Where the wallet runs: in this process (`hashvived`) or in others (`hashvive-node`).
pub trait WalletHost {
    /// Executable name, for `-help`, `-version` and the log.
    fn program(&self) -> &'static str;
    /// Options this executable accepts beyond [`DAEMON_ARGS`].
    fn extra_args(&self) -> &'static [ArgSpec];
    /// Starts the wallets once the node is ready (not called with `-disablewallet`).
    fn start(&mut self, env: WalletEnv<'_>) -> Result<(), String>;
    /// Flushes and stops the wallets at shutdown, before the node stops.
    fn stop(&mut self);
}

/// Drives a new wallet loader through Core's start-up order.
pub fn start_wallet_loader(loader: &dyn WalletLoader) -> Result<(), String> {
    loader.register_rpcs();
    loader.verify().map_err(e)?;
    loader.load().map_err(e)?;
    loader.start();
    Ok(())
}

/// The wallet in this process, reached through plain calls (`hashvived`).
#[derive(Default)]
pub struct InProcessWallet {
    loader: Option<Arc<dyn WalletLoader>>,
}

impl WalletHost for InProcessWallet {
    fn program(&self) -> &'static str {
        "hashvived"
    }

    fn extra_args(&self) -> &'static [ArgSpec] {
        &[]
    }

    fn start(&mut self, env: WalletEnv<'_>) -> Result<(), String> {
        if let Some(loader) = make_wallet_loader(env.chain) {
            start_wallet_loader(loader.as_ref())?;
            self.loader = Some(loader);
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(loader) = self.loader.take() {
            loader.flush();
            loader.stop();
        }
    }
}

/// Runs the daemon with its wallet in `host`; returns the exit code.
pub fn run_daemon(argv: Vec<String>, host: &mut dyn WalletHost) -> i32 {
    match run(argv, host) {
        Ok(()) => 0,
        Err(msg) => {
            crate::logging::write_line(None, &msg);
            eprintln!("{msg}");
            1
        }
    }
}

/// The wallet component for `chain`, in this process: where the wallet plugs into the
/// node. `None` means this build has no wallet.
pub fn make_wallet_loader(chain: Arc<dyn Chain>) -> Option<Arc<dyn WalletLoader>> {
    Some(crate::wallet::Loader::new(chain))
}

fn e(err: impl std::fmt::Display) -> String {
    format!("Error: {err}")
}

fn run(argv: Vec<String>, host: &mut dyn WalletHost) -> Result<(), String> {
    let mut args =
        ArgsManager::parse_command_line_with(DAEMON_ARGS, host.extra_args(), &argv, false)
            .map_err(|e: ArgsError| e.to_string())?;
    if ["?", "h", "help"].iter().any(|h| args.is_set(h)) {
        print!("{}", usage(host.program(), host.extra_args()));
        return Ok(());
    }
    if args.is_set("version") {
        println!("{} version v{}", host.program(), env!("CARGO_PKG_VERSION"));
        return Ok(());
    }
    let datadir = match args.get_arg("datadir") {
        Some(d) => {
            let p = PathBuf::from(&d);
            if !p.is_dir() {
                return Err(e(format!(
                    "Specified data directory \"{d}\" does not exist."
                )));
            }
            std::path::absolute(&p).map_err(e)?
        }
        None => {
            let d = default_datadir();
            std::fs::create_dir_all(&d).map_err(e)?;
            d
        }
    };
    args.read_config_files(&datadir)
        .map_err(|e| e.to_string())?;
    let params = ChainParams::for_chain(args.chain())?;
    let chain_dir = datadir.join(params.data_subdir);
    std::fs::create_dir_all(&chain_dir).map_err(e)?;
    let _lock = lock_dir(&chain_dir).map_err(e)?;

    let log_path = match args.get_arg("debuglogfile") {
        Some(v) if args.is_negated("debuglogfile") || v == "0" => None,
        Some(v) => Some(crate::args::abs_path(&chain_dir, &v)),
        None => Some(chain_dir.join("debug.log")),
    };
    logging::init(LogConfig {
        file: log_path.as_deref(),
        print_to_console: args.get_bool("printtoconsole", false),
        time_micros: args.get_bool("logtimemicros", false),
        thread_names: args.get_bool("logthreadnames", false),
        // Core keeps the whole log when debugging is on.
        shrink: args.get_bool("shrinkdebugfile", args.get_args("debug").is_empty()),
    })
    .map_err(e)?;
    log_info!("hashvive version v{}", env!("CARGO_PKG_VERSION"));
    log_info!("Using data directory {}", chain_dir.display());
    for opt in args.ignored_options() {
        log_info!("Ignoring unsupported option -{opt}: not implemented");
    }
    for key in args.unknown_config_keys() {
        log_info!("Warning: Ignoring unknown configuration value {key}");
    }
    for cat in args.get_args("debug") {
        if !logging::set_category(&cat, true) {
            log_info!("Warning: Unsupported logging category -debug={cat}.");
        }
    }
    for cat in args.get_args("debugexclude") {
        if !logging::set_category(&cat, false) {
            log_info!("Warning: Unsupported logging category -debugexclude={cat}.");
        }
    }

    let min_relay_fee = match args.get_arg("minrelaytxfee") {
        Some(v) => parse_fee_rate(&v)
            .ok_or_else(|| e(format!("Invalid amount for -minrelaytxfee=<amount>: '{v}'")))?,
        None => crate::policy::DEFAULT_MIN_RELAY_FEE,
    };
    if args.is_set("mocktime") {
        crate::time::set_mock_time(args.get_int("mocktime", 0).map_err(e)?);
    }
    let pool_options = mempool_options(&args)?;
    let node = Arc::new(Node::open(params.clone(), &chain_dir, min_relay_fee).map_err(e)?);
    node.mempool().set_options(pool_options);
    node.chain()
        .set_txindex(args.get_bool("txindex", false))
        .map_err(e)?;
    {
        let level = args.get_int("checklevel", 3).map_err(e)?;
        let depth = args.get_int("checkblocks", 6).map_err(e)?;
        if !node.chain().verify_chain(level, depth).map_err(e)? {
            return Err(e("Corrupted block database detected."));
        }
    }
    match node.load_fee_estimates(args.get_bool("acceptstalefeeestimates", false)) {
        Ok(true) => log_info!(
            "Loaded fee estimates from {}",
            node.fee_estimates_path().display()
        ),
        Ok(false) => {}
        Err(err) => log_info!("{err}"),
    }
    let persist_mempool = args.get_bool("persistmempool", true);
    if persist_mempool {
        match node.load_mempool() {
            Ok(l) => log_info!(
                "Imported mempool transactions from disk: {} succeeded, {} failed, {} expired",
                l.accepted,
                l.failed,
                l.expired
            ),
            Err(err) => log_info!("Failed to import mempool from disk: {err}"),
        }
    }
    {
        let chain = node.chain();
        log_info!(
            "Loaded best chain: hashBestChain={} height={}",
            chain.tip().hash,
            chain.height()
        );
    }
    install_signal_handlers();
    let connman = Connman::start(Arc::clone(&node), net_config(&args, &params)?).map_err(e)?;

    let rw_settings = Arc::new(RwSettings::open(&chain_dir.join("settings.json")).map_err(e)?);
    let rpc_context = Arc::new(
        RpcContext::new(Arc::clone(&node), log_path.clone().unwrap_or_default())
            .with_net(Arc::clone(&connman)),
    );
    let wallet_enabled = !args.get_bool("disablewallet", false);
    if wallet_enabled {
        let wallet_dir = match args.get_arg("walletdir") {
            Some(d) if !d.is_empty() => {
                let p = crate::args::abs_path(&datadir, &d);
                if !p.is_dir() {
                    return Err(e(format!(
                        "Specified -walletdir \"{}\" does not exist",
                        p.display()
                    )));
                }
                p
            }
            _ => chain_dir.join("wallets"),
        };
        let chain: Arc<dyn Chain> = Arc::new(NodeChain::new(
            Arc::clone(&node),
            Arc::clone(&rpc_context.client_commands),
            Arc::new(args.clone()),
            Arc::clone(&rw_settings),
            wallet_dir,
            log_path.clone(),
        ));
        host.start(WalletEnv {
            chain,
            rpc: Arc::clone(&rpc_context),
            args: &args,
            chain_dir: &chain_dir,
        })?;
    } else {
        log_info!("Wallet disabled!");
    }

    let mut cookie: Option<CookieFile> = None;
    let server = if args.get_bool("server", true) {
        let mut auth = Authenticator::default();
        let password = args
            .get_arg("rpcpassword")
            .filter(|p| !p.is_empty() && !args.is_negated("rpcpassword"));
        match password {
            Some(pw) => auth.add_plain(&args.get_arg_or("rpcuser", ""), &pw),
            None => {
                let name = args.get_arg_or("rpccookiefile", ".cookie");
                let path = crate::args::abs_path(&chain_dir, &name);
                let (file, secret) = CookieFile::generate(&path).map_err(|err| {
                    e(format!(
                        "Unable to write auth cookie {}: {err}",
                        path.display()
                    ))
                })?;
                log_info!("Generated RPC authentication cookie {}", path.display());
                auth.add_plain(COOKIE_USER, &secret);
                cookie = Some(file);
            }
        }
        for entry in args.get_args("rpcauth") {
            auth.add_rpcauth(&entry).map_err(e)?;
        }
        let port = args
            .get_int("rpcport", i64::from(params.rpc_port))
            .map_err(|err| err.to_string())?;
        let port = u16::try_from(port)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| e(format!("Invalid port specified in -rpcport: '{port}'")))?;
        let threads = args
            .get_int("rpcthreads", 16)
            .map_err(|err| err.to_string())?
            .clamp(1, 1024) as usize;
        let work_queue = args
            .get_int("rpcworkqueue", 64)
            .map_err(|err| err.to_string())?
            .clamp(1, 1 << 20) as usize;
        let timeout = args
            .get_int("rpcservertimeout", 30)
            .map_err(|err| err.to_string())?
            .max(1) as u64;
        let ctx = Arc::clone(&rpc_context);
        let allow = args
            .get_args("rpcallowip")
            .iter()
            .map(|s| Subnet::parse(s).ok_or_else(|| e(format!("Invalid -rpcallowip subnet specification: {s}. Valid are a single IP (e.g. 1.2.3.4), a network/netmask (e.g. 1.2.3.4/255.255.255.0) or a network/CIDR (e.g. 1.2.3.4/24)."))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut bind = Vec::new();
        let requested = args.get_args("rpcbind");
        if !requested.is_empty() && allow.is_empty() {
            log_info!("WARNING: option -rpcbind was ignored because -rpcallowip was not specified, refusing to allow everyone to connect");
        } else {
            for b in &requested {
                bind.push(
                    parse_bind(b, port).ok_or_else(|| e(format!("Invalid -rpcbind value: {b}")))?,
                );
            }
        }
        if bind.is_empty() {
            bind.push(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        }
        let config = ServerConfig {
            bind,
            allow,
            threads,
            work_queue,
            timeout: Duration::from_secs(timeout),
            max_connections: crate::rpc::server::DEFAULT_MAX_CONNECTIONS,
        };
        Some(RpcServer::start(config, ctx, auth).map_err(e)?)
    } else {
        None
    };
    log_info!("init message: Done loading");

    while !node.wait_shutdown(Duration::from_millis(100)) {
        if SIGNALLED.load(Ordering::SeqCst) {
            node.request_shutdown();
        }
    }
    log_info!("Shutdown: In progress...");
    if let Some(server) = &server {
        server.stop(Duration::from_secs(10));
    }
    connman.stop();
    node.signals().push([Signal::Flushed(node.locator())]);
    node.signals().sync();
    if wallet_enabled {
        host.stop();
    }
    node.signals().stop();
    if let Err(err) = node.save_fee_estimates() {
        log_info!(
            "Failed to write fee estimates to {}: {err}",
            node.fee_estimates_path().display()
        );
    }
    if persist_mempool {
        match node.save_mempool() {
            Ok(n) => log_info!("Dumped mempool: {n} transactions"),
            Err(err) => log_info!("Failed to dump mempool: {err}. Continuing anyway."),
        }
    }
    drop(cookie);
    log_info!("Shutdown: done");
    Ok(())
}
