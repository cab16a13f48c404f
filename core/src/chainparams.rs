//! Chain parameters. Only regtest is supported; it uses Bitcoin Core's regtest values.

use bitcoin::blockdata::constants::genesis_block;
use bitcoin::{Amount, Block, CompactTarget, Network, Target};

/// Consensus and network parameters of the regtest chain.
#[derive(Debug, Clone)]
pub struct ChainParams {
    /// The rust-bitcoin network (always [`Network::Regtest`]).
    pub network: Network,
    /// Message start bytes, also the record magic of the block files.
    pub magic: [u8; 4],
    /// Blocks between subsidy halvings.
    pub subsidy_halving_interval: u32,
    /// Confirmations a coinbase output needs before it can be spent.
    pub coinbase_maturity: u32,
    /// Compact form of the proof-of-work limit; regtest blocks always use it.
    pub pow_limit_bits: CompactTarget,
    /// Default JSON-RPC port.
    pub rpc_port: u16,
    /// Default P2P port.
    pub p2p_port: u16,
    /// Name of the chain as Core prints it (`regtest`).
    pub chain_name: &'static str,
    /// Sub-directory of the datadir that holds this chain's files.
    pub data_subdir: &'static str,
}

impl ChainParams {
    /// Bitcoin Core's regtest parameters.
    pub fn regtest() -> Self {
        ChainParams {
            network: Network::Regtest,
            magic: [0xfa, 0xbf, 0xb5, 0xda],
            subsidy_halving_interval: 150,
            coinbase_maturity: 100,
            pow_limit_bits: CompactTarget::from_consensus(0x207f_ffff),
            rpc_port: 18443,
            p2p_port: 18444,
            chain_name: "regtest",
            data_subdir: "regtest",
        }
    }

    /// Parameters for a chain name given on the command line (`-chain=`), or an error
    /// message for chains this node does not implement.
    pub fn for_chain(name: &str) -> Result<Self, String> {
        match name {
            "regtest" => Ok(Self::regtest()),
            "main" | "test" | "testnet4" | "signet" => Err(format!(
                "Error: chain '{name}' is not supported; only -regtest is"
            )),
            other => Err(format!("Error: Unknown chain {other}.")),
        }
    }

    /// The genesis block of this chain.
    pub fn genesis(&self) -> Block {
        genesis_block(self.network)
    }

    /// The proof-of-work limit as a full target.
    pub fn pow_limit(&self) -> Target {
        Target::from_compact(self.pow_limit_bits)
    }

    /// Block subsidy at `height`: 50 BTC halved every `subsidy_halving_interval` blocks.
    pub fn subsidy(&self, height: u32) -> Amount {
        let halvings = height / self.subsidy_halving_interval;
        if halvings >= 64 {
            return Amount::ZERO;
        }
        Amount::from_sat((50 * 100_000_000) >> halvings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regtest_genesis_hash() {
        let p = ChainParams::regtest();
        assert_eq!(
            p.genesis().block_hash().to_string(),
            "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
        );
    }

    #[test]
    fn subsidy_halves_every_150_blocks() {
        let p = ChainParams::regtest();
        assert_eq!(p.subsidy(0).to_sat(), 5_000_000_000);
        assert_eq!(p.subsidy(149).to_sat(), 5_000_000_000);
        assert_eq!(p.subsidy(150).to_sat(), 2_500_000_000);
        assert_eq!(p.subsidy(150 * 64).to_sat(), 0);
    }

    #[test]
    fn other_chains_are_rejected() {
        assert!(ChainParams::for_chain("main")
            .unwrap_err()
            .contains("not supported"));
        assert!(ChainParams::for_chain("signet").is_err());
    }
}
