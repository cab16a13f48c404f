//! `hashvive-wallet`: the wallet in its own process, serving a node over shm-ipc.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(hashvive_bins::wallet_process::main(args));
}
