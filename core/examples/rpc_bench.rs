//! Measures the RPC server in process: `getblockcount` calls per second over one
//! keep-alive connection, and the time of `generatetoaddress 1000`.
//!
//! `cargo run --release -p hashvive-core --example rpc_bench`

use std::sync::Arc;
use std::time::{Duration, Instant};

use hashvive_core::chainparams::ChainParams;
use hashvive_core::node::Node;
use hashvive_core::rpc::auth::Authenticator;
use hashvive_core::rpc::client::RpcClient;
use hashvive_core::rpc::server::{RpcServer, ServerConfig};
use hashvive_core::rpc::RpcContext;

const CALLS: usize = 50_000;
const ADDRESS: &str = "bcrt1qft5p2uhsdcdc3l2ua4ap5qqfg4pjaqlp250x7us7a8qqhrxrxfsqseac85";

fn main() {
    let dir = std::env::temp_dir().join(format!("hv-rpc-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let node = Arc::new(Node::open(ChainParams::regtest(), &dir, 1000).expect("open node"));
    let ctx = Arc::new(RpcContext::new(Arc::clone(&node), dir.join("debug.log")));
    let mut auth = Authenticator::default();
    auth.add_plain("bench", "bench");
    let config = ServerConfig {
        bind: vec!["127.0.0.1:0".parse().expect("address")],
        allow: Vec::new(),
        threads: 4,
        work_queue: 16,
        timeout: Duration::from_secs(30),
        max_connections: 16,
    };
    let server = RpcServer::start(config, ctx, auth).expect("start server");
    let port = server.local_addrs()[0].port();
    let mut client = RpcClient::new("127.0.0.1", port, "bench", "bench", Duration::from_secs(60));
    let body = r#"{"jsonrpc":"2.0","method":"getblockcount","params":[],"id":1}"#;

    let start = Instant::now();
    for _ in 0..CALLS {
        let reply = client.post("/", body).expect("call");
        assert_eq!(reply.status, 200);
    }
    let secs = start.elapsed().as_secs_f64();
    println!("getblockcount: {CALLS} calls over one keep-alive connection in {secs:.2} s = {:.0} calls/s", CALLS as f64 / secs);

    let gen = format!(
        r#"{{"jsonrpc":"2.0","method":"generatetoaddress","params":[1000,"{ADDRESS}"],"id":2}}"#
    );
    let start = Instant::now();
    let reply = client.post("/", &gen).expect("generate");
    assert_eq!(reply.status, 200);
    println!(
        "generatetoaddress 1000: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    server.stop(Duration::from_secs(5));
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
