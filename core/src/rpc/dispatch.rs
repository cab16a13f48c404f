//! JSON-RPC 1.0/2.0 request handling (single, batch, notifications, named parameters)
//! and the command table, following Core's `httprpc.cpp` and `rpc/server.cpp`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Mutex, RwLock};
use serde_json::{json, Map, Value};

use super::error::{code, RpcError};
use super::params::Params;
use crate::interfaces::{self, JsonRequest, RpcCommand};
use crate::log_debug;
use crate::node::Node;

/// Signature of a command implementation.
pub type Handler = fn(&RpcContext, &Params<'_>) -> Result<Value, RpcError>;

/// One RPC command.
pub struct Command {
    /// Method name.
    pub name: &'static str,
    /// Help category (`Blockchain`, `Control`, ...).
    pub category: &'static str,
    /// Parameter names in position order; a leading `*` marks a required one.
    pub params: &'static [&'static str],
    /// Hidden commands are callable but not listed by `help`.
    pub hidden: bool,
    /// The implementation.
    pub handler: Handler,
}

impl Command {
    /// The name shown in help: a parameter `verbosity|verbose` also answers to its
    /// aliases after `|`, as Core's `RPCArg` names do.
    fn param_name(p: &str) -> &str {
        Self::param_aliases(p).next().unwrap_or(p)
    }

    fn param_aliases(p: &str) -> impl Iterator<Item = &str> {
        p.trim_start_matches('*').split('|')
    }

    /// Core-style usage line: `getblock "blockhash" ( verbosity )`, with string
    /// parameters quoted, arrays as `[...]` and objects as `{...}`.
    pub fn usage(&self) -> String {
        let shown = |p: &&str| -> String {
            let name = Self::param_name(p);
            match param_shape(name) {
                Shape::String => format!("\"{name}\""),
                Shape::Array => "[...]".to_string(),
                Shape::Object => "{...}".to_string(),
                Shape::Other => name.to_string(),
            }
        };
        let mut out = self.name.to_string();
        for p in self.params.iter().filter(|p| p.starts_with('*')) {
            out.push(' ');
            out.push_str(&shown(p));
        }
        let optional: Vec<String> = self
            .params
            .iter()
            .filter(|p| !p.starts_with('*'))
            .map(shown)
            .collect();
        if !optional.is_empty() {
            out.push_str(&format!(" ( {} )", optional.join(" ")));
        }
        out
    }

    /// The full help text in Core's layout, also the error message for a wrong argument
    /// count. Every built-in command has an entry (a unit test checks this).
    pub fn full_help(&self) -> String {
        super::help::render(self.name, &self.usage())
            .unwrap_or_else(|| format!("{}\n", self.usage()))
    }
}

/// Commands registered at run time through `Chain::handle_rpc` (the wallet's).
#[derive(Default)]
pub struct ClientCommands {
    commands: RwLock<Vec<(u64, Arc<RpcCommand>)>>,
    next_id: AtomicU64,
}

impl ClientCommands {
    /// Adds `command` until the returned handle is dropped. A later registration of the
    /// same name takes precedence while it lasts.
    pub fn add(self: &Arc<Self>, command: RpcCommand) -> interfaces::Handler {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.commands.write().push((id, Arc::new(command)));
        let table = Arc::clone(self);
        interfaces::Handler::new(move || table.commands.write().retain(|(c, _)| *c != id))
    }

    /// Every current registration, oldest first.
    pub fn snapshot(&self) -> Vec<RpcCommand> {
        self.commands
            .read()
            .iter()
            .map(|(_, c)| RpcCommand::clone(c))
            .collect()
    }

    /// Readies the client that registered last (a wallet, for a `/wallet/` request) for
    /// a call that is probably coming.
    pub fn prepare_latest(&self) {
        let latest = self.commands.read().last().map(|(_, c)| Arc::clone(c));
        if let Some(command) = latest {
            command.actor.prepare();
        }
    }

    /// The current registration of `name`.
    fn lookup(&self, name: &str) -> Option<Arc<RpcCommand>> {
        self.commands
            .read()
            .iter()
            .rev()
            .find(|(_, c)| c.name == name)
            .map(|(_, c)| Arc::clone(c))
    }

    /// `(category, usage line)` of each visible command, for `help`.
    fn listing(&self) -> Vec<(String, String)> {
        let commands = self.commands.read();
        let mut out: Vec<(String, String)> = Vec::new();
        for (_, c) in commands.iter().filter(|(_, c)| !c.hidden) {
            let usage = c.help.lines().next().unwrap_or(&c.name).to_string();
            if !out.iter().any(|(_, u)| *u == usage) {
                out.push((capitalize(&c.category), usage));
            }
        }
        out
    }

    /// The help text of `name`.
    fn help(&self, name: &str) -> Option<String> {
        self.lookup(name).map(|c| c.help.clone())
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Core's `UrlDecode`: `%XX` escapes become bytes; anything else stays as it is.
pub fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn required_count<S: AsRef<str>>(params: &[S]) -> usize {
    params
        .iter()
        .take_while(|p| p.as_ref().starts_with('*'))
        .count()
}

/// How `help` shows a parameter, by its (Core) name.
enum Shape {
    String,
    Array,
    Object,
    Other,
}

fn param_shape(name: &str) -> Shape {
    const STRINGS: &[&str] = &[
        "blockhash",
        "address",
        "descriptor",
        "hexstring",
        "txid",
        "hexdata",
        "command",
        "output",
        "action",
        "estimate_mode",
        "sighashtype",
        "index_name",
        "hash_type",
        "current_tip",
        "address_type",
        "node",
    ];
    const ARRAYS: &[&str] = &[
        "transactions",
        "rawtxs",
        "privkeys",
        "prevtxs",
        "txs",
        "keys",
        "include",
        "exclude",
        "inputs",
        "outputs",
        "scanobjects",
    ];
    if STRINGS.contains(&name) || name.starts_with("arg") {
        Shape::String
    } else if ARRAYS.contains(&name) {
        Shape::Array
    } else if name == "template_request" {
        Shape::Object
    } else {
        Shape::Other
    }
}

/// A running call, for `getrpcinfo`.
struct ActiveCall {
    id: u64,
    method: String,
    started: Instant,
}

/// Everything a command can reach.
pub struct RpcContext {
    /// The node.
    pub node: Arc<Node>,
    /// The command table.
    pub commands: Vec<Command>,
    /// Path of debug.log, for `getrpcinfo`.
    pub log_path: PathBuf,
    /// Commands registered at run time (`Chain::handle_rpc`).
    pub client_commands: Arc<ClientCommands>,
    /// What `echoipc` goes through: this process's, or a wallet process's.
    echo: RwLock<Arc<dyn interfaces::Echo>>,
    /// The P2P connection manager, for the network RPCs (`None` without networking).
    pub net: Option<Arc<crate::net::Connman>>,
    active: Mutex<Vec<ActiveCall>>,
    next_call: AtomicU64,
}

impl RpcContext {
    /// A context with every built-in command registered.
    pub fn new(node: Arc<Node>, log_path: PathBuf) -> Self {
        let mut commands = Vec::new();
        commands.extend(super::control::commands());
        commands.extend(super::blockchain::commands());
        commands.extend(super::mempool::commands());
        commands.extend(super::mining::commands());
        commands.extend(super::rawtx::commands());
        commands.extend(super::sign::commands());
        commands.extend(super::util::commands());
        commands.extend(super::net::commands());
        RpcContext {
            node,
            commands,
            log_path,
            client_commands: Arc::default(),
            echo: RwLock::new(Arc::new(interfaces::LocalEcho)),
            net: None,
            active: Mutex::new(Vec::new()),
            next_call: AtomicU64::new(0),
        }
    }

    /// Gives the network RPCs their connection manager.
    pub fn with_net(mut self, net: Arc<crate::net::Connman>) -> Self {
        self.net = Some(net);
        self
    }

    /// Looks up a command.
    pub fn command(&self, name: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// Running calls as `(method, microseconds)`.
    pub fn active_calls(&self) -> Vec<(String, u64)> {
        self.active
            .lock()
            .iter()
            .map(|c| (c.method.clone(), c.started.elapsed().as_micros() as u64))
            .collect()
    }

    /// The `Echo` `echoipc` uses.
    pub fn echo(&self) -> Arc<dyn interfaces::Echo> {
        Arc::clone(&self.echo.read())
    }

    /// Routes `echoipc` through `echo` (a wallet process's, in hashvive-node).
    pub fn set_echo(&self, echo: Arc<dyn interfaces::Echo>) {
        *self.echo.write() = echo;
    }

    /// `(category, usage line)` of every visible command, built-in and registered.
    pub fn listing(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .commands
            .iter()
            .filter(|c| !c.hidden)
            .map(|c| (c.category.to_string(), c.usage()))
            .collect();
        out.extend(self.client_commands.listing());
        out
    }

    /// The full help text of a command, built-in or registered.
    pub fn help_text(&self, name: &str) -> Option<String> {
        match self.command(name) {
            Some(cmd) => Some(cmd.full_help()),
            None => self.client_commands.help(name),
        }
    }

    /// Executes one method with positional or named parameters; `wallet_name` is the
    /// decoded `<name>` of a `/wallet/<name>` URL.
    pub fn execute(
        &self,
        method: &str,
        params: &Value,
        wallet_name: Option<&str>,
    ) -> Result<Value, RpcError> {
        if let Some(cmd) = self.command(method) {
            let args = checked_args(cmd.params, params, || cmd.full_help())?;
            return self.run(method, || (cmd.handler)(self, &Params(&args)));
        }
        let command = self
            .client_commands
            .lookup(method)
            .ok_or_else(|| RpcError::new(code::METHOD_NOT_FOUND, "Method not found"))?;
        // A `/wallet/` request was readied by the server as soon as it arrived.
        if wallet_name.is_none() {
            command.actor.prepare();
        }
        let request = JsonRequest {
            method: method.to_string(),
            params: checked_args(&command.params, params, || command.help.clone())?,
            wallet_name: wallet_name.map(str::to_string),
            tip: Some(self.node.tip().hash),
        };
        self.run(method, || command.actor.call(&request))
    }

    fn run(
        &self,
        method: &str,
        f: impl FnOnce() -> Result<Value, RpcError>,
    ) -> Result<Value, RpcError> {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.active.lock().push(ActiveCall {
            id,
            method: method.to_string(),
            started: Instant::now(),
        });
        log_debug!("rpc", "ThreadRPCServer method={method}");
        let result = f();
        self.active.lock().retain(|c| c.id != id);
        result
    }
}

/// Positional arguments after named ones are resolved, with the argument count checked
/// (a wrong count answers with the help text, as Core does).
fn checked_args<S: AsRef<str>>(
    names: &[S],
    params: &Value,
    help: impl FnOnce() -> String,
) -> Result<Vec<Value>, RpcError> {
    let args = positional_args(names, params)?;
    let required = required_count(names);
    if args.len() > names.len()
        || args.len() < required
        || args[..required].iter().any(Value::is_null)
    {
        return Err(RpcError::misc(help()));
    }
    Ok(args)
}

/// Maps named parameters to positions (Core's `transformNamedArguments`), trimming
/// trailing nulls.
fn positional_args<S: AsRef<str>>(names: &[S], params: &Value) -> Result<Vec<Value>, RpcError> {
    let mut args = match params {
        Value::Null => Vec::new(),
        Value::Array(a) => a.clone(),
        Value::Object(named) => {
            let mut named: Map<String, Value> = named.clone();
            let mut args = Vec::new();
            for p in names {
                let value = Command::param_aliases(p.as_ref()).find_map(|n| named.remove(n));
                args.push(value.unwrap_or(Value::Null));
            }
            if let Some((k, _)) = named.into_iter().next() {
                return Err(RpcError::invalid_parameter(format!(
                    "Unknown named parameter {k}"
                )));
            }
            args
        }
        _ => {
            return Err(RpcError::new(
                code::INVALID_REQUEST,
                "Params must be an array or object",
            ))
        }
    };
    while args.last().is_some_and(Value::is_null) {
        args.pop();
    }
    Ok(args)
}

/// JSON-RPC dialect of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    Legacy,
    V2,
}

/// A parsed request object.
struct Request {
    id: Value,
    has_id: bool,
    version: Version,
    method: String,
    params: Value,
}

fn parse_request(v: &Value) -> Result<Request, (RpcError, Value, Version)> {
    let invalid = |m: &str, id: Value, ver| Err((RpcError::new(code::INVALID_REQUEST, m), id, ver));
    let Value::Object(obj) = v else {
        return invalid("Invalid Request object", Value::Null, Version::Legacy);
    };
    let version = if obj.get("jsonrpc").and_then(Value::as_str) == Some("2.0") {
        Version::V2
    } else {
        Version::Legacy
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    let method = match obj.get("method") {
        None => return invalid("Missing method", id, version),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return invalid("Method must be a string", id, version),
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    if !matches!(params, Value::Null | Value::Array(_) | Value::Object(_)) {
        return invalid("Params must be an array or object", id, version);
    }
    Ok(Request {
        id,
        has_id: obj.contains_key("id"),
        version,
        method,
        params,
    })
}

fn reply(result: Result<Value, RpcError>, id: Value, version: Version) -> Value {
    match (version, result) {
        (Version::Legacy, Ok(r)) => json!({"result": r, "error": null, "id": id}),
        (Version::Legacy, Err(e)) => json!({"result": null, "error": e.to_json(), "id": id}),
        (Version::V2, Ok(r)) => json!({"jsonrpc": "2.0", "result": r, "id": id}),
        (Version::V2, Err(e)) => json!({"jsonrpc": "2.0", "error": e.to_json(), "id": id}),
    }
}

/// HTTP status and body (`None`: 204 No Content) for a request body.
pub struct HttpReply {
    /// HTTP status code.
    pub status: u16,
    /// JSON body, newline-terminated, or `None` for no content.
    pub body: Option<String>,
}

/// Handles one HTTP request body, with Core's mapping of errors to HTTP status codes:
/// legacy errors are 500 (400 invalid request, 404 method not found); JSON-RPC 2.0 errors
/// and batches are 200; a 2.0 notification gets 204.
pub fn handle_http_body(ctx: &RpcContext, body: &[u8], path: &str) -> HttpReply {
    let wallet = path.strip_prefix("/wallet/").map(url_decode);
    let wallet = wallet.as_deref();
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            return error_reply(
                RpcError::new(code::PARSE_ERROR, "Parse error"),
                Value::Null,
                Version::Legacy,
            )
        }
    };
    match &value {
        Value::Object(_) => {
            let req = match parse_request(&value) {
                Ok(r) => r,
                Err((e, id, ver)) => return error_reply(e, id, ver),
            };
            let result = ctx.execute(&req.method, &req.params, wallet);
            if req.version == Version::V2 && !req.has_id {
                return HttpReply {
                    status: 204,
                    body: None,
                };
            }
            match (req.version, result) {
                (Version::Legacy, Err(e)) => error_reply(e, req.id, Version::Legacy),
                (ver, res) => ok_body(reply(res, req.id, ver)),
            }
        }
        Value::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match parse_request(item) {
                    Ok(req) => {
                        let result = ctx.execute(&req.method, &req.params, wallet);
                        if req.version == Version::V2 && !req.has_id {
                            continue;
                        }
                        out.push(reply(result, req.id, req.version));
                    }
                    Err((e, id, ver)) => out.push(reply(Err(e), id, ver)),
                }
            }
            ok_body(Value::Array(out))
        }
        _ => error_reply(
            RpcError::new(code::PARSE_ERROR, "Top-level object parse error"),
            Value::Null,
            Version::Legacy,
        ),
    }
}

fn ok_body(v: Value) -> HttpReply {
    HttpReply {
        status: 200,
        body: Some(format!("{v}\n")),
    }
}

fn error_reply(e: RpcError, id: Value, version: Version) -> HttpReply {
    let status = match (version, e.code) {
        (Version::V2, c) if c != code::PARSE_ERROR && c != code::INVALID_REQUEST => 200,
        (_, code::INVALID_REQUEST) => 400,
        (_, code::METHOD_NOT_FOUND) => 404,
        _ => 500,
    };
    HttpReply {
        status,
        body: Some(format!("{}\n", reply(Err(e), id, version))),
    }
}
