//! Process wiring of the hashvive executables: which implementation of each interface a
//! process uses, and how processes find and connect to each other. The domain logic lives
//! in `hashvive-core`; the transport in `shm-ipc`.

pub mod ipc_options;
pub mod node_host;
pub mod wallet_process;
