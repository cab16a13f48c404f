//! The iceoryx2 comparison row: a request-response echo between two processes, the
//! nearest iceoryx2 equivalent of a shm-ipc Echo call.

use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use iceoryx2::prelude::*;

use crate::Samples;

/// How long an unanswered request waits before it is sent again: requests sent before
/// both ports have seen each other are dropped silently.
const RESEND_AFTER: Duration = Duration::from_millis(20);
/// How long the server may take to start and answer the first request.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);
/// How long the server may take to exit after the stop request before it is killed.
const EXIT_DEADLINE: Duration = Duration::from_secs(2);

type Client = iceoryx2::port::client::Client<ipc::Service, [u8], (), [u8], ()>;

/// Round trips of `size` bytes to an echoing server process, both sides busy-polling.
pub fn pingpong(size: usize, budget: Duration) -> Samples {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "hashvive/ipc-bench/{}/{}/{}",
        std::process::id(),
        size,
        CALLS.fetch_add(1, Ordering::Relaxed)
    );
    let node = create_node();
    // A server killed in an earlier run (see `stop`) cannot remove its own node.
    node.try_cleanup_dead_nodes();
    let service = node
        .service_builder(&name.as_str().try_into().expect("iceoryx2 service name"))
        .request_response::<[u8], [u8]>()
        .open_or_create()
        .expect("create iceoryx2 service");
    let client = service
        .client_builder()
        .initial_max_slice_len(size)
        .create()
        .expect("create iceoryx2 client");
    // Declared after the ports so it drops (and reaps the server) before them.
    let mut server = ServerProcess::spawn(&name, size);

    let payload = vec![0x5au8; size];
    server.await_first_response(&client, &payload);
    let warmup = Instant::now();
    while warmup.elapsed() < budget / 5 {
        round_trip(&client, &payload, &mut server);
    }
    let mut samples = Samples::default();
    let start = Instant::now();
    while start.elapsed() < budget && samples.len() < 2_000_000 {
        let t = Instant::now();
        let len = round_trip(&client, &payload, &mut server);
        samples.push(t.elapsed().as_nanos() as u64);
        assert_eq!(len, size, "iceoryx2 echo returned the wrong length");
    }
    server.stop(&client, &node);
    samples
}

/// The server process for [`pingpong`]: `<service-name> <size>`, until an empty request.
pub fn serve(mut args: impl Iterator<Item = String>) {
    let name = args.next().expect("--iceoryx-server: missing service name");
    let size: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .expect("--iceoryx-server: missing or invalid size");
    let parent = std::os::unix::process::parent_id();
    let node = create_node();
    let service = node
        .service_builder(&name.as_str().try_into().expect("iceoryx2 service name"))
        .request_response::<[u8], [u8]>()
        .open_or_create()
        .expect("open iceoryx2 service");
    let server = service
        .server_builder()
        .initial_max_slice_len(size)
        .create()
        .expect("create iceoryx2 server");
    let mut idle = 0u32;
    loop {
        match server.receive().expect("iceoryx2 server receive") {
            Some(request) => {
                idle = 0;
                let bytes = request.payload();
                if bytes.is_empty() {
                    break;
                }
                // A failed loan or send means the client went away; its stop request
                // or the parent check below ends the loop.
                if let Ok(response) = request.loan_slice_uninit(bytes.len()) {
                    let _ = response.write_from_slice(bytes).send();
                }
            }
            None => {
                idle = idle.wrapping_add(1);
                // An orphaned spinner would burn a CPU forever; checking the parent
                // now and then keeps the syscall off the hot path.
                if idle & 0x3ff == 0 && std::os::unix::process::parent_id() != parent {
                    // The client died without dropping its node; its resources are
                    // ours to remove.
                    node.try_cleanup_dead_nodes();
                    break;
                }
                std::hint::spin_loop();
            }
        }
    }
}

fn create_node() -> Node<ipc::Service> {
    // The default console logger prints info and warnings to stderr, which the
    // harness must keep clean; IOX2_LOG_LEVEL still overrides it for debugging.
    set_log_level_from_env_or(LogLevel::Error);
    NodeBuilder::new()
        // Nothing here calls Node::wait, and Ctrl-C must still end the harness.
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()
        .expect("create iceoryx2 node")
}

/// Sends `payload`, spins until the response arrives and returns its length.
fn round_trip(client: &Client, payload: &[u8], server: &mut ServerProcess) -> usize {
    let pending = client
        .loan_slice_uninit(payload.len())
        .expect("iceoryx2 loan")
        .write_from_slice(payload)
        .send()
        .expect("iceoryx2 send");
    let mut spins = 0u32;
    loop {
        if let Some(response) = pending.receive().expect("iceoryx2 receive") {
            return response.payload().len();
        }
        spins = spins.wrapping_add(1);
        // A dead server would leave us spinning forever; the check is rare enough
        // to stay off any round trip that succeeds.
        if spins & 0xffff == 0 {
            server.assert_running();
        }
        std::hint::spin_loop();
    }
}

/// The server child; dropping it kills and reaps the child if it is still running, so
/// a panic mid-measurement leaves no spinner behind.
struct ServerProcess(Child);

impl ServerProcess {
    fn spawn(name: &str, size: usize) -> Self {
        let child = Command::new(std::env::current_exe().expect("current exe"))
            .arg("--iceoryx-server")
            .arg(name)
            .arg(size.to_string())
            .spawn()
            .expect("spawn iceoryx2 server");
        Self(child)
    }

    /// Resends until the server answers once, since it connects some time after it
    /// is spawned.
    fn await_first_response(&mut self, client: &Client, payload: &[u8]) {
        let start = Instant::now();
        loop {
            assert!(
                start.elapsed() < STARTUP_DEADLINE,
                "iceoryx2 server did not answer within {STARTUP_DEADLINE:?}"
            );
            self.assert_running();
            let pending = client
                .loan_slice_uninit(payload.len())
                .expect("iceoryx2 loan")
                .write_from_slice(payload)
                .send()
                .expect("iceoryx2 send");
            let sent = Instant::now();
            while pending.number_of_server_connections() > 0 && sent.elapsed() < RESEND_AFTER {
                if pending.receive().expect("iceoryx2 receive").is_some() {
                    return;
                }
                std::hint::spin_loop();
            }
            if pending.number_of_server_connections() == 0 {
                // No server port yet; polling at full speed would only steal its CPU.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.0.try_wait() {
            panic!("iceoryx2 server exited early: {status}");
        }
    }

    /// Asks the server to exit with an empty request and reaps it, killing it (and
    /// removing what its node left behind) if it does not go in time.
    fn stop(mut self, client: &Client, node: &Node<ipc::Service>) {
        // Kept alive until the server is gone: the server skips requests whose
        // pending response was already dropped.
        let pending = client
            .loan_slice_uninit(0)
            .ok()
            .and_then(|request| request.write_from_slice(&[]).send().ok());
        let stop_sent = pending
            .as_ref()
            .is_some_and(|pending| pending.number_of_server_connections() > 0);
        let start = Instant::now();
        while stop_sent && start.elapsed() < EXIT_DEADLINE {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
        node.try_cleanup_dead_nodes();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}
