//! The generated IPC proxies and dispatchers between a node and a wallet-like client over a
//! real shm-ipc connection (both ends in this process, on a socketpair): objects passed
//! both ways, notifications in order, RPC commands registered across the connection with
//! nested calls back into `Chain`, and registrations undone by handles and by disconnect.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::blockdata::opcodes::OP_TRUE;
use bitcoin::ScriptBuf;
use hashvive_core::args::ArgsManager;
use hashvive_core::chainparams::ChainParams;
use hashvive_core::init::DAEMON_ARGS;
use hashvive_core::interfaces::{
    BlockRef, Chain, Echo, Handler, Init, JsonRequest, LocalEcho, NodeChain, Notifications,
    RpcActor, RpcCommand, WalletLoader,
};
use hashvive_core::ipc::interfaces::init;
use hashvive_core::ipc::{IpcContext, ROOT_OBJECT};
use hashvive_core::node::Node;
use hashvive_core::rpc::dispatch::handle_http_body;
use hashvive_core::rpc::{RpcContext, RpcError};
use hashvive_core::settings::RwSettings;
use parking_lot::Mutex;
use serde_json::{json, Value};
use shm_ipc::{Connection, Options, Side};

#[derive(Default)]
struct Recorder {
    heights: Mutex<Vec<u32>>,
    chain: Mutex<Option<Arc<dyn Chain>>>,
    nested_heights: Mutex<Vec<Option<u32>>>,
}

impl Notifications for Recorder {
    fn block_connected(&self, block: BlockRef<'_>) {
        assert_eq!(block.block.block_hash(), block.hash);
        self.heights.lock().push(block.height);
        // A call back into the node from inside a notification.
        if let Some(chain) = self.chain.lock().as_ref() {
            let found = chain.find_block(&block.hash, false);
            self.nested_heights.lock().push(found.map(|f| f.height));
        }
    }
}

struct HeightActor {
    chain: Arc<dyn Chain>,
}

/// Set by `prepare_broadcast_wakes_a_parked_node` to let its held call finish.
static RELEASE_HELD: AtomicBool = AtomicBool::new(false);

impl RpcActor for HeightActor {
    fn call(&self, request: &JsonRequest) -> Result<Value, RpcError> {
        if request.params.first() == Some(&json!("hold")) {
            while !RELEASE_HELD.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        if request.params.first() == Some(&json!("fail")) {
            return Err(RpcError::new(-4, "asked to fail"));
        }
        Ok(json!({
            "height": self.chain.get_height(),
            "wallet": request.wallet_name,
            "params": request.params,
            "tip": request.tip.map(|t| t.to_string()),
        }))
    }
}

struct TestLoader {
    chain: Arc<dyn Chain>,
    recorder: Arc<Recorder>,
    handlers: Mutex<Vec<Handler>>,
}

impl WalletLoader for TestLoader {
    fn register_rpcs(&self) {
        let handler = self.chain.handle_rpc(RpcCommand {
            category: "wallet".into(),
            name: "getwalletheight".into(),
            params: vec!["arg".into()],
            help: "getwalletheight ( \"arg\" )\n".into(),
            hidden: false,
            actor: Arc::new(HeightActor {
                chain: Arc::clone(&self.chain),
            }),
        });
        self.handlers.lock().push(handler);
    }
    fn verify(&self) -> Result<(), String> {
        Ok(())
    }
    fn load(&self) -> Result<(), String> {
        *self.recorder.chain.lock() = Some(Arc::clone(&self.chain));
        let handler = self.chain.handle_notifications(self.recorder.clone());
        self.handlers.lock().push(handler);
        Ok(())
    }
    fn start(&self) {}
    fn flush(&self) {}
    fn stop(&self) {
        self.handlers.lock().clear();
    }
    fn create_wallet(&self, name: &str, passphrase: Option<String>) -> Result<Vec<String>, String> {
        match passphrase {
            Some(p) => Err(format!("{name} with {p}")),
            None => Ok(vec![format!("created {name}")]),
        }
    }
    fn load_wallet(&self, name: &str) -> Result<Vec<String>, String> {
        Err(format!("no {name}"))
    }
    fn list_wallet_dir(&self) -> Vec<String> {
        vec!["a".into(), "b".into()]
    }
    fn get_wallets(&self) -> Vec<String> {
        self.chain.get_settings_list("wallet")
    }
}

struct TestInit {
    recorder: Arc<Recorder>,
}

impl Init for TestInit {
    fn make_echo(&self) -> Arc<dyn Echo> {
        Arc::new(LocalEcho)
    }
    fn make_wallet_loader(&self, chain: Arc<dyn Chain>) -> Option<Arc<dyn WalletLoader>> {
        Some(Arc::new(TestLoader {
            chain,
            recorder: Arc::clone(&self.recorder),
            handlers: Mutex::new(Vec::new()),
        }))
    }
}

struct Fixture {
    /// `-debug=ipc` lines of the node side.
    node_log: Arc<Mutex<Vec<String>>>,
    node: Arc<Node>,
    ctx: Arc<RpcContext>,
    node_cx: Arc<IpcContext>,
    wallet_cx: Arc<IpcContext>,
    recorder: Arc<Recorder>,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.wallet_cx.conn().close();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn connect(name: &str, shm: bool) -> Fixture {
    let dir = std::env::temp_dir().join(format!("hv-ipc-if-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let node = Arc::new(Node::open(ChainParams::regtest(), &dir, 1000).unwrap());
    let ctx = Arc::new(RpcContext::new(Arc::clone(&node), dir.join("debug.log")));

    let recorder = Arc::new(Recorder::default());
    let wallet_cx = IpcContext::new();
    let root = wallet_cx.add_object::<dyn Init>(Arc::new(TestInit {
        recorder: Arc::clone(&recorder),
    }));
    assert_eq!(root, ROOT_OBJECT);
    let node_cx = IpcContext::new();

    let (a, b) = shm_ipc::socketpair().unwrap();
    let options = |name: &str| Options {
        name: name.into(),
        shm,
        trusted: true,
        ring_capacity: 1 << 20,
        ..Options::default()
    };
    let services = wallet_cx.services();
    let wallet_opts = options("wallet");
    let node_log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&node_log);
    let node_opts = Options {
        log: Some(Arc::new(move |line: &str| {
            sink.lock().push(line.to_string())
        })),
        ..options("node")
    };
    let wallet = std::thread::spawn(move || {
        Connection::new(b, Side::Connector, wallet_opts, services).unwrap()
    });
    let node_conn = Connection::new(a, Side::Acceptor, node_opts, node_cx.services()).unwrap();
    node_cx.set_connection(node_conn);
    wallet_cx.set_connection(wallet.join().unwrap());
    Fixture {
        node_log,
        node,
        ctx,
        node_cx,
        wallet_cx,
        recorder,
        dir,
    }
}

fn node_chain(f: &Fixture) -> Arc<dyn Chain> {
    let argv = vec!["-regtest".to_string(), "-wallet=w1".to_string()];
    let args = ArgsManager::parse_command_line(DAEMON_ARGS, &argv, false).unwrap();
    Arc::new(NodeChain::new(
        Arc::clone(&f.node),
        Arc::clone(&f.ctx.client_commands),
        Arc::new(args),
        Arc::new(RwSettings::open(&f.dir.join("settings.json")).unwrap()),
        f.dir.join("wallets"),
        None,
    ))
}

fn rpc(ctx: &RpcContext, path: &str, body: &str) -> Value {
    let reply = handle_http_body(ctx, body.as_bytes(), path);
    serde_json::from_str(reply.body.as_deref().unwrap()).unwrap()
}

fn op_true() -> ScriptBuf {
    ScriptBuf::new_p2wsh(&ScriptBuf::from(vec![OP_TRUE.to_u8()]).wscript_hash())
}

fn wallet_over_ipc(shm: bool) {
    let f = connect(if shm { "shm" } else { "socket" }, shm);
    let init = init::Proxy::new(Arc::clone(&f.node_cx), ROOT_OBJECT);
    assert_eq!(init.make_echo().echo(b"ping"), Ok(b"ping".to_vec()));
    let loader = init
        .make_wallet_loader(node_chain(&f))
        .expect("a wallet loader");
    loader.register_rpcs();
    loader.verify().unwrap();
    loader.load().unwrap();
    assert_eq!(loader.get_wallets(), vec!["w1"]);
    assert_eq!(loader.list_wallet_dir(), vec!["a", "b"]);
    assert_eq!(
        loader.create_wallet("x", None),
        Ok(vec!["created x".to_string()])
    );
    assert_eq!(
        loader.create_wallet("x", Some("pw".into())),
        Err("x with pw".to_string())
    );
    assert_eq!(loader.load_wallet("y"), Err("no y".to_string()));

    // Notifications cross in order, and the listener may call the node back.
    f.node.generate(&op_true(), 30, u64::MAX).unwrap();
    f.node.signals().sync();
    let expected: Vec<u32> = (1..=30).collect();
    assert_eq!(*f.recorder.heights.lock(), expected);
    let nested: Vec<Option<u32>> = (1..=30).map(Some).collect();
    assert_eq!(*f.recorder.nested_heights.lock(), nested);

    // A stretch of blocks with their data crosses in one call, as the node has it.
    let proxy = f
        .recorder
        .chain
        .lock()
        .clone()
        .expect("the wallet side's Chain");
    let local = node_chain(&f);
    let from = local.get_block_hash(25).unwrap();
    let summary = |found: Vec<hashvive_core::interfaces::FoundBlock>| -> Vec<_> {
        found
            .into_iter()
            .map(|b| {
                (
                    b.hash,
                    b.height,
                    b.max_time,
                    b.next_block,
                    b.data.map(|d| d.decode().unwrap().block_hash()),
                )
            })
            .collect()
    };
    let before = f.node_log.lock().len();
    let crossed = summary(proxy.find_blocks(&from, 10, true));
    let requests = f.node_log.lock()[before..]
        .iter()
        .filter(|l| l.contains("IPC server recv request"))
        .count();
    assert_eq!(requests, 1);
    assert_eq!(crossed.len(), 6, "heights 25 to the tip at 30");
    assert_eq!(crossed, summary(local.find_blocks(&from, 10, true)));
    assert_eq!(crossed[5].4, Some(crossed[5].0));

    // An RPC command registered over IPC, answered by the wallet side calling back into
    // the node while the RPC thread waits.
    let v = rpc(
        &f.ctx,
        "/wallet/w%2F1",
        r#"{"method":"getwalletheight","params":{"arg":"z"},"id":1}"#,
    );
    // The call carries the node's tip across, so a synced wallet need not ask for it.
    let tip = f.node.tip().hash.to_string();
    assert_eq!(
        v["result"],
        json!({"height": 30, "wallet": "w/1", "params": ["z"], "tip": tip})
    );
    let v = rpc(
        &f.ctx,
        "/",
        r#"{"method":"getwalletheight","params":["fail"],"id":1}"#,
    );
    assert_eq!(v["error"], json!({"code": -4, "message": "asked to fail"}));
    let v = rpc(&f.ctx, "/", r#"{"method":"help","id":1}"#);
    assert!(v["result"]
        .as_str()
        .unwrap()
        .contains("== Wallet ==\ngetwalletheight ( \"arg\" )"));

    // Stopping drops the handlers: the registrations end on the node side.
    let before = f.node_cx.object_count();
    loader.stop();
    wait_for(|| f.node_cx.object_count() < before);
    let v = rpc(&f.ctx, "/", r#"{"method":"getwalletheight","id":1}"#);
    assert_eq!(v["error"]["code"], -32601);
    f.node.generate(&op_true(), 1, u64::MAX).unwrap();
    f.node.signals().sync();
    assert_eq!(f.recorder.heights.lock().len(), 30);
}

fn wait_for(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The peer's wallet side, asked for through `Init`, with its RPCs registered with the
/// node and its wallets loaded.
fn loaded_wallet(f: &Fixture) -> (init::Proxy, Arc<dyn WalletLoader>) {
    let init = init::Proxy::new(Arc::clone(&f.node_cx), ROOT_OBJECT);
    let loader = init.make_wallet_loader(node_chain(f)).unwrap();
    loader.register_rpcs();
    loader.load().unwrap();
    (init, loader)
}

#[test]
fn wallet_over_shared_memory() {
    wallet_over_ipc(true);
}

#[test]
fn wallet_over_the_socket_fallback() {
    wallet_over_ipc(false);
}

#[test]
fn disconnect_undoes_the_peers_registrations() {
    let f = connect("disconnect", true);
    let (init, loader) = loaded_wallet(&f);
    let echo = init.make_echo();
    assert_eq!(echo.echo(b"x"), Ok(b"x".to_vec()));
    let v = rpc(&f.ctx, "/", r#"{"method":"getwalletheight","id":1}"#);
    assert_eq!(v["result"]["height"], 0);

    f.wallet_cx.conn().close();
    wait_for(|| f.node_cx.object_count() == 0);
    assert!(!f.node.signals().has_clients());
    let v = rpc(&f.ctx, "/", r#"{"method":"getwalletheight","id":1}"#);
    assert_eq!(v["error"]["code"], -32601);
    // Calls on proxies of the gone peer fail cleanly instead of hanging.
    assert!(echo.echo(b"x").is_err());
    assert!(loader.verify().is_err());
    assert!(loader.get_wallets().is_empty());
}

#[test]
fn wire_ids_have_names_for_trace_readers() {
    use hashvive_core::ipc::interfaces::method_name;
    assert_eq!(method_name(3, 0), Some(("Chain", "get_height")));
    assert_eq!(
        method_name(4, 2),
        Some(("Notifications", "block_connected"))
    );
    assert_eq!(method_name(1, 0), Some(("Objects", "release")));
    assert_eq!(method_name(3, 999), None);
    assert_eq!(method_name(99, 0), None);
}

#[test]
fn cached_methods_cross_once_per_argument_list() {
    let f = connect("cached", true);
    let init = init::Proxy::new(Arc::clone(&f.node_cx), ROOT_OBJECT);
    let loader = init.make_wallet_loader(node_chain(&f)).unwrap();
    let served = || {
        f.node_log
            .lock()
            .iter()
            .filter(|l| {
                l.contains("IPC server recv request") && l.contains("Chain.get_settings_list")
            })
            .count()
    };
    assert_eq!(loader.get_wallets(), vec!["w1"]);
    assert_eq!(served(), 1);
    for _ in 0..5 {
        assert_eq!(loader.get_wallets(), vec!["w1"]);
    }
    assert_eq!(served(), 1, "answered from the proxy's cache");
}

#[test]
fn prepare_broadcast_wakes_a_parked_node() {
    let f = connect("prewake", true);
    let _wallet = loaded_wallet(&f);
    let chain = f
        .recorder
        .chain
        .lock()
        .clone()
        .expect("the wallet side's Chain");
    // A node thread waits for a wallet call that runs long enough for it to park, as
    // it does through a send's coin selection.
    let ctx = Arc::clone(&f.ctx);
    let held = std::thread::spawn(move || {
        rpc(
            &ctx,
            "/",
            r#"{"method":"getwalletheight","params":["hold"],"id":1}"#,
        )
    });
    let wallet = f.wallet_cx.conn();
    wait_for(|| wallet.peer_reader_parked());
    let served = |f: &Fixture| {
        f.node_log
            .lock()
            .iter()
            .filter(|l| l.contains("recv"))
            .count()
    };
    let before = served(&f);
    chain.prepare_broadcast();
    // Woken, it spins for the broadcast (up to the 1 ms default -ipcspin) though no
    // frame came. Its watchdog wakes it every 50 ms too, but then it parks again at once.
    let start = std::time::Instant::now();
    let mut awake_since = None;
    let mut longest = Duration::ZERO;
    while start.elapsed() < Duration::from_millis(500) && longest < Duration::from_micros(300) {
        match (wallet.peer_reader_parked(), awake_since) {
            (false, None) => awake_since = Some(std::time::Instant::now()),
            (false, Some(since)) => longest = longest.max(since.elapsed()),
            (true, _) => awake_since = None,
        }
    }
    let after = served(&f);
    RELEASE_HELD.store(true, Ordering::SeqCst);
    assert_eq!(held.join().unwrap()["result"]["params"], json!(["hold"]));
    assert!(
        longest >= Duration::from_micros(300),
        "prepare_broadcast woke the node's parked reader to spin (awake {longest:?} at most)"
    );
    assert_eq!(after, before, "a hint, not a message");
}
