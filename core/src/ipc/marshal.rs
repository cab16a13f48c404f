//! How domain types cross a connection: each has a wire form (an rkyv type) it is turned
//! into on the sending side and rebuilt from, in place, on the receiving side. Blocks and
//! transactions cross as consensus bytes; objects (listeners, RPC actors, handlers) as ids
//! in the connection's object table.

use std::sync::Arc;

use bitcoin::consensus::{deserialize, serialize};
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, Transaction, Txid};
use rkyv::{Archive, Deserialize, Serialize};
use serde_json::Value;
use shm_ipc::Wire;

use super::IpcContext;
use crate::interfaces::{
    BlockBytes, BlockRef, FeeEstimate, FoundBlock, Handler, JsonRequest, RemovalReason, RpcActor,
    RpcCommand,
};
use crate::rpc::error::RpcError;

/// The archived form of `T`.
pub type Archived<T> = <T as Archive>::Archived;

/// A value that can be sent.
pub trait Marshal {
    /// What crosses the connection.
    type Wire: Wire;
    /// The wire form of `self`; objects are registered with `cx` and sent as ids.
    fn to_wire(&self, cx: &Arc<IpcContext>) -> Self::Wire;
}

/// A value that can be rebuilt from its archived wire form.
pub trait Unmarshal: Marshal + Sized {
    /// Rebuilds the value; objects become proxies calling back over `cx`.
    fn from_wire(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String>;
}

/// A result that is moved into the wire form (a [`crate::interfaces::Handler`] moves
/// into the object table), where arguments are only borrowed.
pub trait IntoWire {
    /// What crosses the connection.
    type Wire: Wire;
    /// Consumes `self` into its wire form.
    fn into_wire(self, cx: &Arc<IpcContext>) -> Self::Wire;
}

impl<T: Marshal> IntoWire for T {
    type Wire = T::Wire;
    fn into_wire(self, cx: &Arc<IpcContext>) -> Self::Wire {
        self.to_wire(cx)
    }
}

/// A result rebuilt on the calling side (a [`Handler`] becomes one that releases the
/// remote registration).
pub trait FromResult: Sized {
    /// What crosses the connection.
    type Wire: Wire;
    /// Rebuilds the value.
    fn from_result(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String>;
}

impl<T: Unmarshal> FromResult for T {
    type Wire = T::Wire;
    fn from_result(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String> {
        T::from_wire(wire, cx)
    }
}

impl IntoWire for Handler {
    type Wire = u64;
    fn into_wire(self, cx: &Arc<IpcContext>) -> u64 {
        cx.add_object::<parking_lot::Mutex<Handler>>(Arc::new(parking_lot::Mutex::new(self)))
    }
}

impl FromResult for Handler {
    type Wire = u64;
    fn from_result(wire: &Archived<u64>, cx: &Arc<IpcContext>) -> Result<Self, String> {
        let (cx, id) = (Arc::clone(cx), wire.to_native());
        Ok(Handler::new(move || {
            super::interfaces::release_remote(&cx, id)
        }))
    }
}

/// The owned type a borrowed argument (`&str`, `&[T]`, `&T`) is rebuilt into.
pub trait OwnedArg {
    /// The owned form, which derefs to `Self`.
    type Owned: Unmarshal;
}

impl<T: Unmarshal> OwnedArg for T {
    type Owned = T;
}

impl OwnedArg for str {
    type Owned = String;
}

/// A borrowing argument type such as `BlockRef<'_>`: rebuilt into an owned value, then
/// viewed.
pub trait View<'a> {
    /// The owned value the view borrows from.
    type Owned: Unmarshal;
    /// The view of `owned`.
    fn view(owned: &'a Self::Owned) -> Self;
}

/// What a proxy method returns when the call itself failed (the peer is gone): the
/// value that lets the caller carry on safely, or a panic where no such value exists.
pub trait OnCallFailure {
    /// The stand-in for a failed call.
    fn on_call_failure(error: String) -> Self;
}

impl OnCallFailure for () {
    fn on_call_failure(error: String) {
        crate::log_debug!("ipc", "IPC call failed, ignored: {error}");
    }
}

impl<T> OnCallFailure for Vec<T> {
    fn on_call_failure(error: String) -> Self {
        crate::log_debug!("ipc", "IPC call failed, empty result: {error}");
        Vec::new()
    }
}

impl<T> OnCallFailure for Result<T, String> {
    fn on_call_failure(error: String) -> Self {
        Err(error)
    }
}

impl OnCallFailure for Result<Value, RpcError> {
    fn on_call_failure(error: String) -> Self {
        // RPC_WALLET_NOT_FOUND: the wallet that would answer is gone.
        Err(RpcError::new(
            -18,
            format!("Wallet process disconnected: {error}"),
        ))
    }
}

impl OnCallFailure for Handler {
    fn on_call_failure(_error: String) -> Self {
        Handler::new(|| ())
    }
}

/// Types without a safe stand-in: the calling thread unwinds (its IPC handler or RPC
/// call reports the error); the process notices the closed connection and shuts down.
macro_rules! panic_on_failure {
    ($($t:ty),* $(,)?) => {$(
        impl OnCallFailure for $t {
            fn on_call_failure(error: String) -> Self {
                panic!("IPC call failed: {error}")
            }
        }
    )*};
}

panic_on_failure!(bool, u32, u64, (u64, u64), FeeEstimate);

impl<T: ?Sized> OnCallFailure for Arc<T> {
    fn on_call_failure(error: String) -> Self {
        panic!("IPC call failed: {error}")
    }
}

impl<T> OnCallFailure for Option<T> {
    fn on_call_failure(error: String) -> Self {
        panic!("IPC call failed: {error}")
    }
}

/// Types that are their own wire form.
macro_rules! plain {
    ($($t:ty),* $(,)?) => {$(
        impl Marshal for $t {
            type Wire = $t;
            fn to_wire(&self, _cx: &Arc<IpcContext>) -> $t {
                self.clone()
            }
        }
        impl Unmarshal for $t {
            fn from_wire(wire: &Archived<$t>, _cx: &Arc<IpcContext>) -> Result<$t, String> {
                shm_ipc::frame::deserialize::<$t>(wire)
            }
        }
    )*};
}

plain!((), bool, u8, u32, i32, u64, i64, String, (u64, u64));

impl Marshal for str {
    type Wire = String;
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> String {
        self.to_string()
    }
}

/// Sequences cross element by element; bytes cross as one copy.
macro_rules! sequence_of {
    ($($t:ty),*) => {$(
        impl Marshal for [$t] {
            type Wire = Vec<<$t as Marshal>::Wire>;
            fn to_wire(&self, cx: &Arc<IpcContext>) -> Self::Wire {
                self.iter().map(|v| v.to_wire(cx)).collect()
            }
        }
        impl Marshal for Vec<$t> {
            type Wire = Vec<<$t as Marshal>::Wire>;
            fn to_wire(&self, cx: &Arc<IpcContext>) -> Self::Wire {
                self.as_slice().to_wire(cx)
            }
        }
        impl Unmarshal for Vec<$t> {
            fn from_wire(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String> {
                wire.iter().map(|w| <$t>::from_wire(w, cx)).collect()
            }
        }
        impl OwnedArg for [$t] {
            type Owned = Vec<$t>;
        }
    )*};
}

sequence_of!(String, Value, BlockHash, Txid);

impl Marshal for [u8] {
    type Wire = Vec<u8>;
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> Vec<u8> {
        self.to_vec()
    }
}

impl Marshal for Vec<u8> {
    type Wire = Vec<u8>;
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> Vec<u8> {
        self.clone()
    }
}

impl Unmarshal for Vec<u8> {
    fn from_wire(wire: &Archived<Vec<u8>>, _cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(wire.as_slice().to_vec())
    }
}

impl OwnedArg for [u8] {
    type Owned = Vec<u8>;
}

impl<T: Marshal> Marshal for Option<T> {
    type Wire = Option<T::Wire>;
    fn to_wire(&self, cx: &Arc<IpcContext>) -> Self::Wire {
        self.as_ref().map(|v| v.to_wire(cx))
    }
}

impl<T: Unmarshal> Unmarshal for Option<T> {
    fn from_wire(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String> {
        match wire.as_ref() {
            Some(w) => T::from_wire(w, cx).map(Some),
            None => Ok(None),
        }
    }
}

/// The wire form of a `Result`: rkyv has no archived `Result` we can validate, so it is
/// an enum of its own.
#[derive(Archive, Serialize, Deserialize, Debug)]
pub enum WireResult<T, E> {
    /// `Ok`.
    Ok(T),
    /// `Err`.
    Err(E),
}

impl<T: Marshal, E: Marshal> Marshal for Result<T, E>
where
    WireResult<T::Wire, E::Wire>: Wire,
{
    type Wire = WireResult<T::Wire, E::Wire>;
    fn to_wire(&self, cx: &Arc<IpcContext>) -> Self::Wire {
        match self {
            Ok(v) => WireResult::Ok(v.to_wire(cx)),
            Err(e) => WireResult::Err(e.to_wire(cx)),
        }
    }
}

impl<T: Unmarshal, E: Unmarshal> Unmarshal for Result<T, E>
where
    WireResult<T::Wire, E::Wire>: Wire,
    Archived<WireResult<T::Wire, E::Wire>>: AsWireResult<Archived<T::Wire>, Archived<E::Wire>>,
{
    fn from_wire(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String> {
        match wire.as_result() {
            Ok(v) => T::from_wire(v, cx).map(Ok),
            Err(e) => E::from_wire(e, cx).map(Err),
        }
    }
}

/// Reads an archived [`WireResult`] as a `Result` of references.
pub trait AsWireResult<T, E> {
    /// The archived value as a `Result`.
    fn as_result(&self) -> Result<&T, &E>;
}

impl<T: Archive, E: Archive> AsWireResult<T::Archived, E::Archived> for ArchivedWireResult<T, E> {
    fn as_result(&self) -> Result<&T::Archived, &E::Archived> {
        match self {
            ArchivedWireResult::Ok(v) => Ok(v),
            ArchivedWireResult::Err(e) => Err(e),
        }
    }
}

/// Hashes cross as their 32 bytes.
macro_rules! hash_type {
    ($($t:ty),*) => {$(
        impl Marshal for $t {
            type Wire = [u8; 32];
            fn to_wire(&self, _cx: &Arc<IpcContext>) -> [u8; 32] {
                self.to_byte_array()
            }
        }
        impl Unmarshal for $t {
            fn from_wire(wire: &[u8; 32], _cx: &Arc<IpcContext>) -> Result<$t, String> {
                Ok(<$t>::from_byte_array(*wire))
            }
        }
    )*};
}

hash_type!(BlockHash, Txid);

/// Consensus-encoded types cross as their bytes and are decoded from the archive in place.
macro_rules! consensus_type {
    ($($t:ty),*) => {$(
        impl Marshal for $t {
            type Wire = Vec<u8>;
            fn to_wire(&self, _cx: &Arc<IpcContext>) -> Vec<u8> {
                serialize(self)
            }
        }
        impl Unmarshal for $t {
            fn from_wire(wire: &Archived<Vec<u8>>, _cx: &Arc<IpcContext>) -> Result<$t, String> {
                deserialize(wire.as_slice())
                    .map_err(|e| format!("bad {} encoding: {e}", stringify!($t)))
            }
        }
    )*};
}

consensus_type!(Transaction, Block);

/// JSON values cross as their text.
impl Marshal for Value {
    type Wire = String;
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> String {
        self.to_string()
    }
}

impl Unmarshal for Value {
    fn from_wire(wire: &Archived<String>, _cx: &Arc<IpcContext>) -> Result<Value, String> {
        serde_json::from_str(wire.as_str()).map_err(|e| format!("bad JSON value: {e}"))
    }
}

impl Marshal for RpcError {
    type Wire = (i32, String);
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> (i32, String) {
        (self.code, self.message.clone())
    }
}

impl Unmarshal for RpcError {
    fn from_wire(wire: &Archived<(i32, String)>, _cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(RpcError::new(wire.0.to_native(), wire.1.as_str()))
    }
}

impl Marshal for RemovalReason {
    type Wire = u8;
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> u8 {
        match self {
            RemovalReason::Expiry => 0,
            RemovalReason::SizeLimit => 1,
            RemovalReason::Reorg => 2,
            RemovalReason::Block => 3,
            RemovalReason::Conflict => 4,
            RemovalReason::Replaced => 5,
        }
    }
}

impl Unmarshal for RemovalReason {
    fn from_wire(wire: &u8, _cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(match wire {
            0 => RemovalReason::Expiry,
            1 => RemovalReason::SizeLimit,
            2 => RemovalReason::Reorg,
            3 => RemovalReason::Block,
            4 => RemovalReason::Conflict,
            5 => RemovalReason::Replaced,
            other => return Err(format!("unknown mempool removal reason {other}")),
        })
    }
}

/// Wire form of [`FoundBlock`].
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct WireFoundBlock {
    hash: [u8; 32],
    height: u32,
    time: u32,
    max_time: u32,
    median_time_past: i64,
    in_active_chain: bool,
    next_block: Option<[u8; 32]>,
    data: Option<Vec<u8>>,
}

// A found block is only ever a result, so it moves into its wire form: the block's
// bytes, read from disk, are copied once, into the ring.
impl IntoWire for FoundBlock {
    type Wire = WireFoundBlock;
    fn into_wire(self, cx: &Arc<IpcContext>) -> WireFoundBlock {
        WireFoundBlock {
            hash: self.hash.to_wire(cx),
            height: self.height,
            time: self.time,
            max_time: self.max_time,
            median_time_past: self.median_time_past,
            in_active_chain: self.in_active_chain,
            next_block: self.next_block.to_wire(cx),
            data: self.data.map(BlockBytes::into_bytes),
        }
    }
}

impl IntoWire for Option<FoundBlock> {
    type Wire = Option<WireFoundBlock>;
    fn into_wire(self, cx: &Arc<IpcContext>) -> Self::Wire {
        self.map(|found| found.into_wire(cx))
    }
}

impl IntoWire for Vec<FoundBlock> {
    type Wire = Vec<WireFoundBlock>;
    fn into_wire(self, cx: &Arc<IpcContext>) -> Self::Wire {
        self.into_iter().map(|found| found.into_wire(cx)).collect()
    }
}

impl FromResult for Option<FoundBlock> {
    type Wire = Option<WireFoundBlock>;
    fn from_result(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String> {
        wire.as_ref()
            .map(|w| FoundBlock::from_result(w, cx))
            .transpose()
    }
}

impl FromResult for Vec<FoundBlock> {
    type Wire = Vec<WireFoundBlock>;
    fn from_result(wire: &Archived<Self::Wire>, cx: &Arc<IpcContext>) -> Result<Self, String> {
        wire.iter()
            .map(|w| FoundBlock::from_result(w, cx))
            .collect()
    }
}

impl FromResult for FoundBlock {
    type Wire = WireFoundBlock;
    fn from_result(w: &ArchivedWireFoundBlock, cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(FoundBlock {
            hash: BlockHash::from_wire(&w.hash, cx)?,
            height: w.height.to_native(),
            time: w.time.to_native(),
            max_time: w.max_time.to_native(),
            median_time_past: w.median_time_past.to_native(),
            in_active_chain: w.in_active_chain,
            next_block: Option::<BlockHash>::from_wire(&w.next_block, cx)?,
            data: w
                .data
                .as_ref()
                .map(|bytes| BlockBytes::new(bytes.as_slice().to_vec())),
        })
    }
}

impl Marshal for FeeEstimate {
    type Wire = (Option<u64>, u32);
    fn to_wire(&self, _cx: &Arc<IpcContext>) -> Self::Wire {
        (self.fee_rate, self.returned_target)
    }
}

impl Unmarshal for FeeEstimate {
    fn from_wire(w: &Archived<Self::Wire>, _cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(FeeEstimate {
            fee_rate: w.0.as_ref().map(|v| v.to_native()),
            returned_target: w.1.to_native(),
        })
    }
}

/// Wire form of [`JsonRequest`].
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct WireJsonRequest {
    method: String,
    params: Vec<String>,
    wallet_name: Option<String>,
    tip: Option<[u8; 32]>,
}

impl Marshal for JsonRequest {
    type Wire = WireJsonRequest;
    fn to_wire(&self, cx: &Arc<IpcContext>) -> WireJsonRequest {
        WireJsonRequest {
            method: self.method.clone(),
            params: self.params.to_wire(cx),
            wallet_name: self.wallet_name.clone(),
            tip: self.tip.to_wire(cx),
        }
    }
}

impl Unmarshal for JsonRequest {
    fn from_wire(w: &ArchivedWireJsonRequest, cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(JsonRequest {
            method: w.method.to_string(),
            params: Vec::<Value>::from_wire(&w.params, cx)?,
            wallet_name: w.wallet_name.as_ref().map(|s| s.to_string()),
            tip: Option::<BlockHash>::from_wire(&w.tip, cx)?,
        })
    }
}

/// A block as delivered to `block_connected`: the owned side of a [`BlockRef`].
#[derive(Debug)]
pub struct OwnedBlockRef {
    hash: BlockHash,
    height: u32,
    block: Block,
}

/// Wire form of [`BlockRef`].
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct WireBlockRef {
    hash: [u8; 32],
    height: u32,
    block: Vec<u8>,
}

impl Marshal for BlockRef<'_> {
    type Wire = WireBlockRef;
    fn to_wire(&self, cx: &Arc<IpcContext>) -> WireBlockRef {
        WireBlockRef {
            hash: self.hash.to_wire(cx),
            height: self.height,
            block: self.block.to_wire(cx),
        }
    }
}

impl Marshal for OwnedBlockRef {
    type Wire = WireBlockRef;
    fn to_wire(&self, cx: &Arc<IpcContext>) -> WireBlockRef {
        BlockRef {
            hash: self.hash,
            height: self.height,
            block: &self.block,
        }
        .to_wire(cx)
    }
}

impl Unmarshal for OwnedBlockRef {
    fn from_wire(w: &ArchivedWireBlockRef, cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(OwnedBlockRef {
            hash: BlockHash::from_wire(&w.hash, cx)?,
            height: w.height.to_native(),
            block: Block::from_wire(&w.block, cx)?,
        })
    }
}

impl<'a> View<'a> for BlockRef<'a> {
    type Owned = OwnedBlockRef;
    fn view(owned: &'a OwnedBlockRef) -> Self {
        BlockRef {
            hash: owned.hash,
            height: owned.height,
            block: &owned.block,
        }
    }
}

/// Wire form of [`RpcCommand`]; the actor crosses as an object.
#[derive(Archive, Serialize, Deserialize, Debug)]
pub struct WireRpcCommand {
    category: String,
    name: String,
    params: Vec<String>,
    help: String,
    hidden: bool,
    actor: u64,
}

impl Marshal for RpcCommand {
    type Wire = WireRpcCommand;
    fn to_wire(&self, cx: &Arc<IpcContext>) -> WireRpcCommand {
        WireRpcCommand {
            category: self.category.clone(),
            name: self.name.clone(),
            params: self.params.clone(),
            help: self.help.clone(),
            hidden: self.hidden,
            actor: self.actor.to_wire(cx),
        }
    }
}

impl Unmarshal for RpcCommand {
    fn from_wire(w: &ArchivedWireRpcCommand, cx: &Arc<IpcContext>) -> Result<Self, String> {
        Ok(RpcCommand {
            category: w.category.to_string(),
            name: w.name.to_string(),
            params: w.params.iter().map(|p| p.to_string()).collect(),
            help: w.help.to_string(),
            hidden: w.hidden,
            actor: Arc::new(PrewakingActor {
                proxy: Unmarshal::from_wire(&w.actor, cx)?,
                cx: Arc::clone(cx),
            }),
        })
    }
}

/// An RPC actor in the peer process whose `prepare` wakes the peer's reader.
struct PrewakingActor {
    proxy: Arc<dyn RpcActor>,
    cx: Arc<IpcContext>,
}

impl RpcActor for PrewakingActor {
    fn call(&self, request: &JsonRequest) -> Result<Value, RpcError> {
        self.proxy.call(request)
    }

    fn prepare(&self) {
        self.cx.conn().prewake();
    }
}
