//! `-debug=ipc` log lines and `-ipctrace` records, over in-process connection pairs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hashvive_tests::{services, Echo, Fail, TEST_INTERFACE};
use parking_lot::Mutex;
use shm_ipc::trace::{TraceHeader, TraceRecord, DIR_RECV, DIR_SEND, TRACE_MAGIC};
use shm_ipc::{
    socketpair, Connection, Dispatcher, LogHook, Method, Options, Services, Side, Trace,
};
use zerocopy::FromBytes;

fn pair(client: Options, server: Options, server_services: Services) -> (Connection, Connection) {
    let (a, b) = socketpair().unwrap();
    let acceptor = std::thread::spawn(move || {
        Connection::new(a, Side::Acceptor, server, server_services).unwrap()
    });
    let connector = Connection::new(b, Side::Connector, client, Services::default()).unwrap();
    (connector, acceptor.join().unwrap())
}

fn capture() -> (LogHook, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    (
        Arc::new(move |line: &str| sink.lock().push(line.to_string())),
        lines,
    )
}

#[test]
fn debug_ipc_lines_in_core_style() {
    for shm in [true, false] {
        let (client_log, client_lines) = capture();
        let (server_log, server_lines) = capture();
        let (client, _server) = pair(
            Options {
                name: "hashvive-wallet".into(),
                shm,
                log: Some(client_log),
                ..Options::default()
            },
            Options {
                name: "hashvive-node".into(),
                shm,
                log: Some(server_log),
                ..Options::default()
            },
            services(),
        );
        client.call::<Echo>(&b"hi".to_vec()).unwrap();
        let _ = client.call::<Fail>(&"boom".to_string());
        let client_lines = client_lines.lock().clone();
        let server_lines = server_lines.lock().clone();
        let pid = std::process::id();
        let prefix = format!("{{hashvive-wallet-{pid}/");
        assert!(client_lines[0].starts_with(&prefix), "{client_lines:?}");
        assert!(
            client_lines[0].ends_with("IPC client send Test.echo$Params ([104, 105])"),
            "{client_lines:?}"
        );
        assert!(
            client_lines[1].ends_with("IPC client recv Test.echo$Results ([104, 105])"),
            "{client_lines:?}"
        );
        assert!(
            client_lines
                .iter()
                .any(|l| l.contains("IPC client recv Test.fail$Error (Test: boom)")),
            "{client_lines:?}"
        );
        assert!(
            server_lines
                .iter()
                .any(|l| l.contains("IPC server recv request #1 Test.echo$Params ([104, 105])")),
            "{server_lines:?}"
        );
        assert!(
            server_lines
                .iter()
                .any(|l| l.contains("IPC server send response #1 Test.echo$Results")),
            "{server_lines:?}"
        );
        assert!(
            server_lines
                .iter()
                .any(|l| l.contains("IPC server send error #2 Test: boom")),
            "{server_lines:?}"
        );
    }
}

#[test]
fn long_payloads_are_cut_at_200_characters() {
    let (log, lines) = capture();
    let (client, _server) = pair(
        Options {
            log: Some(log),
            ..Options::default()
        },
        Options::default(),
        services(),
    );
    client.call::<Echo>(&vec![7u8; 10_000]).unwrap();
    let line = lines.lock()[0].clone();
    let payload = line.split("$Params ").nth(1).unwrap();
    assert!(payload.ends_with("...)"), "{payload}");
    assert_eq!(payload.chars().count(), 200 + "(...)".len());
}

/// A parameter whose Debug formatting is counted, to prove nothing is formatted when
/// `-debug=ipc` is off.
#[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
struct Counted(u32);

static FORMATTED: AtomicUsize = AtomicUsize::new(0);

impl std::fmt::Debug for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        FORMATTED.fetch_add(1, Ordering::SeqCst);
        write!(f, "Counted({})", self.0)
    }
}

struct Double;
impl Method for Double {
    const INTERFACE: u16 = TEST_INTERFACE + 1;
    const INTERFACE_NAME: &'static str = "Counting";
    const ID: u16 = 0;
    const NAME: &'static str = "double";
    type Params = Counted;
    type Results = Counted;
}

#[test]
fn no_formatting_work_when_logging_is_off() {
    let server_services = Services::default();
    server_services.add(
        TEST_INTERFACE + 1,
        Arc::new(
            Dispatcher::new("Counting").method::<Double>(|n, _| Ok(Counted(n.0.to_native() * 2))),
        ),
    );
    let (client, _server) = pair(Options::default(), Options::default(), server_services);
    for i in 0..100 {
        assert_eq!(client.call::<Double>(&Counted(i)).unwrap().0, i * 2);
    }
    assert_eq!(FORMATTED.load(Ordering::SeqCst), 0);
}

static GATE_OPEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn gate() -> bool {
    GATE_OPEN.load(Ordering::SeqCst)
}

#[test]
fn the_log_gate_switches_logging_at_run_time() {
    let (log, lines) = capture();
    let (client, _server) = pair(
        Options {
            log: Some(log),
            log_gate: Some(gate),
            ..Options::default()
        },
        Options::default(),
        services(),
    );
    client.call::<Echo>(&vec![1u8; 4]).unwrap();
    assert!(lines.lock().is_empty(), "closed gate: no lines");
    GATE_OPEN.store(true, Ordering::SeqCst);
    client.call::<Echo>(&vec![2u8; 4]).unwrap();
    let logged = lines.lock().clone();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert!(
        logged[0].contains("IPC client send Test.echo$Params"),
        "{logged:?}"
    );
}

#[test]
fn trace_records_every_frame_with_latency() {
    let dir = std::env::temp_dir().join(format!("hashvive-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let client_path = dir.join("client.trace");
    let server_path = dir.join("server.trace");
    let client_trace = Trace::create(&client_path, "client").unwrap();
    let server_trace = Trace::create(&server_path, "server").unwrap();
    let (client, server) = pair(
        Options {
            trace: Some(Arc::clone(&client_trace)),
            ..Options::default()
        },
        Options {
            trace: Some(Arc::clone(&server_trace)),
            ..Options::default()
        },
        services(),
    );
    for i in 0..50u8 {
        client.call::<Echo>(&vec![i; i as usize * 100]).unwrap();
    }
    drop((client, server));
    client_trace.finish().unwrap();
    server_trace.finish().unwrap();
    for (path, first_direction) in [(&client_path, DIR_SEND), (&server_path, DIR_RECV)] {
        let bytes = std::fs::read(path).unwrap();
        let header = TraceHeader::read_from_bytes(&bytes[..64]).unwrap();
        assert_eq!(header.magic, TRACE_MAGIC);
        assert_eq!(header.pid, std::process::id());
        let records: Vec<TraceRecord> = bytes[64..]
            .chunks(48)
            .map(|c| TraceRecord::read_from_bytes(c).unwrap())
            .collect();
        assert_eq!(records.len(), 100, "{}", path.display());
        for (i, pair) in records.chunks(2).enumerate() {
            let (request, response) = (&pair[0], &pair[1]);
            assert_eq!(request.direction, first_direction);
            assert_eq!(response.direction, 1 - first_direction);
            assert_eq!(request.kind, 1);
            assert_eq!(response.kind, 2);
            assert_eq!(request.call_id, i as u64 + 1);
            assert_eq!(response.call_id, request.call_id);
            assert_eq!(request.interface, TEST_INTERFACE);
            assert!(request.size as usize >= i * 100);
            assert_eq!(request.latency_ns, 0);
            assert!(response.latency_ns > 0);
            assert!(response.time_ns >= request.time_ns);
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
