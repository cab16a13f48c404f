//! `hashvive-node`: the node, with the wallet in a `hashvive-wallet` process it spawns
//! (and any that attach on `-ipcbind`). A drop-in replacement for `hashvived`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut wallets = hashvive_bins::node_host::NodeHost::default();
    std::process::exit(hashvive_core::init::run_daemon(args, &mut wallets));
}
