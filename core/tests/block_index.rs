//! The block index's `time_max` (Core's `nTimeMax`), which `FoundBlock::max_time` and so
//! every rescan step reads. Its own test binary: it moves the process-wide mock time.

use std::sync::Arc;

use bitcoin::blockdata::opcodes::OP_TRUE;
use bitcoin::ScriptBuf;
use hashvive_core::args::ArgsManager;
use hashvive_core::chainparams::ChainParams;
use hashvive_core::init::DAEMON_ARGS;
use hashvive_core::interfaces::{Chain, NodeChain};
use hashvive_core::node::Node;
use hashvive_core::rpc::dispatch::ClientCommands;
use hashvive_core::settings::RwSettings;
use hashvive_core::time::set_mock_time;

fn chain_over(node: &Arc<Node>, dir: &std::path::Path) -> NodeChain {
    let args = ArgsManager::parse_command_line(DAEMON_ARGS, &["-regtest".to_string()], false);
    NodeChain::new(
        Arc::clone(node),
        Arc::new(ClientCommands::default()),
        Arc::new(args.unwrap()),
        Arc::new(RwSettings::open(&dir.join("settings.json")).unwrap()),
        dir.join("wallets"),
        None,
    )
}

#[test]
fn max_time_is_the_running_maximum_and_survives_a_restart() {
    let dir = std::env::temp_dir().join(format!("hv-block-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let script = ScriptBuf::from_bytes(vec![OP_TRUE.to_u8()]);
    let base = 1_800_000_000;
    let (early, late) = {
        let node = Arc::new(Node::open(ChainParams::regtest(), &dir, 1000).unwrap());
        // Eleven blocks 1000 s apart, then the clock goes back: later blocks take
        // median-time-past + 1, below the earlier blocks' times.
        let mut early = Vec::new();
        for i in 0..11 {
            set_mock_time(base + i * 1000);
            early.extend(node.generate(&script, 1, u64::MAX).unwrap());
        }
        set_mock_time(base + 4000);
        let late = node.generate(&script, 3, u64::MAX).unwrap();
        set_mock_time(0);
        let chain = chain_over(&node, &dir);
        let times: Vec<u32> = early
            .iter()
            .chain(&late)
            .map(|h| chain.find_block(h, false).unwrap().time)
            .collect();
        let peak = *times.iter().max().unwrap();
        let last = chain.find_block(late.last().unwrap(), false).unwrap();
        assert!(
            last.time < peak,
            "the test needs a block older than its parent"
        );
        assert_eq!(last.max_time, peak);
        let mut running = 0;
        for (hash, time) in early.iter().chain(&late).zip(&times) {
            running = running.max(*time);
            assert_eq!(chain.find_block(hash, false).unwrap().max_time, running);
        }
        drop(chain);
        drop(node);
        (early, late)
    };
    // Rebuilt from the stored index on the next start.
    let node = Arc::new(Node::open(ChainParams::regtest(), &dir, 1000).unwrap());
    let chain = chain_over(&node, &dir);
    let peak = chain.find_block(early.last().unwrap(), false).unwrap().time;
    assert_eq!(
        chain
            .find_block(late.last().unwrap(), false)
            .unwrap()
            .max_time,
        peak
    );
    drop(chain);
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
