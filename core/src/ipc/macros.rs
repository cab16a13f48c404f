//! `ipc_interface!`: proxy, dispatcher and wire messages of a trait, from one line per
//! method.
//!
//! ```text
//! ipc_interface! {
//!     mod chain: Chain = 2 {
//!         0 => fn get_height() -> Option<u32>;
//!         2 => fn find_block(hash: ref(BlockHash), with_data: val(bool)) -> Option<FoundBlock>;
//!         9 => fn block_connected(block: view(BlockRef)) -> ();
//!     }
//! }
//! ```
//!
//! `#[cached]` before `fn` makes the proxy ask once per distinct argument list and keep
//! the answer, for values fixed for the life of the peer (its settings, its relay fees).
//!
//! An optional `proxy { ... }` block after the methods holds trait methods the proxy
//! answers itself, without a message (hints to the transport, such as a prewake); they
//! reach the connection through `self.cx`.
//!
//! Each argument says how the trait takes it: `val(T)` by value, `ref(T)` as `&T`
//! (`ref(str)` is `&str`, `ref([T])` is `&[T]`), `view(T)` as `T<'_>`, a borrowing view of
//! an owned value (see [`super::marshal::View`]). Results cross by value.
//!
//! For `mod m: Trait = ID` it generates module `m` with, per method, a module holding
//! the `Params` message and the `Call` marker implementing `shm_ipc::Method`; `m::Proxy`
//! implementing `Trait` by calling the peer; `m::dispatcher`, serving objects of the
//! context's table; and `Marshal`/`Unmarshal` for `Arc<dyn Trait>`, so objects of the
//! trait can be passed as arguments and results.

/// See the module documentation.
macro_rules! ipc_interface {
    (
        mod $module:ident : $trait:ident = $iface:literal {
            $(
                $id:literal => $(#[$cached:ident])? fn $method:ident (
                    $( $arg:ident : $mode:ident ( $($argty:tt)* ) ),* $(,)?
                ) -> $ret:ty;
            )*
            $( proxy { $($own:tt)* } )?
        }
    ) => {
        #[doc = concat!("IPC proxy, dispatcher and messages of `", stringify!($trait), "`.")]
        pub mod $module {
            #![allow(unused_imports)]
            use std::sync::{Arc, Weak};

            use rkyv::{Archive, Deserialize, Serialize};

            use super::*;
            use $crate::ipc::marshal::{
                FromResult, IntoWire, Marshal, OnCallFailure, OwnedArg, Unmarshal, View,
            };
            use $crate::ipc::IpcContext;

            $(
                #[doc = concat!("`", stringify!($trait), ".", stringify!($method), "`.")]
                pub mod $method {
                    use super::*;

                    /// The request: the target object and the arguments.
                    #[derive(Archive, Serialize, Deserialize, Debug)]
                    pub struct Params {
                        /// Target object id.
                        pub object: u64,
                        $(
                            #[doc = concat!("`", stringify!($arg), "`.")]
                            pub $arg: <ipc_arg!(@owned $mode $($argty)*) as Marshal>::Wire,
                        )*
                    }

                    /// The method marker.
                    pub struct Call;

                    impl shm_ipc::Method for Call {
                        const INTERFACE: u16 = $iface;
                        const INTERFACE_NAME: &'static str = stringify!($trait);
                        const ID: u16 = $id;
                        const NAME: &'static str = stringify!($method);
                        type Params = Params;
                        type Results = <$ret as IntoWire>::Wire;
                    }
                }
            )*

            /// Interface id on the wire.
            pub const INTERFACE: u16 = $iface;

            /// The name of method `id`, for trace readers.
            pub fn method_name(id: u16) -> Option<&'static str> {
                match id {
                    $( $id => Some(stringify!($method)), )*
                    _ => None,
                }
            }

            /// Calls object `object` of the peer.
            pub struct Proxy {
                cx: Arc<IpcContext>,
                object: u64,
                /// Answers of `#[cached]` methods, by method id and arguments (unused by
                /// interfaces without any).
                #[allow(dead_code)]
                cache: parking_lot::Mutex<
                    std::collections::HashMap<(u16, String), Box<dyn std::any::Any + Send>>,
                >,
            }

            impl Proxy {
                /// A proxy for the peer's object `object`.
                pub fn new(cx: Arc<IpcContext>, object: u64) -> Self {
                    Proxy {
                        cx,
                        object,
                        cache: parking_lot::Mutex::new(std::collections::HashMap::new()),
                    }
                }
            }

            impl Drop for Proxy {
                fn drop(&mut self) {
                    $crate::ipc::interfaces::release_remote(&self.cx, self.object);
                }
            }

            impl $trait for Proxy {
                $(
                    fn $method(&self, $( $arg: ipc_arg!(@ty $mode $($argty)*) ),*) -> $ret {
                        let params = $method::Params {
                            object: self.object,
                            $( $arg: ipc_arg!(@wire $mode $arg, &self.cx), )*
                        };
                        let cx = &self.cx;
                        let call = || match cx.conn().call_with::<$method::Call, _>(&params, |results| {
                            <$ret as FromResult>::from_result(results, cx)
                        }) {
                            // `true`: a real answer, which a `#[cached]` method may keep.
                            Ok(Ok(value)) => (true, value),
                            Ok(Err(e)) => (false, <$ret as OnCallFailure>::on_call_failure(e)),
                            Err(e) => (false, <$ret as OnCallFailure>::on_call_failure(e.to_string())),
                        };
                        ipc_cache!($($cached)? ; self, $id, params, $ret, call)
                    }
                )*
                $( $($own)* )?
            }

            /// Serves the objects of `cx`'s table that implement the trait.
            pub fn dispatcher(cx: Weak<IpcContext>) -> shm_ipc::Dispatcher {
                shm_ipc::Dispatcher::new(stringify!($trait))
                $(
                    .method::<$method::Call>({
                        let cx = cx.clone();
                        move |params, _request| {
                            let cx = cx.upgrade().ok_or("IPC context gone")?;
                            let target = cx.object::<dyn $trait>(params.object.to_native())?;
                            $(
                                let $arg = <ipc_arg!(@owned $mode $($argty)*) as Unmarshal>::from_wire(
                                    &params.$arg,
                                    &cx,
                                )?;
                            )*
                            let result: $ret = target.$method($( ipc_arg!(@pass $mode $arg) ),*);
                            Ok(IntoWire::into_wire(result, &cx))
                        }
                    })
                )*
            }

            impl Marshal for Arc<dyn $trait> {
                type Wire = u64;
                fn to_wire(&self, cx: &Arc<IpcContext>) -> u64 {
                    cx.add_object::<dyn $trait>(Arc::clone(self))
                }
            }

            impl Unmarshal for Arc<dyn $trait> {
                fn from_wire(
                    wire: &<u64 as Archive>::Archived,
                    cx: &Arc<IpcContext>,
                ) -> Result<Self, String> {
                    Ok(Arc::new(Proxy::new(Arc::clone(cx), wire.to_native())))
                }
            }
        }
    };
}

/// A `#[cached]` method asks the peer once per distinct argument list and then answers
/// from the proxy (for values fixed for the life of the peer, such as its settings).
macro_rules! ipc_cache {
    (; $proxy:ident, $id:literal, $params:ident, $ret:ty, $call:ident) => {
        $call().1
    };
    (cached ; $proxy:ident, $id:literal, $params:ident, $ret:ty, $call:ident) => {{
        let key = ($id, format!("{:?}", $params));
        if let Some(hit) = $proxy.cache.lock().get(&key) {
            if let Some(value) = hit.downcast_ref::<$ret>() {
                return value.clone();
            }
        }
        let (answered, value) = $call();
        if answered {
            $proxy.cache.lock().insert(key, Box::new(value.clone()));
        }
        value
    }};
}

/// How one argument mode is typed, rebuilt, passed and sent; see [`ipc_interface!`].
macro_rules! ipc_arg {
    (@ty val $($t:tt)*) => { $($t)* };
    (@ty ref $($t:tt)*) => { &$($t)* };
    (@ty view $($t:tt)*) => { $($t)*<'_> };
    (@owned val $($t:tt)*) => { $($t)* };
    (@owned ref $($t:tt)*) => { <$($t)* as OwnedArg>::Owned };
    (@owned view $($t:tt)*) => { <$($t)*<'static> as View<'static>>::Owned };
    (@pass val $a:ident) => { $a };
    (@pass ref $a:ident) => { &$a };
    (@pass view $a:ident) => { View::view(&$a) };
    (@wire val $a:ident, $cx:expr) => { Marshal::to_wire(&$a, $cx) };
    (@wire ref $a:ident, $cx:expr) => { Marshal::to_wire($a, $cx) };
    (@wire view $a:ident, $cx:expr) => { Marshal::to_wire(&$a, $cx) };
}
