//! `hashvived`: node and wallet in one process. All logic lives in `hashvive_core::init`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut wallet = hashvive_core::init::InProcessWallet::default();
    std::process::exit(hashvive_core::init::run_daemon(args, &mut wallet));
}
