//! Reader robustness, filters, stats, plot and follow, through the library and the binary.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use hashvive_tools::dump::{self, Style};
use hashvive_tools::filter::{Filter, FilterArgs};
use hashvive_tools::reader::{FileReader, Merged, Stop};
use hashvive_tools::stats::Stats;
use hashvive_tools::synth::{self, header, write_trace};
use shm_ipc::trace::{TraceRecord, DIR_RECV, DIR_SEND, FLAG_SHM};
use zerocopy::IntoBytes;

const BIN: &str = env!("CARGO_BIN_EXE_hashvive-ipc-trace");

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hv-ipc-trace-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[allow(clippy::too_many_arguments)]
fn rec(
    t: u64,
    conn: u32,
    dir: u8,
    kind: u8,
    iface: u16,
    method: u16,
    id: u64,
    lat: u64,
) -> TraceRecord {
    TraceRecord {
        time_ns: t,
        latency_ns: lat,
        call_id: id,
        thread: 1,
        size: 100 + method as u32,
        conn,
        interface: iface,
        method,
        direction: dir,
        kind,
        flags: FLAG_SHM,
        reserved: 0,
    }
}

const MONO0: u64 = 1_000_000;

/// A node-like file: calls Init.make_echo (2.1), a Chain.get_height (3.0) callback it
/// serves, and an error from Test.fail (100.2); a wallet-like file serving them.
fn two_files(dir: &TempDir) -> (PathBuf, PathBuf) {
    let node = dir.path("node.trace");
    let wallet = dir.path("wallet.trace");
    write_trace(
        &node,
        &header("hashvive-node", 10, 1_700_000_000_000_000_000, MONO0),
        &[
            rec(MONO0 + 1_000, 1, DIR_SEND, 1, 2, 0, 1, 0),
            rec(MONO0 + 4_000, 1, DIR_RECV, 4, 3, 0, 1, 0),
            rec(MONO0 + 5_000, 1, DIR_SEND, 2, 3, 0, 1, 1_000),
            // Stamped before the previous record but queued after it.
            rec(MONO0 + 4_500, 2, DIR_SEND, 1, 100, 2, 7, 0),
            rec(MONO0 + 9_000, 1, DIR_RECV, 2, 2, 0, 1, 8_000),
            rec(MONO0 + 2_000_000, 2, DIR_RECV, 3, 100, 2, 7, 1_995_500),
            rec(MONO0 + 3_000_000, 2, DIR_SEND, 5, 0, 0, 0, 0),
        ],
    )
    .unwrap();
    write_trace(
        &wallet,
        &header(
            "hashvive-wallet",
            11,
            1_700_000_000_000_000_000,
            MONO0 + 500,
        ),
        &[
            rec(MONO0 + 2_000, 1, DIR_RECV, 1, 2, 0, 1, 0),
            rec(MONO0 + 3_000, 1, DIR_SEND, 4, 3, 0, 1, 0),
            rec(MONO0 + 6_000, 1, DIR_RECV, 2, 3, 0, 1, 3_000),
            rec(MONO0 + 8_000, 1, DIR_SEND, 2, 2, 0, 1, 6_000),
        ],
    )
    .unwrap();
    (node, wallet)
}

fn dump_json(paths: &[PathBuf], args: FilterArgs) -> Vec<serde_json::Value> {
    let mut merged = Merged::open(paths).unwrap();
    let mut filter = Filter::new(&args).unwrap();
    let mut out = Vec::new();
    dump::dump(
        &mut merged,
        &mut filter,
        Style {
            wall: false,
            json: true,
        },
        &mut out,
    )
    .unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn dump_merges_files_in_time_order() {
    let dir = TempDir::new();
    let (node, wallet) = two_files(&dir);
    let lines = dump_json(&[node, wallet], FilterArgs::default());
    assert_eq!(lines.len(), 11);
    let times: Vec<u64> = lines
        .iter()
        .map(|l| l["time_ns"].as_u64().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted);
    assert_eq!(times[0], 1_000, "relative to the earliest header");
    assert_eq!(lines[0]["method"], "Init.make_echo");
    assert_eq!(lines[1]["process"], "hashvive-wallet");
    assert_eq!(lines[1]["role"], "server");
    let error = lines.iter().find(|l| l["kind"] == "error").unwrap();
    assert_eq!(error["method"], "Test.fail");
    assert_eq!(error["latency_ns"], 1_995_500);
    assert!(lines[0]["latency_ns"].is_null());
    assert_eq!(lines.last().unwrap()["method"], "(close)");
}

#[test]
fn text_dump_names_everything() {
    let dir = TempDir::new();
    let (node, wallet) = two_files(&dir);
    let (code, out, err) = run(&["dump", node.to_str().unwrap(), wallet.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (0, ""));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 11);
    assert!(
        lines[0].starts_with("    0.000001000  hashvive-node[10]#1"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("send request  Init.make_echo"),
        "{}",
        lines[0]
    );
    assert!(
        lines[5].contains("hashvive-node[10]#1") && lines[5].contains("lat=1.00us"),
        "{}",
        lines[5]
    );
    assert!(out.contains("recv error    Test.fail"));
    let (code, out, _) = run(&["dump", "--wall", node.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.starts_with("2023-11-14T22:13:20.000001000Z"), "{out}");
}

/// Filter options by name, as on the command line.
fn filter_args(options: &[(&str, &str)]) -> FilterArgs {
    let mut args = FilterArgs::default();
    for (name, value) in options {
        let value = value.to_string();
        match *name {
            "method" => args.method.push(value),
            "conn" => args.conn.push(value),
            "kind" => args.kind.push(value),
            "since" => args.since = Some(value),
            "until" => args.until = Some(value),
            "min_latency" => args.min_latency = Some(value),
            other => panic!("no filter option {other}"),
        }
    }
    args
}

#[test]
fn filter_combinations() {
    let dir = TempDir::new();
    let (node, wallet) = two_files(&dir);
    let files = [node, wallet];
    let count = |args: FilterArgs| dump_json(&files, args).len();
    // Each case: the filter's options (repeatable ones may repeat) and the records it keeps.
    let cases: &[(&[(&str, &str)], usize)] = &[
        (&[("method", "Init.make_echo")], 4),
        (&[("method", "Chain")], 4),
        (&[("method", "Chain.*,Test")], 6),
        (&[("method", "Init.make_echo"), ("kind", "response")], 2),
        (
            &[
                ("conn", "hashvive-wallet:1"),
                ("kind", "request"),
                ("kind", "callback"),
            ],
            2,
        ),
        (&[("conn", "10:2")], 3),
        (&[("conn", "2")], 3),
        (&[("conn", "11:2")], 0),
        // since is inclusive, until exclusive, both relative to the earliest header.
        (&[("since", "4us"), ("until", "9us")], 5),
        (&[("min_latency", "5us")], 3),
        (
            &[
                ("min_latency", "5us"),
                ("kind", "error"),
                ("method", "Test.fail"),
                ("since", "1ms"),
            ],
            1,
        ),
        (&[("kind", "close")], 1),
        (&[("method", "Nope.x")], 0),
    ];
    for (options, kept) in cases {
        assert_eq!(count(filter_args(options)), *kept, "{options:?}");
    }
    for bad in [
        [("kind", "reply")],
        [("conn", "x:y")],
        [("since", "3 parsecs")],
    ] {
        assert!(Filter::new(&filter_args(&bad)).is_err(), "{bad:?}");
    }
    let (code, out, err) = run(&["dump", "--kind", "reply", files[0].to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty());
    assert!(err.contains("bad --kind 'reply'"), "{err}");
}

#[test]
fn stats_counts_latencies_and_bytes() {
    let dir = TempDir::new();
    let (node, wallet) = two_files(&dir);
    let stats = Stats::collect(&[node.clone(), wallet.clone()]).unwrap();
    let json = stats.to_json();
    assert_eq!(json["totals"]["records"], 11);
    assert_eq!(json["transport"], "shm");
    let rows = json["methods"].as_array().unwrap();
    let row = |process: &str, role: &str, method: &str| {
        rows.iter()
            .find(|r| r["process"] == process && r["role"] == role && r["method"] == method)
            .unwrap_or_else(|| panic!("no row {process} {role} {method}: {json:#}"))
    };
    let echo = row("hashvive-node", "client", "Init.make_echo");
    assert_eq!(echo["calls"], 1);
    // HDR histograms report the highest value equivalent at 3 significant digits.
    let p50 = echo["p50_ns"].as_u64().unwrap();
    assert!((8_000..=8_008).contains(&p50), "{p50}");
    assert_eq!(
        (echo["bytes_out"].as_u64(), echo["bytes_in"].as_u64()),
        (Some(100), Some(100))
    );
    let fail = row("hashvive-node", "client", "Test.fail");
    assert_eq!(fail["errors"], 1);
    let max = fail["max_ns"].as_u64().unwrap();
    assert!(
        (1_994_000..=1_997_000).contains(&max),
        "3 significant digits: {max}"
    );
    let p99 = row("hashvive-wallet", "server", "Init.make_echo")["p99_ns"]
        .as_u64()
        .unwrap();
    assert!((6_000..=6_006).contains(&p99), "{p99}");
    assert_eq!(
        row("hashvive-wallet", "client", "Chain.get_height")["calls"],
        1
    );
    assert_eq!(
        row("hashvive-node", "server", "Chain.get_height")["calls"],
        1
    );
    let (code, table, err) = run(&["stats", node.to_str().unwrap(), wallet.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (0, ""));
    assert!(table.starts_with("process "), "{table}");
    assert!(
        table.contains("hashvive-node[10]    client  Test.fail"),
        "{table}"
    );
    assert!(table.contains("records: 11 in 2 file(s)"), "{table}");
    assert!(table.contains("transport: shm"), "{table}");
    let (code, out, _) = run(&["stats", "--json", node.to_str().unwrap()]);
    assert_eq!(code, 0);
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["totals"]["records"], 7);
}

#[test]
fn truncated_file_is_read_to_the_last_complete_record() {
    let dir = TempDir::new();
    let path = dir.path("cut.trace");
    synth::write_synthetic(&path, 100).unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 20).unwrap();
    let mut reader = FileReader::open(&path).unwrap();
    let mut n = 0;
    while reader.next_record().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 99);
    let offset = 64 + 99 * 48;
    assert_eq!(reader.stop, Some(Stop::Truncated { offset, bytes: 28 }));
    let (code, out, err) = run(&["stats", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["totals"]["records"],
        99
    );
    assert!(
        err.contains("truncated") && err.contains(&format!("stopped at byte {offset}")),
        "{err}"
    );
    let (code, out, err) = run(&["dump", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 99);
    assert_eq!(err.lines().count(), 1, "{err}");
    // A file cut inside its header is not a trace.
    file.set_len(40).unwrap();
    let (code, _, err) = run(&["dump", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("shorter than the 64-byte header"), "{err}");
}

#[test]
fn corrupted_record_stops_the_read_with_its_offset() {
    let dir = TempDir::new();
    let path = dir.path("bad.trace");
    synth::write_synthetic(&path, 50).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[64 + 30 * 48 + 45] = 77; // kind of record 30
    std::fs::write(&path, &bytes).unwrap();
    let (code, out, err) = run(&["dump", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 30);
    assert!(
        err.contains("corrupted") && err.contains(&format!("stopped at byte {}", 64 + 30 * 48)),
        "{err}"
    );
    assert!(err.contains("kind 77"), "{err}");
    // A zero-filled tail (a crash after the file grew) stops at the first zero record.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(64 + 10 * 48);
    bytes.extend([0u8; 48 * 5]);
    std::fs::write(&path, &bytes).unwrap();
    let stats = Stats::collect(&[path]).unwrap();
    assert_eq!(stats.records(), 10);
    assert!(stats.files[0].warning.as_ref().unwrap().contains("kind 0"));
}

#[test]
fn non_traces_and_newer_versions_are_clear_errors() {
    let dir = TempDir::new();
    let text = dir.path("notes.txt");
    std::fs::write(
        &text,
        "just some text that is longer than sixty-four bytes, to pass the size check",
    )
    .unwrap();
    let empty = dir.path("empty");
    std::fs::write(&empty, "").unwrap();
    let newer = dir.path("v2.trace");
    let mut h = header("future", 1, 0, 0);
    h.version = 2;
    std::fs::write(&newer, h.as_bytes()).unwrap();
    let small = dir.path("small.trace");
    let mut h = header("x", 1, 0, 0);
    h.record_size = 16;
    std::fs::write(&small, h.as_bytes()).unwrap();
    let missing = dir.path("missing.trace");
    let cases: [(&Path, &str); 6] = [
        (&text, "not an IPC trace file (bad magic"),
        (&empty, "not an IPC trace file (0 bytes"),
        (
            &newer,
            "format version 2 is newer than this reader supports",
        ),
        (&small, "record_size 16"),
        (&missing, "No such file or directory"),
        (&dir.0, "a directory"),
    ];
    for (path, message) in cases {
        for cmd in ["dump", "stats", "follow"] {
            if cmd == "follow" && (path == missing.as_path() || path == empty.as_path()) {
                continue; // follow waits for files to appear and headers to be written
            }
            let (code, out, err) = run(&[cmd, path.to_str().unwrap()]);
            assert_eq!(code, 1, "{cmd} {}: {err}", path.display());
            assert!(out.is_empty());
            assert!(err.contains(message), "{cmd} {}: {err}", path.display());
            assert!(!err.contains("panicked"), "{err}");
        }
    }
}

#[test]
fn larger_records_and_headers_of_later_versions_are_stepped_over() {
    let dir = TempDir::new();
    let path = dir.path("wide.trace");
    let mut h = header("wide", 3, 0, 0);
    h.header_size = 80;
    h.record_size = 56;
    let mut bytes = h.as_bytes().to_vec();
    bytes.extend([0xAA; 16]);
    for i in 0..5 {
        bytes.extend(rec(i * 10, 1, DIR_SEND, 1, 7, 0, i, 0).as_bytes());
        bytes.extend([0xBB; 8]);
    }
    std::fs::write(&path, bytes).unwrap();
    let lines = dump_json(&[path], FilterArgs::default());
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[4]["call_id"], 4);
    assert_eq!(lines[4]["method"], "Echo.echo");
}

#[test]
fn random_damage_never_panics() {
    let dir = TempDir::new();
    let good = dir.path("good.trace");
    synth::write_synthetic(&good, 64).unwrap();
    let original = std::fs::read(&good).unwrap();
    let path = dir.path("damaged.trace");
    let mut rng = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..300 {
        let mut bytes = original.clone();
        for _ in 0..1 + next() % 8 {
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
        }
        bytes.truncate((next() % (bytes.len() as u64 + 1)) as usize);
        std::fs::write(&path, &bytes).unwrap();
        if let Ok(mut merged) = Merged::open(std::slice::from_ref(&path)) {
            let mut filter = Filter::new(&FilterArgs::default()).unwrap();
            let mut sink = Vec::new();
            dump::dump(&mut merged, &mut filter, Style::default(), &mut sink).unwrap();
        }
        let _ = Stats::collect(std::slice::from_ref(&path));
    }
}

#[test]
fn plot_writes_a_valid_svg() {
    let dir = TempDir::new();
    let big = dir.path("big.trace");
    synth::write_synthetic(&big, 20_000).unwrap();
    let svg = dir.path("latency.svg");
    let (code, out, err) = run(&[
        "plot",
        big.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
        "--top",
        "3",
    ]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.trim_start().starts_with("<svg"), "{}", &text[..100]);
    assert!(text.trim_end().ends_with("</svg>"));
    for needle in [
        "latency (µs, log scale)",
        "share of the series",
        "time since trace start (s)",
        "synthetic client",
        "2000 responses",
    ] {
        assert!(text.contains(needle), "missing {needle}");
    }
    // Three series: three legend entries in each chart.
    assert_eq!(text.matches("synthetic client)").count(), 6);
    assert!(text.matches("<circle").count() > 3 * 2000);
    // Every element opened is closed: a cheap well-formedness check.
    let opens = text.matches('<').count();
    let closes = text.matches("/>").count() + text.matches("</").count();
    assert_eq!(opens, closes * 2 - text.matches("/>").count());

    let (code, _, err) = run(&[
        "plot",
        big.to_str().unwrap(),
        "-o",
        dir.path("x.png").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains(".svg"), "{err}");
    let (code, _, err) = run(&[
        "plot",
        big.to_str().unwrap(),
        "-o",
        svg.to_str().unwrap(),
        "--method",
        "WalletLoader",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("nothing to plot"), "{err}");
}

#[test]
fn follow_prints_records_as_the_real_writer_appends_them() {
    use hashvive_tools::follow::{follow_until, Options};
    let dir = TempDir::new();
    let path = dir.path("live.trace");
    let polled = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = std::thread::spawn({
        let path = path.clone();
        let polled = polled.clone();
        move || {
            // Started after follow's first poll, so follow first waits for the file.
            while !polled.load(Ordering::Acquire) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let trace = shm_ipc::Trace::create(&path, "live").unwrap();
            for i in 0..200u64 {
                trace.record(rec(i, 1, DIR_SEND, 1, 100, 0, i + 1, 0));
                if i % 50 == 49 {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
            trace.finish().unwrap();
        }
    });
    let options = Options {
        from_start: false,
        style: Style {
            wall: false,
            json: true,
        },
        interval: std::time::Duration::from_millis(5),
        wallets: false,
    };
    let mut filter = Filter::new(&FilterArgs {
        kind: vec!["request".into()],
        ..Default::default()
    })
    .unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut polls = 0;
    let mut finished_polls = 0;
    follow_until(&[path], &mut filter, &options, &mut out, || {
        polled.store(true, Ordering::Release);
        polls += 1;
        // Poll twice more once the writer is done, so its last flush is read.
        if writer.is_finished() {
            finished_polls += 1;
        }
        std::time::Instant::now() < deadline && finished_polls < 3
    })
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(polls > 3, "followed while the writer wrote");
    assert_eq!(lines.len(), 200, "every appended record, once");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["call_id"], i as u64 + 1);
        assert_eq!(l["method"], "Test.echo");
    }
}

#[test]
fn follow_picks_up_wallet_traces_as_they_appear() {
    use hashvive_tools::follow::{follow_until, Options};
    let dir = TempDir::new();
    let node = dir.path("ipc.trace");
    let other = dir.path("other.trace.wallet-9");
    write_trace(
        &other,
        &header("stranger", 9, 0, 0),
        &[rec(1, 1, DIR_SEND, 1, 7, 0, 1, 0)],
    )
    .unwrap();
    let writer = std::thread::spawn({
        let node = node.clone();
        move || {
            let trace = shm_ipc::Trace::create(&node, "hashvive-node").unwrap();
            trace.record(rec(
                shm_ipc::sys::monotonic_ns(),
                1,
                DIR_SEND,
                1,
                2,
                1,
                1,
                0,
            ));
            std::thread::sleep(std::time::Duration::from_millis(60));
            let wallet = shm_ipc::Trace::create(
                &node.with_file_name("ipc.trace.wallet-42"),
                "hashvive-wallet",
            )
            .unwrap();
            wallet.record(rec(
                shm_ipc::sys::monotonic_ns(),
                1,
                DIR_SEND,
                2,
                2,
                1,
                1,
                5,
            ));
            std::thread::sleep(std::time::Duration::from_millis(60));
            trace.record(rec(
                shm_ipc::sys::monotonic_ns(),
                1,
                DIR_RECV,
                2,
                2,
                1,
                1,
                7,
            ));
            wallet.finish().unwrap();
            trace.finish().unwrap();
        }
    });
    let options = Options {
        from_start: true,
        style: Style {
            wall: false,
            json: true,
        },
        interval: std::time::Duration::from_millis(5),
        wallets: true,
    };
    let mut filter = Filter::new(&FilterArgs::default()).unwrap();
    let mut out = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut finished_polls = 0;
    follow_until(&[node], &mut filter, &options, &mut out, || {
        if writer.is_finished() {
            finished_polls += 1;
        }
        std::time::Instant::now() < deadline && finished_polls < 3
    })
    .unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seen: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["process"].as_str().unwrap(), l["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("hashvive-node", "request"),
            ("hashvive-wallet", "response"),
            ("hashvive-node", "response")
        ]
    );
}
