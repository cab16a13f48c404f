//! Criterion benches of an Echo call round trip over each transport, with the bare
//! floors beside them. The `ipc-bench` harness prints the full comparison table.

use std::process::Command;
use std::time::Duration;

use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
use hashvive_tests::{spawn_peer_command, Echo};
use shm_ipc::Options;

/// Set in the environment of the copy of this binary that serves as the peer.
const PEER_ENV: &str = "HASHVIVE_BENCH_PEER";

fn peer(args: &[&str], opts: Options) -> (std::process::Child, shm_ipc::Connection) {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command.env(PEER_ENV, "1").args(args);
    spawn_peer_command(command, opts)
}

fn echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("echo_round_trip");
    group.measurement_time(Duration::from_secs(3));
    let spin_zero = Options {
        spin: Duration::ZERO,
        ..Options::default()
    };
    let configs: [(&str, &[&str], Options); 3] = [
        ("shm_spin", &[], Options::default()),
        ("shm_spin0", &["-ipcspin=0"], spin_zero),
        ("socket", &["-ipcshm=0"], Options::default()),
    ];
    for (name, args, opts) in configs {
        let (mut child, conn) = peer(args, opts);
        for size in [64usize, 4096, 1 << 20] {
            let payload = vec![1u8; size];
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &payload, |b, payload| {
                b.iter(|| conn.call_with::<Echo, usize>(payload, |r| r.len()).unwrap())
            });
        }
        drop(conn);
        let _ = child.wait();
    }
    group.finish();
}

criterion_group!(benches, echo);

fn main() {
    if std::env::var_os(PEER_ENV).is_some() {
        // Criterion's own arguments come first; the peer's start at -ipc.
        let args = std::env::args().skip_while(|a| !a.starts_with("-ipc"));
        hashvive_tests::peer_main(args);
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
