//! The RPC server and client together over real sockets: auth, keep-alive, errors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use hashvive_core::chainparams::ChainParams;
use hashvive_core::node::Node;
use hashvive_core::rpc::auth::Authenticator;
use hashvive_core::rpc::client::RpcClient;
use hashvive_core::rpc::server::{RpcServer, ServerConfig};
use hashvive_core::rpc::RpcContext;
use serde_json::Value;

struct Fixture {
    server: RpcServer,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.server.stop(Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(name: &str) -> (Fixture, u16) {
    start_with(name, 64)
}

fn start_with(name: &str, max_connections: usize) -> (Fixture, u16) {
    let dir = std::env::temp_dir().join(format!("hv-rpc-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let node = Arc::new(Node::open(ChainParams::regtest(), &dir, 1000).unwrap());
    let ctx = Arc::new(RpcContext::new(node, dir.join("debug.log")));
    let mut auth = Authenticator::default();
    auth.add_plain("u", "p");
    let config = ServerConfig {
        bind: vec!["127.0.0.1:0".parse().unwrap()],
        allow: Vec::new(),
        threads: 2,
        work_queue: 4,
        timeout: Duration::from_secs(10),
        max_connections,
    };
    let server = RpcServer::start(config, ctx, auth).unwrap();
    let port = server.local_addrs()[0].port();
    (Fixture { server, dir }, port)
}

#[test]
fn calls_over_one_connection_and_auth() {
    let (_f, port) = start("calls");
    let mut client = RpcClient::new("127.0.0.1", port, "u", "p", Duration::from_secs(10));
    for _ in 0..100 {
        let r = client
            .post("/", r#"{"method":"getblockcount","id":1}"#)
            .unwrap();
        assert_eq!(r.status, 200);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["result"], 0);
    }
    let r = client.post("/", r#"{"method":"nosuch","id":1}"#).unwrap();
    assert_eq!(r.status, 404);
    let r = client
        .post(
            "/",
            r#"[{"method":"getblockcount","id":1},{"method":"getbestblockhash","id":2}]"#,
        )
        .unwrap();
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);

    let mut wrong = RpcClient::new("127.0.0.1", port, "u", "x", Duration::from_secs(10));
    assert_eq!(
        wrong
            .post("/", r#"{"method":"getblockcount"}"#)
            .unwrap()
            .status,
        401
    );
}

#[test]
fn malformed_http_gets_an_error_and_the_server_survives() {
    let (_f, port) = start("malformed");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nContent-Length: nope\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    let mut client = RpcClient::new("127.0.0.1", port, "u", "p", Duration::from_secs(10));
    assert_eq!(
        client
            .post("/", r#"{"method":"uptime","id":1}"#)
            .unwrap()
            .status,
        200
    );
}

#[test]
fn connections_beyond_the_cap_get_503_and_freed_slots_are_reused() {
    let (_f, port) = start_with("cap", 3);
    let mut idle: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // The accept loop counts connections in order; give it the three first.
    std::thread::sleep(Duration::from_millis(100));
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut reply = String::new();
    extra.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");

    drop(idle.pop());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut client = RpcClient::new("127.0.0.1", port, "u", "p", Duration::from_secs(10));
        match client.post("/", r#"{"method":"uptime","id":1}"#) {
            Ok(r) if r.status == 200 => break,
            _ => {
                assert!(std::time::Instant::now() < deadline, "slot never freed");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
