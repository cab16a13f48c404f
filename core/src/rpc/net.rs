//! Network RPCs with Core's result shapes: `getpeerinfo`, `getnetworkinfo`,
//! `getconnectioncount`, `addnode`, `disconnectnode`, `getaddednodeinfo`,
//! `setnetworkactive`, `getnettotals`, `ping`.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::encode::amount_sat;
use super::error::RpcError;
use super::params::Params;
use crate::net::peer::ConnType;
use crate::net::{processing, Connman, LOCAL_SERVICES, PROTOCOL_VERSION};

/// Core's `RPC_CLIENT_NODE_ALREADY_ADDED`.
const NODE_ALREADY_ADDED: i32 = -23;
/// Core's `RPC_CLIENT_NODE_NOT_ADDED`.
const NODE_NOT_ADDED: i32 = -24;
/// Core's `RPC_CLIENT_NODE_NOT_CONNECTED`.
const NODE_NOT_CONNECTED: i32 = -29;
/// Core's `RPC_CLIENT_P2P_DISABLED`.
const P2P_DISABLED: i32 = -31;

/// The network commands.
pub fn commands() -> Vec<Command> {
    let cmd = |name, params, handler| Command {
        name,
        category: "Network",
        params,
        hidden: false,
        handler,
    };
    vec![
        cmd("getconnectioncount", &[], getconnectioncount),
        cmd("ping", &[], ping),
        cmd("getpeerinfo", &[], getpeerinfo),
        cmd("addnode", &["*node", "*command", "v2transport"], addnode),
        cmd("disconnectnode", &["address", "nodeid"], disconnectnode),
        cmd("getaddednodeinfo", &["node"], getaddednodeinfo),
        cmd("getnettotals", &[], getnettotals),
        cmd("getnetworkinfo", &[], getnetworkinfo),
        cmd("setnetworkactive", &["*state"], setnetworkactive),
    ]
}

fn net(ctx: &RpcContext) -> Result<&Arc<Connman>, RpcError> {
    ctx.net.as_ref().ok_or_else(|| {
        RpcError::new(
            P2P_DISABLED,
            "Error: Peer-to-peer functionality missing or disabled",
        )
    })
}

fn getconnectioncount(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    Ok(json!(net(ctx)?.peers().len()))
}

fn ping(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    for p in net(ctx)?.peers() {
        processing::send_ping(&p);
    }
    Ok(Value::Null)
}

fn services_hex(s: u64) -> String {
    format!("{s:016x}")
}

fn services_names(s: u64) -> Vec<&'static str> {
    const NAMES: &[(u64, &str)] = &[
        (1, "NETWORK"),
        (1 << 2, "BLOOM"),
        (1 << 3, "WITNESS"),
        (1 << 6, "COMPACT_FILTERS"),
        (1 << 10, "NETWORK_LIMITED"),
        (1 << 11, "P2P_V2"),
    ];
    NAMES
        .iter()
        .filter(|(bit, _)| s & bit != 0)
        .map(|(_, n)| *n)
        .collect()
}

/// Core's `GetNetworkName` for an address: local and private ranges are not routable.
fn network_name(ip: IpAddr) -> &'static str {
    let routable = match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast())
        }
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified()),
    };
    match (routable, ip) {
        (false, _) => "not_publicly_routable",
        (true, IpAddr::V4(_)) => "ipv4",
        (true, IpAddr::V6(_)) => "ipv6",
    }
}

fn secs(d: std::time::Duration) -> Value {
    json!((d.as_secs_f64() * 1e6).round() / 1e6)
}

fn getpeerinfo(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let cm = net(ctx)?;
    let mut out = Vec::new();
    for p in cm.peers() {
        let (synced_headers, synced_blocks) = processing::synced_heights(cm, &p);
        let inflight = cm.sync.lock().in_flight_for(p.id);
        let inflight: Vec<i64> = {
            let chain = ctx.node.chain();
            inflight
                .iter()
                .map(|h| chain.entry(h).map_or(-1, |e| i64::from(e.height)))
                .collect()
        };
        let st = p.state.lock();
        let stats = p.stats.lock().clone();
        let version = st.version.clone();
        let services = version.as_ref().map_or(0, |v| v.services);
        let mut o = Map::new();
        o.insert("id".into(), json!(p.id));
        o.insert("addr".into(), json!(p.addr_name));
        o.insert("addrbind".into(), json!(p.local.to_string()));
        o.insert("network".into(), json!(network_name(p.addr.ip())));
        o.insert("services".into(), json!(services_hex(services)));
        o.insert("servicesnames".into(), json!(services_names(services)));
        o.insert(
            "relaytxes".into(),
            json!(version.as_ref().is_some_and(|v| v.relay)),
        );
        o.insert("lastsend".into(), json!(stats.last_send));
        o.insert("lastrecv".into(), json!(stats.last_recv));
        o.insert("last_transaction".into(), json!(st.last_tx));
        o.insert("last_block".into(), json!(st.last_block));
        o.insert("bytessent".into(), json!(stats.bytes_sent));
        o.insert("bytesrecv".into(), json!(stats.bytes_recv));
        o.insert("conntime".into(), json!(p.conn_time));
        o.insert("timeoffset".into(), json!(0));
        if let Some(t) = st.ping_time {
            o.insert("pingtime".into(), secs(t));
        }
        if let Some(t) = st.min_ping {
            o.insert("minping".into(), secs(t));
        }
        if let Some((_, at)) = st.ping_sent {
            o.insert("pingwait".into(), secs(at.elapsed()));
        }
        o.insert(
            "version".into(),
            json!(version.as_ref().map_or(0, |v| v.version)),
        );
        o.insert(
            "subver".into(),
            json!(version.as_ref().map_or("", |v| v.user_agent.as_str())),
        );
        o.insert("inbound".into(), json!(p.inbound()));
        o.insert("bip152_hb_to".into(), json!(false));
        o.insert("bip152_hb_from".into(), json!(false));
        o.insert(
            "startingheight".into(),
            json!(version.as_ref().map_or(-1, |v| v.start_height)),
        );
        o.insert("presynced_headers".into(), json!(-1));
        o.insert("synced_headers".into(), json!(synced_headers));
        o.insert("synced_blocks".into(), json!(synced_blocks));
        o.insert("inflight".into(), json!(inflight));
        o.insert("addr_relay_enabled".into(), json!(false));
        o.insert("addr_processed".into(), json!(0));
        o.insert("addr_rate_limited".into(), json!(0));
        o.insert("permissions".into(), json!(p.permissions));
        o.insert(
            "minfeefilter".into(),
            amount_sat(st.fee_filter.max(0) as u64),
        );
        o.insert("bytessent_per_msg".into(), json!(stats.sent_per_msg));
        o.insert("bytesrecv_per_msg".into(), json!(stats.recv_per_msg));
        o.insert(
            "connection_type".into(),
            json!(match p.conn_type {
                ConnType::Inbound => "inbound",
                ConnType::Manual => "manual",
            }),
        );
        o.insert("transport_protocol_type".into(), json!("v1"));
        o.insert("session_id".into(), json!(""));
        out.push(Value::Object(o));
    }
    Ok(Value::Array(out))
}

fn addnode(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let cm = net(ctx)?;
    let node = p.req_str(0)?;
    let command = p.req_str(1)?;
    match command {
        "onetry" => {
            // Like Core, a failed attempt is not an error: the caller watches getpeerinfo.
            let _ = cm.connect_to(node);
        }
        "add" => {
            if !cm.add_node(node) {
                return Err(RpcError::new(
                    NODE_ALREADY_ADDED,
                    "Error: Node already added",
                ));
            }
        }
        "remove" => {
            if !cm.remove_node(node) {
                return Err(RpcError::new(
                    NODE_NOT_ADDED,
                    "Error: Node could not be removed. It has not been added previously.",
                ));
            }
        }
        _ => {
            let cmd = ctx.command("addnode").expect("registered");
            return Err(RpcError::misc(cmd.full_help()));
        }
    }
    Ok(Value::Null)
}

fn disconnectnode(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let cm = net(ctx)?;
    let address = p.str(0)?;
    let id = p.int(1)?;
    let found = match (address, id) {
        (Some(a), None) => cm.disconnect_address(a),
        (None | Some(""), Some(id)) => u64::try_from(id).is_ok_and(|id| cm.disconnect_id(id)),
        _ => {
            return Err(RpcError::new(
                super::error::code::INVALID_PARAMS,
                "Only one of address and nodeid should be provided.",
            ))
        }
    };
    if !found {
        return Err(RpcError::new(
            NODE_NOT_CONNECTED,
            "Node not found in connected nodes",
        ));
    }
    Ok(Value::Null)
}

fn getaddednodeinfo(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let cm = net(ctx)?;
    let filter = p.str(0)?;
    let mut out = Vec::new();
    let mut found = false;
    for (name, peer) in cm.added_nodes() {
        if filter.is_some_and(|f| f != name) {
            continue;
        }
        found = true;
        let addresses: Vec<Value> = peer
            .iter()
            .map(|p| json!({"address": p.addr.to_string(), "connected": "outbound"}))
            .collect();
        out.push(json!({
            "addednode": name,
            "connected": peer.is_some(),
            "addresses": addresses,
        }));
    }
    if filter.is_some() && !found {
        return Err(RpcError::new(
            NODE_NOT_ADDED,
            "Error: Node has not been added.",
        ));
    }
    Ok(Value::Array(out))
}

fn getnettotals(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let (sent, recv) = net(ctx)?.totals();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Ok(json!({
        "totalbytesrecv": recv,
        "totalbytessent": sent,
        "timemillis": now_ms,
        "uploadtarget": {
            "timeframe": 86400,
            "target": 0,
            "target_reached": false,
            "serve_historical_blocks": true,
            "bytes_left_in_cycle": 0,
            "time_left_in_cycle": 0,
        },
    }))
}

/// Core's `CLIENT_VERSION` for our package version: major * 10000 + minor * 100 + patch.
fn client_version() -> u64 {
    let mut parts = env!("CARGO_PKG_VERSION")
        .split('.')
        .map(|x| x.parse::<u64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    a * 10_000 + b * 100 + c
}

fn getnetworkinfo(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let cm = net(ctx)?;
    let peers = cm.peers();
    let inbound = peers.iter().filter(|p| p.inbound()).count();
    let network = |name: &str, reachable: bool| {
        json!({
            "name": name,
            "limited": !reachable,
            "reachable": reachable,
            "proxy": "",
            "proxy_randomize_credentials": false,
        })
    };
    let relay_fee = ctx.node.mempool().min_relay_fee;
    Ok(json!({
        "version": client_version(),
        "subversion": cm.config.user_agent,
        "protocolversion": PROTOCOL_VERSION,
        "localservices": services_hex(LOCAL_SERVICES),
        "localservicesnames": services_names(LOCAL_SERVICES),
        "localrelay": !cm.config.blocks_only,
        "timeoffset": 0,
        "networkactive": cm.network_active(),
        "connections": peers.len(),
        "connections_in": inbound,
        "connections_out": peers.len() - inbound,
        "networks": [
            network("ipv4", true),
            network("ipv6", true),
            network("onion", false),
            network("i2p", false),
            network("cjdns", false),
        ],
        "relayfee": amount_sat(relay_fee),
        "incrementalfee": amount_sat(crate::policy::INCREMENTAL_RELAY_FEE),
        "localaddresses": [],
        "warnings": [],
    }))
}

fn setnetworkactive(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    let cm = net(ctx)?;
    let state = p
        .bool(0)?
        .ok_or_else(|| RpcError::invalid_parameter("Missing required parameter state"))?;
    cm.set_network_active(state);
    Ok(json!(cm.network_active()))
}
