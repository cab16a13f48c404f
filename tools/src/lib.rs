//! `hashvive-ipc-trace`: reads the binary frame traces written by `-ipctrace=<file>`
//! (format in `tools/README.md`) and dumps, summarizes, plots or follows them.

#![warn(missing_docs)]

pub mod dump;
pub mod filter;
pub mod follow;
pub mod names;
pub mod plot;
pub mod reader;
pub mod stats;
pub mod synth;
