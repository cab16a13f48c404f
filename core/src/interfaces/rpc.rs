//! RPC commands a client of [`Chain`](super::Chain) registers with the node's RPC server
//! (`Chain::handle_rpc`), as the wallet does with its commands.

use std::sync::Arc;

use bitcoin::BlockHash;
use serde_json::Value;

use crate::rpc::error::RpcError;

/// One call of a registered command, after the node resolved named parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonRequest {
    /// Method name.
    pub method: String,
    /// Positional parameters, trailing nulls removed.
    pub params: Vec<Value>,
    /// The URL-decoded `<name>` of a `/wallet/<name>` request path, `None` for `/`.
    pub wallet_name: Option<String>,
    /// The node's active tip when it dispatched the call. A client that has already
    /// processed this block needs no `wait_for_notifications_if_tip_changed` round trip.
    pub tip: Option<BlockHash>,
}

/// Runs registered commands; the result or error goes back to the RPC client unchanged.
pub trait RpcActor: Send + Sync {
    /// Executes `request`.
    fn call(&self, request: &JsonRequest) -> Result<Value, RpcError>;

    /// A call is probably coming: an actor in another process wakes up now, so that its
    /// wake-up overlaps the node's parsing of the request.
    fn prepare(&self) {}
}

/// A command to add to the node's RPC table.
#[derive(Clone)]
pub struct RpcCommand {
    /// Help category, e.g. `wallet`.
    pub category: String,
    /// Method name.
    pub name: String,
    /// Parameter names in position order; a leading `*` marks a required one.
    pub params: Vec<String>,
    /// Full `help <name>` text, in Core's layout.
    pub help: String,
    /// Hidden commands are callable but not listed by `help`.
    pub hidden: bool,
    /// Runs the command.
    pub actor: Arc<dyn RpcActor>,
}

impl std::fmt::Debug for RpcCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcCommand")
            .field("category", &self.category)
            .field("name", &self.name)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
