//! `hashvived`: the node (the wallet joins later). All logic lives in `hashvive_core::init`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(hashvive_core::init::run_daemon(args));
}
