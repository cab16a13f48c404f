//! The interfaces that cross processes, one line per method. Ids are part of the wire
//! protocol: append new methods with new ids, never renumber.

use std::sync::Arc;

use bitcoin::{BlockHash, Transaction, Txid};
use serde_json::Value;
use shm_ipc::{Dispatcher, Services};

use super::IpcContext;
use crate::interfaces::{
    BlockRef, Chain, Echo, FeeEstimate, FoundBlock, Handler, Init, JsonRequest, Notifications,
    RemovalReason, RpcActor, RpcCommand, WalletLoader,
};
use crate::rpc::error::RpcError;

ipc_interface! {
    mod init: Init = 2 {
        0 => fn make_echo() -> Arc<dyn Echo>;
        1 => fn make_wallet_loader(chain: val(Arc<dyn Chain>)) -> Option<Arc<dyn WalletLoader>>;
    }
}

ipc_interface! {
    mod chain: Chain = 3 {
        0 => fn get_height() -> Option<u32>;
        1 => fn get_block_hash(height: val(u32)) -> Option<BlockHash>;
        2 => fn find_block(hash: ref(BlockHash), with_data: val(bool)) -> Option<FoundBlock>;
        3 => fn find_first_block_with_time_and_height(min_time: val(i64), min_height: val(u32)) -> Option<FoundBlock>;
        4 => fn find_ancestor_by_height(block: ref(BlockHash), height: val(u32)) -> Option<FoundBlock>;
        5 => fn find_common_ancestor(a: ref(BlockHash), b: ref(BlockHash)) -> Option<FoundBlock>;
        6 => fn is_in_mempool(txid: ref(Txid)) -> bool;
        7 => fn has_descendants_in_mempool(txid: ref(Txid)) -> bool;
        8 => fn broadcast_transaction(tx: ref(Transaction), max_fee_rate: val(Option<u64>), relay: val(bool)) -> Result<(), String>;
        9 => fn get_transaction_ancestry(txid: ref(Txid)) -> (u64, u64);
        10 => fn estimate_fee(target: val(u32), conservative: val(bool)) -> FeeEstimate;
        11 => #[cached] fn relay_min_fee() -> u64;
        12 => #[cached] fn relay_incremental_fee() -> u64;
        13 => #[cached] fn relay_dust_fee() -> u64;
        14 => fn is_initial_block_download() -> bool;
        15 => fn shutdown_requested() -> bool;
        16 => #[cached] fn get_settings_list(name: ref(str)) -> Vec<String>;
        17 => fn get_rw_setting(name: ref(str)) -> Option<Value>;
        18 => fn update_rw_setting(name: ref(str), value: val(Option<Value>)) -> Result<(), String>;
        19 => fn request_mempool_transactions(client: val(Arc<dyn Notifications>)) -> ();
        20 => fn handle_notifications(client: val(Arc<dyn Notifications>)) -> Handler;
        21 => fn wait_for_notifications_if_tip_changed(old_tip: ref(BlockHash)) -> ();
        22 => fn handle_rpc(command: val(RpcCommand)) -> Handler;
        23 => fn init_message(message: ref(str)) -> ();
        24 => fn show_progress(title: ref(str), progress: val(i32), resume_possible: val(bool)) -> ();
        25 => fn find_blocks(hash: ref(BlockHash), count: val(u32), with_data: val(bool)) -> Vec<FoundBlock>;
        proxy {
            fn prepare_broadcast(&self) {
                self.cx.conn().prewake();
            }
        }
    }
}

ipc_interface! {
    mod notifications: Notifications = 4 {
        0 => fn transaction_added_to_mempool(tx: ref(Transaction)) -> ();
        1 => fn transaction_removed_from_mempool(tx: ref(Transaction), reason: val(RemovalReason)) -> ();
        2 => fn block_connected(block: view(BlockRef)) -> ();
        3 => fn block_disconnected(block: view(BlockRef)) -> ();
        4 => fn updated_block_tip() -> ();
        5 => fn chain_state_flushed(locator: ref([BlockHash])) -> ();
    }
}

ipc_interface! {
    mod rpc_actor: RpcActor = 5 {
        0 => fn call(request: ref(JsonRequest)) -> Result<Value, RpcError>;
    }
}

ipc_interface! {
    mod wallet_loader: WalletLoader = 6 {
        0 => fn register_rpcs() -> ();
        1 => fn verify() -> Result<(), String>;
        2 => fn load() -> Result<(), String>;
        3 => fn start() -> ();
        4 => fn flush() -> ();
        5 => fn stop() -> ();
        6 => fn create_wallet(name: ref(str), passphrase: val(Option<String>)) -> Result<Vec<String>, String>;
        7 => fn load_wallet(name: ref(str)) -> Result<Vec<String>, String>;
        8 => fn list_wallet_dir() -> Vec<String>;
        9 => fn get_wallets() -> Vec<String>;
    }
}

ipc_interface! {
    mod echo: Echo = 7 {
        0 => fn echo(message: ref([u8])) -> Result<Vec<u8>, String>;
    }
}

/// `Objects.release`: the peer dropped its proxy of one of our objects.
pub mod release {
    /// The method marker; its parameter is the object id.
    pub struct Call;

    impl shm_ipc::Method for Call {
        const INTERFACE: u16 = super::super::OBJECTS_INTERFACE;
        const INTERFACE_NAME: &'static str = "Objects";
        const ID: u16 = 0;
        const NAME: &'static str = "release";
        type Params = u64;
        type Results = ();
    }
}

/// Tells the peer we no longer use its object `id`. One-way: the drop that calls this
/// must not wait, and a closed connection already released everything.
pub fn release_remote(cx: &IpcContext, id: u64) {
    let _ = cx.conn().notify::<release::Call>(&id);
}

/// `(interface, method)` names of wire ids, e.g. `(3, 0)` is `("Chain", "get_height")`;
/// trace readers use it to label frames.
pub fn method_name(interface: u16, method: u16) -> Option<(&'static str, &'static str)> {
    let (name, lookup): (&'static str, fn(u16) -> Option<&'static str>) = match interface {
        super::OBJECTS_INTERFACE => ("Objects", |m| (m == 0).then_some("release")),
        init::INTERFACE => ("Init", init::method_name),
        chain::INTERFACE => ("Chain", chain::method_name),
        notifications::INTERFACE => ("Notifications", notifications::method_name),
        rpc_actor::INTERFACE => ("RpcActor", rpc_actor::method_name),
        wallet_loader::INTERFACE => ("WalletLoader", wallet_loader::method_name),
        echo::INTERFACE => ("Echo", echo::method_name),
        _ => return None,
    };
    lookup(method).map(|m| (name, m))
}

/// Adds every interface's dispatcher, serving `cx`'s objects, to `services`.
pub(super) fn register_all(cx: &Arc<IpcContext>, services: &Services) {
    let weak = Arc::downgrade(cx);
    let objects = {
        let weak = weak.clone();
        Dispatcher::new("Objects").method::<release::Call>(move |id, _| {
            if let Some(cx) = weak.upgrade() {
                cx.release(id.to_native());
            }
            Ok(())
        })
    };
    services.add(super::OBJECTS_INTERFACE, Arc::new(objects));
    services.add(init::INTERFACE, Arc::new(init::dispatcher(weak.clone())));
    services.add(chain::INTERFACE, Arc::new(chain::dispatcher(weak.clone())));
    services.add(
        notifications::INTERFACE,
        Arc::new(notifications::dispatcher(weak.clone())),
    );
    services.add(
        rpc_actor::INTERFACE,
        Arc::new(rpc_actor::dispatcher(weak.clone())),
    );
    services.add(
        wallet_loader::INTERFACE,
        Arc::new(wallet_loader::dispatcher(weak.clone())),
    );
    services.add(echo::INTERFACE, Arc::new(echo::dispatcher(weak)));
}
