//! The multiprocess overhead on a wallet workload: the same RPC calls against `hashvived`
//! (wallet in process), `hashvive-node` (wallet in a spawned process over shared memory)
//! and `hashvive-node -ipcshm=0` (the socket fallback), interleaved round by round so the
//! three see the same machine. Prints each build's median over the rounds, and the median
//! of the round-by-round ratios to `hashvived`.
//!
//! `cargo build --release --workspace --bins && target/release/wallet-bench [--rounds N] [--per-round]`
//! (`--per-round` also prints every round's seconds, in the order hashvived, hashvive-node,
//! -ipcshm=0, to stderr)

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hashvive_core::rpc::client::RpcClient;
use serde_json::{json, Value};

/// One node under test.
struct Subject {
    label: &'static str,
    child: Child,
    client: RpcClient,
    datadir: PathBuf,
    /// The wallet's receive address for mining and sends.
    address: String,
}

impl Drop for Subject {
    fn drop(&mut self) {
        let _ = self.call("stop", json!([]));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.datadir);
    }
}

impl Subject {
    fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let reply = self
            .client
            .post("/wallet/bench", &body.to_string())
            .map_err(|e| format!("{method}: {e:?}"))?;
        let v: Value =
            serde_json::from_slice(&reply.body).map_err(|e| format!("{method}: bad JSON: {e}"))?;
        match v.get("error") {
            Some(e) if !e.is_null() => Err(format!("{method}: {e}")),
            _ => Ok(v["result"].clone()),
        }
    }

    fn must(&mut self, method: &str, params: Value) -> Value {
        self.call(method, params)
            .unwrap_or_else(|e| panic!("{}: {e}", self.label))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start(label: &'static str, binary: &Path, extra: &[&str]) -> Subject {
    let datadir =
        std::env::temp_dir().join(format!("hv-wallet-bench-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&datadir);
    std::fs::create_dir_all(&datadir).expect("datadir");
    let port = free_port();
    let child = Command::new(binary)
        .arg("-regtest")
        .arg(format!("-datadir={}", datadir.display()))
        .arg(format!("-rpcport={port}"))
        .arg("-rpcuser=bench")
        .arg("-rpcpassword=bench")
        .arg("-fallbackfee=0.0002")
        .arg("-listen=0")
        .arg("-connect=0")
        .args(extra)
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
    let client = RpcClient::new(
        "127.0.0.1",
        port,
        "bench",
        "bench",
        Duration::from_secs(600),
    );
    let mut subject = Subject {
        label,
        child,
        client,
        datadir,
        address: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match subject.call("createwallet", json!(["bench"])) {
            Ok(_) => break,
            Err(e) if Instant::now() > deadline => panic!("{label} did not come up: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    subject.address = subject
        .must("getnewaddress", json!([]))
        .as_str()
        .unwrap()
        .to_string();
    let address = subject.address.clone();
    subject.must("generatetoaddress", json!([300, address]));
    subject
}

/// Times `f` and returns seconds.
fn timed(f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Rescans per round; the round's figure is their median.
const RESCANS_PER_ROUND: usize = 9;

const WORKLOADS: [&str; 4] = [
    "2000 getnewaddress",
    "500 sendtoaddress",
    "2000 getbalances",
    "1000-block rescan",
];

fn run_workloads(s: &mut Subject) -> [f64; 4] {
    let new_addresses = timed(|| {
        for _ in 0..2000 {
            s.must("getnewaddress", json!([]));
        }
    });
    let mut sends = 0.0;
    let address = s.address.clone();
    for _ in 0..10 {
        sends += timed(|| {
            for _ in 0..50 {
                s.must("sendtoaddress", json!([address, 0.001]));
            }
        });
        // Confirm between batches so change chains stay under the mempool limits.
        s.must("generatetoaddress", json!([1, address]));
    }
    let balances = timed(|| {
        for _ in 0..2000 {
            s.must("getbalances", json!([]));
        }
    });
    let height = s.must("getblockcount", json!([])).as_u64().unwrap();
    // A rescan takes milliseconds: the median of several, so one round's figure is not
    // one scheduler hiccup.
    let mut rescans: Vec<f64> = (0..RESCANS_PER_ROUND)
        .map(|_| {
            timed(|| {
                s.must("rescanblockchain", json!([height.saturating_sub(999)]));
            })
        })
        .collect();
    let rescan = median(&mut rescans);
    [new_addresses, sends, balances, rescan]
}

fn main() {
    let mut rounds = 3;
    let mut per_round = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rounds" => rounds = args.next().and_then(|v| v.parse().ok()).unwrap_or(3),
            "--per-round" => per_round = true,
            other => {
                eprintln!(
                    "usage: wallet-bench [--rounds N] [--per-round] (unknown argument {other})"
                );
                std::process::exit(2);
            }
        }
    }
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .expect("own directory");
    let mut subjects = vec![
        start("hashvived", &dir.join("hashvived"), &[]),
        start("hashvive-node", &dir.join("hashvive-node"), &[]),
        start(
            "hashvive-node -ipcshm=0",
            &dir.join("hashvive-node"),
            &["-ipcshm=0"],
        ),
    ];
    // Blocks up to 1000 for the rescan; the wallet has transactions in the recent ones.
    for s in &mut subjects {
        let address = s.address.clone();
        s.must("generatetoaddress", json!([700, address]));
    }
    let mut times: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); WORKLOADS.len()]; subjects.len()];
    for round in 0..rounds {
        // Alternate the order so no subject always runs first.
        let mut order: Vec<usize> = (0..subjects.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let t = run_workloads(&mut subjects[i]);
            for (w, secs) in t.iter().enumerate() {
                times[i][w].push(*secs);
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
        if per_round {
            for (w, name) in WORKLOADS.iter().enumerate() {
                let secs: Vec<String> = times
                    .iter()
                    .map(|t| format!("{:.4}", t[w][round]))
                    .collect();
                eprintln!("  {name:<20} {}", secs.join(" "));
            }
        }
    }
    println!(
        "{:<20} {:>14} {:>14} {:>8} {:>14} {:>8}",
        "workload", "hashvived", "hashvive-node", "ratio", "-ipcshm=0", "ratio"
    );
    for (w, name) in WORKLOADS.iter().enumerate() {
        let m: Vec<f64> = (0..subjects.len())
            .map(|i| median(&mut times[i][w].clone()))
            .collect();
        println!(
            "{:<20} {:>12.4} s {:>12.4} s {:>8.3} {:>12.4} s {:>8.3}",
            name,
            m[0],
            m[1],
            paired_ratio(&times[1][w], &times[0][w]),
            m[2],
            paired_ratio(&times[2][w], &times[0][w])
        );
    }
}

/// The median of the round-by-round ratios `a[r] / b[r]`. The wallets grow every round
/// (a send takes twice as long by the fifth), so each round is compared only with the
/// same round of the other build, which saw the same wallet and the same minute.
fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    median(&mut ratios)
}
