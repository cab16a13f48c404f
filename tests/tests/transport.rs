//! Transport tests between two real processes: this test and the `ipc-peer` helper.

use std::time::{Duration, Instant};

use hashvive_tests::{spawn_peer, Discard, Echo, Fail, Nest, Panic, Pid, Received, Sleep, Work};
use shm_ipc::frame::{ERR_HANDLER, ERR_PANIC};
use shm_ipc::{Connection, Error, IpcAddress, Listener, Options, Side, Transport};

fn payload(len: usize, seed: u64) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(seed) as u8)
        .collect()
}

fn echo_sizes(conn: &Connection, sizes: &[usize]) {
    for (i, &size) in sizes.iter().enumerate() {
        let sent = payload(size, i as u64);
        let got = conn.call::<Echo>(&sent).unwrap();
        assert_eq!(got.len(), size);
        assert!(got == sent, "payload of {size} bytes corrupted");
    }
}

fn small_ring() -> Options {
    Options {
        ring_capacity: 1 << 20,
        ..Options::default()
    }
}

#[test]
fn shared_memory_between_processes_all_sizes() {
    let (mut child, conn) = spawn_peer(&[], small_ring());
    assert_eq!(conn.transport(), Transport::Shm);
    assert_eq!(conn.peer().name, "ipc-peer");
    assert_eq!(conn.call::<Pid>(&()).unwrap(), child.id());
    // 0 B, 1 B, 1 MiB (> half the 1 MiB ring: chunked) and 5 MiB (> the whole ring).
    echo_sizes(&conn, &[0, 1, 64, 4096, 1 << 19, 1 << 20, 5 << 20]);
    // In-place read of the results, no owned copy.
    let sum = conn
        .call_with::<Echo, u64>(&payload(1000, 7), |bytes| {
            bytes.iter().map(|&b| b as u64).sum()
        })
        .unwrap();
    assert_eq!(sum, payload(1000, 7).iter().map(|&b| b as u64).sum::<u64>());
    drop(conn);
    assert!(child.wait().unwrap().success());
}

#[test]
fn socket_fallback_between_processes_all_sizes() {
    let (mut child, conn) = spawn_peer(&["-ipcshm=0"], small_ring());
    assert_eq!(conn.transport(), Transport::Socket);
    echo_sizes(&conn, &[0, 1, 64, 4096, 1 << 20, 5 << 20]);
    drop(conn);
    assert!(child.wait().unwrap().success());
}

/// Runs `calls` echo calls on each of `threads` threads, checking every payload, and
/// returns the slowest call.
fn concurrent_calls(conn: &Connection, threads: u64, calls: u64) -> Duration {
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let mut slowest = Duration::ZERO;
                    for i in 0..calls {
                        let sent = payload((i % 200) as usize, t << 32 | i);
                        let started = Instant::now();
                        let got = conn.call::<Echo>(&sent).unwrap();
                        slowest = slowest.max(started.elapsed());
                        assert!(got == sent, "thread {t} call {i}: wrong payload");
                    }
                    slowest
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap())
            .max()
            .unwrap()
    })
}

#[test]
fn eight_threads_100k_calls_each_over_shm() {
    let (mut child, conn) = spawn_peer(&[], Options::default());
    concurrent_calls(&conn, 8, 100_000);
    drop(conn);
    assert!(child.wait().unwrap().success());
}

#[test]
fn eight_threads_concurrent_calls_over_socket() {
    let (mut child, conn) = spawn_peer(&["-ipcshm=0"], Options::default());
    concurrent_calls(&conn, 8, 5_000);
    drop(conn);
    assert!(child.wait().unwrap().success());
}

#[test]
fn nested_calls_in_both_directions() {
    for args in [&[][..], &["-ipcshm=0"][..]] {
        let (mut child, conn) = spawn_peer(args, Options::default());
        // Depth 7: us -> peer -> us -> peer ... each hop a callback into the waiting thread.
        assert_eq!(conn.call::<Nest>(&7).unwrap(), 7);
        // Nested chains from several threads at once stay on their own threads.
        std::thread::scope(|scope| {
            for depth in 1..6u32 {
                let conn = &conn;
                scope.spawn(move || {
                    for _ in 0..200 {
                        assert_eq!(conn.call::<Nest>(&depth).unwrap(), depth);
                    }
                });
            }
        });
        drop(conn);
        assert!(child.wait().unwrap().success());
    }
}

/// Threads the process `pid` runs now.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// A node's HTTP server calls from a new thread per connection. The peer served each
/// new chain with a new thread that never ended, so after `max_server_threads` (256)
/// client threads it closed the connection ("too many concurrent call chains").
#[test]
fn short_lived_client_threads_do_not_use_up_server_threads() {
    for args in [&[][..], &["-ipcshm=0"][..]] {
        let (mut child, conn) = spawn_peer(args, Options::default());
        for i in 0..400u32 {
            let conn = &conn;
            std::thread::scope(|scope| {
                scope.spawn(move || {
                    // A nested call too: the chain keeps its server thread while in flight.
                    assert_eq!(conn.call::<Nest>(&2).unwrap(), 2, "client thread {i}");
                });
            });
        }
        // Concurrent chains each get a thread, and idle ones are reused afterwards.
        std::thread::scope(|scope| {
            for _ in 0..24 {
                let conn = &conn;
                scope.spawn(move || conn.call::<Sleep>(&20).unwrap());
            }
        });
        for _ in 0..100 {
            std::thread::scope(|scope| {
                scope.spawn(|| conn.call::<Pid>(&()).unwrap());
            });
        }
        let threads = thread_count(child.id());
        assert!(threads <= 40, "{args:?}: the peer runs {threads} threads");
        drop(conn);
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn handler_errors_and_panics_reach_the_caller_and_keep_the_connection() {
    let (mut child, conn) = spawn_peer(&[], Options::default());
    match conn.call::<Fail>(&"no such wallet".to_string()) {
        Err(Error::Remote(e)) => {
            assert_eq!(e.code, ERR_HANDLER);
            assert!(e.message.contains("no such wallet"), "{}", e.message);
        }
        other => panic!("expected a remote error, got {other:?}"),
    }
    match conn.call::<Panic>(&()) {
        Err(Error::Remote(e)) => {
            assert_eq!(e.code, ERR_PANIC);
            assert!(e.message.contains("deliberate test panic"), "{}", e.message);
        }
        other => panic!("expected a remote panic, got {other:?}"),
    }
    echo_sizes(&conn, &[10]);
    drop(conn);
    assert!(child.wait().unwrap().success());
}

#[test]
fn kill_9_mid_call_gives_disconnected_quickly() {
    for args in [&[][..], &["-ipcshm=0"][..]] {
        let (mut child, conn) = spawn_peer(args, Options::default());
        let caller = {
            let conn = conn.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                (conn.call::<Sleep>(&10_000), started)
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let killed = Instant::now();
        child.kill().unwrap();
        let (result, _) = caller.join().unwrap();
        let detected = killed.elapsed();
        assert!(
            matches!(result, Err(Error::Disconnected(_))),
            "expected Disconnected, got {result:?}"
        );
        // The mechanism is the socket HUP seen by the background reader, not a timeout.
        assert!(detected < Duration::from_millis(100), "took {detected:?}");
        assert!(conn.is_closed());
        assert!(matches!(conn.call::<Pid>(&()), Err(Error::Disconnected(_))));
        child.wait().unwrap();
    }
}

#[test]
fn close_callbacks_run_when_the_peer_exits() {
    let (mut child, conn) = spawn_peer(&[], Options::default());
    let (tx, rx) = std::sync::mpsc::channel();
    conn.on_close(move |reason| tx.send(reason.to_string()).unwrap());
    child.kill().unwrap();
    let reason = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(reason.contains("disconnected"), "{reason}");
    child.wait().unwrap();
}

#[test]
fn a_peer_scribbling_over_the_rings_gets_disconnected_without_ub() {
    let (mut child, conn) = spawn_peer(&["-scribble"], Options::default());
    // The peer scribbles right after the handshake; our next read must fail cleanly.
    let deadline = Instant::now() + Duration::from_secs(5);
    let error = loop {
        let result = conn.call::<Echo>(&vec![1, 2, 3]);
        assert!(
            Instant::now() < deadline,
            "garbage rings went unnoticed: {result:?}"
        );
        match result {
            // The peer may find our request scribbled over and refuse it as a bad
            // archive first; that is clean too, and the scribbling goes on.
            Err(Error::Remote(e)) if e.code == shm_ipc::frame::ERR_BAD_REQUEST => {}
            Err(e) => break e,
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    assert!(matches!(error, Error::Disconnected(_)), "{error:?}");
    // Either we caught the garbage ourselves or the peer tripped over its own
    // scribbles first; both must end as a clean disconnect.
    let reason = conn.close_reason().unwrap();
    assert!(
        reason.contains("corrupted") || reason.contains("disconnected"),
        "{reason}"
    );
    child.kill().ok();
    child.wait().unwrap();
}

#[test]
fn spin_zero_stress_loses_no_wakeup() {
    // Every message needs an eventfd wake-up on both sides. The safety-net timeout is
    // raised to 10 s on both sides, so a lost wake-up shows as a call stalled for
    // seconds; scheduling noise on a loaded machine stays far below that.
    let opts = Options {
        spin: Duration::ZERO,
        park_timeout: Duration::from_secs(10),
        ..Options::default()
    };
    let (mut child, conn) = spawn_peer(&["-ipcspin=0", "-ipcparkms=10000"], opts);
    let slowest = concurrent_calls(&conn, 4, 250_000);
    assert!(
        slowest < Duration::from_secs(2),
        "a call stalled for {slowest:?}: lost wake-up"
    );
    drop(conn);
    assert!(child.wait().unwrap().success());
}

#[test]
fn attached_peer_over_a_listening_socket_shm_and_fallback() {
    let dir = std::env::temp_dir().join(format!("hashvive-attach-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (i, shm) in [true, false].into_iter().enumerate() {
        let path = dir.join(format!("node{i}.sock"));
        let address = IpcAddress { path: path.clone() };
        let listener = Listener::bind(&address).unwrap();
        let mut command = std::process::Command::new(hashvive_tests::peer_binary());
        command.arg(format!("-ipcconnect=unix:{}", path.display()));
        if !shm {
            command.arg("-ipcshm=0");
        }
        let mut child = command.spawn().unwrap();
        let socket = listener.accept().unwrap();
        let conn = Connection::new(
            socket,
            Side::Acceptor,
            Options::default(),
            hashvive_tests::services(),
        )
        .unwrap();
        let expected = if shm {
            Transport::Shm
        } else {
            Transport::Socket
        };
        assert_eq!(conn.transport(), expected);
        echo_sizes(&conn, &[0, 1, 100, 1 << 20]);
        assert_eq!(conn.call::<Nest>(&4).unwrap(), 4);
        drop(conn);
        assert!(child.wait().unwrap().success());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn calls_fail_cleanly_after_local_close() {
    let (mut child, conn) = spawn_peer(&[], Options::default());
    let other = conn.clone();
    conn.close();
    assert!(matches!(
        other.call::<Pid>(&()),
        Err(Error::Disconnected(_))
    ));
    drop((conn, other));
    assert!(child.wait().unwrap().success());
}

#[test]
fn one_way_messages_arrive_in_order_before_a_later_call() {
    for args in [&[][..], &["-ipcshm=0"][..]] {
        let (mut child, conn) = spawn_peer(args, small_ring());
        let mut bytes = 0;
        for i in 0..20_000usize {
            let size = [0, 1, 64, 3000, 700_000][i % 5];
            conn.notify::<Discard>(&vec![i as u8; size]).unwrap();
            bytes += size as u64;
        }
        // Same thread, same chain: the call is handled after every message before it.
        assert_eq!(conn.call::<Received>(&()).unwrap(), (20_000, bytes));
        drop(conn);
        assert!(child.wait().unwrap().success());
    }
}

#[test]
fn a_peer_of_another_user_is_refused() {
    let dir = std::env::temp_dir().join(format!("hashvive-uid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("node.sock");
    let listener = Listener::bind(&IpcAddress { path: path.clone() }).unwrap();
    if shm_ipc::sys::uid() != 0 {
        // Only root can start a peer under another uid; still check our own is let in.
        let child = std::process::Command::new(hashvive_tests::peer_binary())
            .arg(format!("-ipcconnect=unix:{}", path.display()))
            .spawn()
            .unwrap();
        assert!(listener.accept().is_ok());
        drop(child);
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    // Let the other user reach the socket at all; SO_PEERCRED must still refuse it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    // The other user may not be able to reach our build tree (a checkout under /root,
    // say): run a copy from the world-readable test directory.
    let peer = dir.join("ipc-peer");
    std::fs::copy(hashvive_tests::peer_binary(), &peer).unwrap();
    std::fs::set_permissions(&peer, std::fs::Permissions::from_mode(0o755)).unwrap();
    use std::os::unix::process::CommandExt;
    let child = std::process::Command::new(&peer)
        .arg(format!("-ipcconnect=unix:{}", path.display()))
        .uid(65534)
        .gid(65534)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let error = listener.accept().unwrap_err().to_string();
    assert!(
        error.contains("refusing IPC peer running as uid 65534"),
        "{error}"
    );
    // The peer refuses us in turn: a node must run as the wallet's own user.
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing IPC peer running as uid 0"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

#[test]
fn prewake_gets_a_parked_peer_spinning_for_the_coming_frame() {
    // A long spin budget (300 ms) on the peer makes its spinning observable from here,
    // and a 10 s watchdog keeps it from waking by itself.
    let (mut child, conn) =
        spawn_peer(&["-ipcspin=300000", "-ipcparkms=10000"], Options::default());
    echo_sizes(&conn, &[64]);
    wait_for("the idle peer parks", || conn.peer_reader_parked());
    std::thread::sleep(Duration::from_millis(50));
    assert!(conn.peer_reader_parked(), "nothing else wakes an idle peer");

    conn.prewake();
    wait_for("the prewoken peer spins", || !conn.peer_reader_parked());
    wait_for("it parks again after its budget", || {
        conn.peer_reader_parked()
    });
    // The hint is used up: a later stray wake-up does not spin again, and calls work.
    echo_sizes(&conn, &[64, 4096]);
    drop(conn);
    assert!(child.wait().unwrap().success());

    // No-op on the socket fallback.
    let (mut child, conn) = spawn_peer(&["-ipcshm=0"], Options::default());
    assert!(!conn.peer_reader_parked());
    conn.prewake();
    echo_sizes(&conn, &[64]);
    drop(conn);
    assert!(child.wait().unwrap().success());
}

/// CPU time, in ns, that all threads of process `pid` have had.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the peer's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A server thread that got a request let the reader role go to an idle server thread,
/// which spun for a next request through the whole handler: on two cores, taking the
/// CPU the handler and its caller needed (sends ran 10% slower in the wallet process).
#[test]
fn idle_server_threads_do_not_spin_while_a_handler_runs() {
    let (mut child, conn) = spawn_peer(&["-ipcspin=1000000"], Options::default());
    // Two concurrent chains leave the peer two server threads.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            let conn = &conn;
            scope.spawn(move || conn.call::<Work>(&50_000_000).unwrap());
        }
    });
    // Past the longest spin (1 s), so both server threads sleep.
    std::thread::sleep(Duration::from_millis(1500));
    let before = cpu_ns(child.id());
    conn.call::<Work>(&300_000_000).unwrap();
    let used = cpu_ns(child.id()) - before;
    assert!(
        used < 450_000_000,
        "the peer had {} ms of CPU for 300 ms of work",
        used / 1_000_000
    );
    drop(conn);
    assert!(child.wait().unwrap().success());
}

/// A thread waiting for a response asks an idle server thread holding the reader role
/// to hand it over. The idle thread let go but took the role back before the waiting
/// thread woke up, so every callback of a nested call reached the caller through the
/// idle thread: a wake-up per callback (a rescan's first calls into the node cost 13 µs
/// each instead of 2).
#[test]
fn a_caller_gets_the_reader_role_from_an_idle_server_thread() {
    let (a_end, b_end) = shm_ipc::socketpair().unwrap();
    let services = hashvive_tests::services;
    let (a, b) = std::thread::scope(|scope| {
        let b = scope.spawn(|| {
            Connection::new(b_end, Side::Connector, Options::default(), services()).unwrap()
        });
        let a = Connection::new(a_end, Side::Acceptor, Options::default(), services()).unwrap();
        (a, b.join().unwrap())
    });
    // A call from b leaves a a server thread, which then holds a's reader role idle.
    std::thread::scope(|scope| {
        scope.spawn(|| b.call::<Echo>(&vec![1u8; 8]).unwrap());
    });
    std::thread::sleep(Duration::from_millis(20));
    // Nest(20) crosses 20 times: 21 frames for this thread (10 callbacks, the responses
    // to its 10 nested calls, and its own response). The fewest of three calls, so that
    // a loaded machine waking this thread late once does not count.
    let handed = (0..3)
        .map(|_| {
            let before = a.handed_over();
            assert_eq!(a.call::<Nest>(&20).unwrap(), 20);
            a.handed_over() - before
        })
        .min()
        .unwrap();
    assert!(
        handed <= 2,
        "{handed} of 21 frames came through another thread"
    );
}
