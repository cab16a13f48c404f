//! The multiprocess overhead on a wallet workload: the same RPC calls against `hashvived`
//! (wallet in process), `hashvive-node` (wallet in a spawned process over shared memory)
//! and `hashvive-node -ipcshm=0` (the socket fallback). Each workload runs in batches (100
//! calls, 50 sends, or one rescan), and every batch runs on the three builds back to back,
//! so that they see the same machine. Prints each build's median over the rounds, and the
//! median of the batch-by-batch ratios to `hashvived`.
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

/// The workloads, in the order they run and are printed.
#[derive(Clone, Copy)]
enum Workload {
    NewAddresses,
    Sends,
    Balances,
    Rescan,
}

const WORKLOADS: [Workload; 4] = [
    Workload::NewAddresses,
    Workload::Sends,
    Workload::Balances,
    Workload::Rescan,
];

/// Rescans per round; the round's figure is their median.
const RESCANS_PER_ROUND: usize = 9;

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::NewAddresses => "2000 getnewaddress",
            Workload::Sends => "500 sendtoaddress",
            Workload::Balances => "2000 getbalances",
            Workload::Rescan => "1000-block rescan",
        }
    }

    /// How many batches make a round.
    fn batches(self) -> usize {
        match self {
            Workload::NewAddresses | Workload::Balances => 20,
            Workload::Sends => 10,
            Workload::Rescan => RESCANS_PER_ROUND,
        }
    }

    /// Runs one batch on `s`; returns the seconds it took.
    fn run_batch(self, s: &mut Subject) -> f64 {
        let address = s.address.clone();
        match self {
            Workload::NewAddresses => timed(|| {
                for _ in 0..100 {
                    s.must("getnewaddress", json!([]));
                }
            }),
            Workload::Sends => {
                let secs = timed(|| {
                    for _ in 0..50 {
                        s.must("sendtoaddress", json!([address, 0.001]));
                    }
                });
                // Confirm between batches so change chains stay under the mempool limits.
                s.must("generatetoaddress", json!([1, address]));
                secs
            }
            Workload::Balances => timed(|| {
                for _ in 0..100 {
                    s.must("getbalances", json!([]));
                }
            }),
            Workload::Rescan => {
                let height = s.must("getblockcount", json!([])).as_u64().unwrap();
                timed(|| {
                    s.must("rescanblockchain", json!([height.saturating_sub(999)]));
                })
            }
        }
    }

    /// A round's figure from its batches: their sum, or for rescans (a few milliseconds
    /// each) their median, so that one scheduler hiccup is not the figure.
    fn round_figure(self, batches: &[f64]) -> f64 {
        match self {
            Workload::Rescan => median(&mut batches.to_vec()),
            _ => batches.iter().sum(),
        }
    }
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
    let n = subjects.len();
    // Seconds of every batch: [subject][workload][round * batches + batch].
    let mut batches: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); WORKLOADS.len()]; n];
    // Each round's figure: [subject][workload][round].
    let mut figures: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); WORKLOADS.len()]; n];
    let mut turn = 0;
    for round in 0..rounds {
        for (w, workload) in WORKLOADS.iter().enumerate() {
            for _ in 0..workload.batches() {
                // Each batch runs on every subject back to back, and who goes first turns.
                for k in 0..n {
                    let i = (turn + k) % n;
                    let secs = workload.run_batch(&mut subjects[i]);
                    batches[i][w].push(secs);
                }
                turn += 1;
            }
            for i in 0..n {
                let this_round = &batches[i][w][round * workload.batches()..];
                figures[i][w].push(workload.round_figure(this_round));
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
        if per_round {
            for (w, workload) in WORKLOADS.iter().enumerate() {
                let secs: Vec<String> = figures
                    .iter()
                    .map(|f| format!("{:.4}", f[w][round]))
                    .collect();
                eprintln!("  {:<20} {}", workload.name(), secs.join(" "));
            }
        }
    }
    println!(
        "{:<20} {:>14} {:>14} {:>8} {:>14} {:>8}",
        "workload", "hashvived", "hashvive-node", "ratio", "-ipcshm=0", "ratio"
    );
    for (w, workload) in WORKLOADS.iter().enumerate() {
        let m: Vec<f64> = (0..n).map(|i| median(&mut figures[i][w].clone())).collect();
        println!(
            "{:<20} {:>12.4} s {:>12.4} s {:>8.3} {:>12.4} s {:>8.3}",
            workload.name(),
            m[0],
            m[1],
            paired_ratio(&batches[1][w], &batches[0][w]),
            m[2],
            paired_ratio(&batches[2][w], &batches[0][w])
        );
    }
}

/// The median of the batch-by-batch ratios `a[k] / b[k]`. Batch `k` of each build ran
/// back to back, on the same machine in the same second and against a wallet grown the
/// same way (a send takes twice as long by the fifth round), so each batch is compared
/// only with its twin.
fn paired_ratio(a: &[f64], b: &[f64]) -> f64 {
    let mut ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
    median(&mut ratios)
}
