//! IPC overhead harness: one table, one run, every row next to the physical floors.
//!
//! `cargo run --release -p hashvive-benches --bin ipc-bench [-- --seconds S]`
//!
//! The cost of moving a cache line between two vCPUs changes from run to run, so
//! absolute numbers mean little across runs; each row is also given as a ratio to the
//! cache-line ping-pong floor and to shm spinning, all measured in the same run.

use std::process::Command;
use std::time::{Duration, Instant};

use hashvive_benches::{floors, Samples};
use hashvive_tests::{spawn_peer_command, Discard, Echo, Received};
use shm_ipc::{Connection, Options};

struct Row {
    name: String,
    size: usize,
    samples: Samples,
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--peer") {
        args.next();
        hashvive_tests::peer_main(args);
        return;
    }
    #[cfg(feature = "iceoryx2")]
    if args.peek().map(String::as_str) == Some("--iceoryx-server") {
        args.next();
        hashvive_benches::iceoryx::serve(args);
        return;
    }
    let mut seconds = 1.0f64;
    let mut with_iceoryx = cfg!(feature = "iceoryx2");
    let mut sweep = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                seconds = args
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--no-iceoryx2" => with_iceoryx = false,
            "--spin-sweep" => sweep = true,
            _ => usage(),
        }
    }
    let budget = Duration::from_secs_f64(seconds);
    if sweep {
        spin_sweep(budget);
        return;
    }
    let sizes = [64usize, 4096, 1 << 20];
    let mut rows: Vec<Row> = Vec::new();

    println!("# hashvive IPC overhead (one run, {} CPUs)\n", num_cpus());
    let clock = floors::clock_overhead();
    let floor = floors::cache_line_pingpong(budget);
    rows.push(Row {
        name: "floor: cache-line ping-pong (pinned threads)".into(),
        size: 8,
        samples: floor,
    });
    rows.push(Row {
        name: "bare SPSC byte ring echo, spinning (threads)".into(),
        size: 64,
        samples: floors::spsc_ring_echo(64, budget),
    });
    rows.push(Row {
        name: "bare eventfd ping-pong (threads)".into(),
        size: 8,
        samples: floors::eventfd_pingpong(budget),
    });
    for &size in &sizes {
        rows.push(Row {
            name: "bare Unix socketpair ping-pong (threads)".into(),
            size,
            samples: floors::socketpair_pingpong(size, budget),
        });
    }
    for &size in &sizes {
        rows.push(Row {
            name: "in-process call (dyn Echo)".into(),
            size,
            samples: floors::inprocess_call(size, budget),
        });
    }
    let configs: [(&str, &[&str], Options); 3] = [
        ("shm-ipc Echo call, shm spinning", &[], Options::default()),
        (
            "shm-ipc Echo call, shm -ipcspin=0",
            &["-ipcspin=0"],
            Options {
                spin: Duration::ZERO,
                ..Options::default()
            },
        ),
        (
            "shm-ipc Echo call, socket fallback",
            &["-ipcshm=0"],
            Options::default(),
        ),
    ];
    let mut traced = Vec::new();
    for (spin, label) in [(true, "shm spinning"), (false, "shm -ipcspin=0")] {
        let (off, on) = trace_overhead(budget, spin);
        traced.push((label, off, on));
    }
    let (send_ns, recv_ns, dropped) = trace_record_cost();
    let mut throughput = Vec::new();
    for (name, args, opts) in configs {
        let (mut child, conn) = spawn_self(args, opts);
        for &size in &sizes {
            rows.push(Row {
                name: name.into(),
                size,
                samples: echo_round_trips(&conn, size, budget),
            });
        }
        if !name.contains("ipcspin=0") {
            throughput.push((
                name,
                one_way(&conn, 64, budget),
                one_way(&conn, 1 << 20, budget),
            ));
        }
        drop(conn);
        let _ = child.wait();
    }
    let mut overheads = Vec::new();
    for (label, off, on) in traced {
        overheads.push((label, off.percentile(50.0), on.percentile(50.0)));
        rows.push(Row {
            name: format!("shm-ipc Echo call, {label}, interleaved with the next row"),
            size: 64,
            samples: off,
        });
        rows.push(Row {
            name: format!("shm-ipc Echo call, {label}, -ipctrace on both sides"),
            size: 64,
            samples: on,
        });
    }
    if with_iceoryx {
        #[cfg(feature = "iceoryx2")]
        for &size in &sizes {
            rows.push(Row {
                name: "iceoryx2 request-response ping-pong (processes)".into(),
                size,
                samples: hashvive_benches::iceoryx::pingpong(size, budget),
            });
        }
    }

    let floor_p50 = rows[0].samples.percentile(50.0);
    let shm_p50 = |size: usize| {
        rows.iter()
            .find(|r| r.name.ends_with("shm spinning") && r.size == size)
            .map(|r| r.samples.percentile(50.0))
    };
    println!("Round trips, p50 and p99 per call; clock read overhead {clock} ns is included in every row.\n");
    println!("| row | size | p50 | p99 | p50 / floor | p50 / shm spinning |");
    println!("|---|---:|---:|---:|---:|---:|");
    for row in &rows {
        let p50 = row.samples.percentile(50.0);
        let p99 = row.samples.percentile(99.0);
        let vs_shm = shm_p50(row.size)
            .map(|s| format!("{:.2}x", p50 as f64 / s as f64))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | {} | {} | {} | {:.2}x | {} |",
            row.name,
            fmt_size(row.size),
            fmt_ns(p50),
            fmt_ns(p99),
            p50 as f64 / floor_p50 as f64,
            vs_shm
        );
    }
    println!();
    for (label, off50, on50) in overheads {
        println!(
            "-ipctrace overhead, 64 B echo, {label} (interleaved rows above): p50 {} off, {} on, {:+.1}%",
            fmt_ns(off50),
            fmt_ns(on50),
            (on50 as f64 / off50 as f64 - 1.0) * 100.0,
        );
    }
    println!(
        "one traced frame costs its thread {send_ns:.0} ns when sent (clock read and queue push), \
         {recv_ns:.0} ns when received (push only){}",
        if dropped > 0 {
            format!("; the writer fell behind and dropped {dropped} records")
        } else {
            String::new()
        }
    );
    println!("\nOne-way streaming (Connection::notify, receiver validates in place and does not copy):\n");
    println!("| transport | 64 B messages/s | 1 MiB GB/s |");
    println!("|---|---:|---:|");
    for (name, small, large) in &throughput {
        println!(
            "| {} | {:.0} | {:.2} |",
            name.trim_start_matches("shm-ipc Echo call, "),
            small.0,
            large.1 / 1e9
        );
    }
}

/// How `-ipcspin` trades latency for CPU: for handlers that work for `work` µs, the
/// p50 round trip and the caller's CPU time per call at several spin settings.
fn spin_sweep(budget: Duration) {
    let works = [0u64, 5, 20, 50, 100, 300];
    let spins = [0u64, 20, 50, 200, 1000];
    println!(
        "# -ipcspin sweep: p50 round trip / caller CPU per call, both sides at the same spin\n"
    );
    print!("| handler work |");
    for spin in spins {
        print!(" spin {spin} µs |");
    }
    println!("\n|---|{}", "---:|".repeat(spins.len()));
    for work in works {
        print!("| {work} µs |");
        for spin in spins {
            let opts = Options {
                spin: Duration::from_micros(spin),
                ..Options::default()
            };
            let arg = format!("-ipcspin={spin}");
            let (mut child, conn) = spawn_self(&[&arg], opts);
            let ns = work * 1000;
            let mut samples = hashvive_benches::Samples::default();
            for _ in 0..200 {
                conn.call::<hashvive_tests::Work>(&ns).unwrap();
            }
            let cpu_start = hashvive_benches::thread_cpu_ns();
            let start = Instant::now();
            while start.elapsed() < budget / 2 {
                let t = Instant::now();
                conn.call::<hashvive_tests::Work>(&ns).unwrap();
                samples.push(t.elapsed().as_nanos() as u64);
            }
            let cpu = (hashvive_benches::thread_cpu_ns() - cpu_start) / samples.len() as u64;
            print!(" {} / {} |", fmt_ns(samples.percentile(50.0)), fmt_ns(cpu));
            drop(conn);
            let _ = child.wait();
        }
        println!();
    }
}

fn usage() -> ! {
    eprintln!("usage: ipc-bench [--seconds S] [--no-iceoryx2] [--spin-sweep]");
    std::process::exit(2)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn spawn_self(args: &[&str], opts: Options) -> (std::process::Child, Connection) {
    let mut command = Command::new(std::env::current_exe().expect("current exe"));
    command.arg("--peer").args(args);
    spawn_peer_command(command, opts)
}

fn echo_round_trips(conn: &Connection, size: usize, budget: Duration) -> Samples {
    let payload = vec![0x5au8; size];
    let mut samples = Samples::default();
    let warmup = Instant::now();
    while warmup.elapsed() < budget / 5 {
        conn.call_with::<Echo, usize>(&payload, |r| r.len())
            .unwrap();
    }
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        let len = conn
            .call_with::<Echo, usize>(&payload, |r| r.len())
            .unwrap();
        samples.push(t.elapsed().as_nanos() as u64);
        assert_eq!(len, size);
    }
    samples
}

/// 64-byte shm echo round trips without and with `-ipctrace` on both sides. Each round
/// spawns a fresh peer of each kind (adaptive spinning keeps per-connection state) and
/// alternates between them in short slices, so drift in the machine's load lands on
/// both rows alike.
fn trace_overhead(budget: Duration, spin: bool) -> (Samples, Samples) {
    let spin_args: &[&str] = if spin { &[] } else { &["-ipcspin=0"] };
    let options = || Options {
        spin: if spin {
            Options::default().spin
        } else {
            Duration::ZERO
        },
        ..Options::default()
    };
    let dir = std::env::temp_dir().join(format!("ipc-bench-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("trace directory");
    let payload = vec![0x5au8; 64];
    let (mut off_samples, mut on_samples) = (Samples::default(), Samples::default());
    let rounds = 5;
    let slices = 8;
    for round in 0..rounds {
        let (mut off_child, off) = spawn_self(spin_args, options());
        let trace = shm_ipc::Trace::create(&dir.join(format!("bench-{round}.trace")), "ipc-bench")
            .expect("trace file");
        let peer_arg = format!(
            "-ipctrace={}",
            dir.join(format!("peer-{round}.trace")).display()
        );
        let on_args: Vec<&str> = spin_args
            .iter()
            .copied()
            .chain([peer_arg.as_str()])
            .collect();
        let (mut on_child, on) = spawn_self(
            &on_args,
            Options {
                trace: Some(trace.clone()),
                ..options()
            },
        );
        for slice in 0..slices {
            let mut pair = [(&off, &mut off_samples), (&on, &mut on_samples)];
            if (round + slice) % 2 == 1 {
                pair.reverse();
            }
            for (conn, samples) in pair {
                let start = Instant::now();
                let mut n = 0;
                while start.elapsed() < budget / (rounds * slices) {
                    let t = Instant::now();
                    conn.call_with::<Echo, usize>(&payload, |r| r.len())
                        .unwrap();
                    // The first calls of a slice bring the peer back from parking.
                    n += 1;
                    if n > 100 {
                        samples.push(t.elapsed().as_nanos() as u64);
                    }
                }
            }
        }
        drop((off, on));
        let _ = (off_child.wait(), on_child.wait());
        trace.finish().expect("trace written");
    }
    let _ = std::fs::remove_dir_all(&dir);
    (off_samples, on_samples)
}

/// What one traced frame costs the thread that sends or receives it, with and without
/// the clock read that sends need (receives reuse the reader's stamp). Batches leave the
/// writer time to drain; the count of records it dropped anyway is returned too.
fn trace_record_cost() -> (f64, f64, u64) {
    let dir = std::env::temp_dir().join(format!("ipc-bench-record-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("trace directory");
    let trace = shm_ipc::Trace::create(&dir.join("cost.trace"), "ipc-bench").expect("trace file");
    let (batches, batch) = (40u32, 10_000u32);
    let mut spent = [Duration::ZERO; 2];
    for b in 0..batches {
        let with_clock = b % 2 == 0;
        let start = Instant::now();
        for i in 0..batch {
            let time_ns = if with_clock {
                shm_ipc::sys::monotonic_ns()
            } else {
                i as u64
            };
            trace.record(shm_ipc::trace::TraceRecord {
                time_ns,
                call_id: i as u64,
                size: 88,
                kind: 1,
                ..Default::default()
            });
        }
        spent[usize::from(!with_clock)] += start.elapsed();
        std::thread::sleep(Duration::from_millis(20));
    }
    let dropped = trace.dropped();
    trace.finish().expect("trace written");
    let _ = std::fs::remove_dir_all(&dir);
    let per = |d: Duration| d.as_nanos() as f64 / (batches / 2 * batch) as f64;
    (per(spent[0]), per(spent[1]), dropped)
}

/// Messages per second and bytes per second sending `size`-byte one-way messages.
fn one_way(conn: &Connection, size: usize, budget: Duration) -> (f64, f64) {
    let payload = vec![0xa5u8; size];
    let (count0, bytes0) = conn.call::<Received>(&()).unwrap();
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            conn.notify::<Discard>(&payload).unwrap();
        }
        sent += 64;
    }
    let (count1, bytes1) = conn.call::<Received>(&()).unwrap();
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(count1 - count0, sent);
    (sent as f64 / elapsed, (bytes1 - bytes0) as f64 / elapsed)
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 10_000 {
        format!("{:.1} µs", ns as f64 / 1000.0)
    } else {
        format!("{ns} ns")
    }
}

fn fmt_size(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}
