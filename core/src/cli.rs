//! `hashvive-cli`: a bitcoin-cli compatible JSON-RPC command line client.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

use crate::args::{default_datadir, specs, ArgSpec, ArgsManager};
use crate::chainparams::ChainParams;
use crate::rpc::client::{ClientError, RpcClient};

/// Options of `hashvive-cli`.
pub const CLI_ARGS: &[ArgSpec] = specs![
    "?" Single "Print this help message and exit",
    "h" Single "Print this help message and exit",
    "help" Single "Print this help message and exit",
    "version" Single "Print version and exit",
    "regtest" Single "Use the regression test chain",
    "testnet" Single "Use the test chain (not supported)",
    "testnet4" Single "Use the testnet4 chain (not supported)",
    "signet" Single "Use the signet chain (not supported)",
    "chain" Single "Use the chain <chain> (only regtest is supported)",
    "datadir" Single "Specify data directory",
    "conf" Single "Specify configuration file, relative to the datadir",
    "rpcconnect" Single "Send commands to node running on <ip> (default: 127.0.0.1)",
    "rpcport" Single "Connect to JSON-RPC on <port> (regtest default: 18443)",
    "rpcuser" Single "Username for JSON-RPC connections",
    "rpcpassword" Single "Password for JSON-RPC connections",
    "rpccookiefile" Single "Location of the auth cookie, relative to the chain's data directory",
    "rpcwait" Single "Wait for RPC server to start",
    "rpcwaittimeout" Single "Timeout in seconds to wait for the RPC server to start (default: 0, no timeout)",
    "rpcclienttimeout" Single "Timeout in seconds during HTTP requests, or 0 for no timeout (default: 900)",
    "rpcwallet" Single "Send RPC for non-default wallet on RPC server",
    "named" Single "Pass named instead of positional arguments",
    "stdin" Single "Read extra arguments from standard input, one per line until EOF",
    "stdinrpcpass" Single "Read RPC password from standard input as a single line",
    "getinfo" Single "Get general information from the remote server",
    "generate" Single "Generate blocks: -generate [nblocks] [maxtries] (needs a wallet)",
];

/// Which parameters of a method bitcoin-cli parses as JSON (Core's `vRPCConvertParams`);
/// all others are sent as strings. Methods not listed send only strings, as in Core.
const CONVERT: &[(&str, &[&str])] = &[
    ("generatetoaddress", &["nblocks", "", "maxtries"]),
    ("generatetodescriptor", &["num_blocks", "", "maxtries"]),
    ("generateblock", &["", "transactions", "submit"]),
    ("getblock", &["", "verbosity"]),
    ("getblock", &["", "verbose"]),
    ("getblockheader", &["", "verbose"]),
    ("getblockhash", &["height"]),
    ("gettxout", &["", "n", "include_mempool"]),
    ("gettxoutsetinfo", &["", "hash_or_height", "use_index"]),
    ("waitforblockheight", &["height", "timeout"]),
    ("waitforblock", &["", "timeout"]),
    ("waitfornewblock", &["timeout"]),
    ("logging", &["include", "exclude"]),
    ("setmocktime", &["timestamp"]),
    ("decoderawtransaction", &["", "iswitness"]),
    ("stop", &["wait"]),
    ("signrawtransactionwithkey", &["", "privkeys", "prevtxs"]),
    ("combinerawtransaction", &["txs"]),
    ("getblocktemplate", &["template_request"]),
    ("scantxoutset", &["", "scanobjects"]),
    ("verifychain", &["checklevel", "nblocks"]),
    ("createmultisig", &["nrequired", "keys"]),
    ("estimatesmartfee", &["conf_target"]),
    ("deriveaddresses", &["", "range"]),
    ("sendrawtransaction", &["", "maxfeerate", "maxburnamount"]),
    ("testmempoolaccept", &["rawtxs", "maxfeerate"]),
    ("getrawmempool", &["verbose", "mempool_sequence"]),
    ("getmempoolancestors", &["", "verbose"]),
    ("getmempooldescendants", &["", "verbose"]),
    ("getrawtransaction", &["", "verbosity"]),
    ("getrawtransaction", &["", "verbose"]),
    (
        "createrawtransaction",
        &["inputs", "outputs", "locktime", "replaceable"],
    ),
    (
        "sendtoaddress",
        &[
            "",
            "amount",
            "",
            "",
            "subtractfeefromamount",
            "replaceable",
            "conf_target",
            "",
            "avoid_reuse",
            "fee_rate",
            "verbose",
        ],
    ),
    (
        "sendmany",
        &[
            "",
            "amounts",
            "minconf",
            "",
            "subtractfeefrom",
            "replaceable",
            "conf_target",
            "",
            "fee_rate",
            "verbose",
        ],
    ),
    (
        "send",
        &["outputs", "conf_target", "", "fee_rate", "options"],
    ),
    (
        "getbalance",
        &["", "minconf", "include_watchonly", "avoid_reuse"],
    ),
    (
        "getreceivedbyaddress",
        &["", "minconf", "include_immature_coinbase"],
    ),
    (
        "listreceivedbyaddress",
        &[
            "minconf",
            "include_empty",
            "include_watchonly",
            "",
            "include_immature_coinbase",
        ],
    ),
    (
        "listtransactions",
        &["", "count", "skip", "include_watchonly"],
    ),
    (
        "listsinceblock",
        &[
            "",
            "target_confirmations",
            "include_watchonly",
            "include_removed",
            "include_change",
        ],
    ),
    (
        "listunspent",
        &[
            "minconf",
            "maxconf",
            "addresses",
            "include_unsafe",
            "query_options",
        ],
    ),
    ("gettransaction", &["", "include_watchonly", "verbose"]),
    (
        "createwallet",
        &[
            "",
            "disable_private_keys",
            "blank",
            "",
            "avoid_reuse",
            "descriptors",
            "load_on_startup",
            "external_signer",
        ],
    ),
    ("loadwallet", &["", "load_on_startup"]),
    ("settxfee", &["amount"]),
    ("keypoolrefill", &["newsize"]),
    (
        "getreceivedbylabel",
        &["", "minconf", "include_immature_coinbase"],
    ),
    (
        "listreceivedbylabel",
        &[
            "minconf",
            "include_empty",
            "include_watchonly",
            "include_immature_coinbase",
        ],
    ),
    ("unloadwallet", &["", "load_on_startup"]),
    ("restorewallet", &["", "", "load_on_startup"]),
    ("walletpassphrase", &["", "timeout"]),
    ("lockunspent", &["unlock", "transactions", "persistent"]),
    ("fundrawtransaction", &["", "options", "iswitness"]),
    (
        "walletcreatefundedpsbt",
        &["inputs", "outputs", "locktime", "options", "bip32derivs"],
    ),
    (
        "walletprocesspsbt",
        &["", "sign", "", "bip32derivs", "finalize"],
    ),
    ("bumpfee", &["", "options"]),
    ("rescanblockchain", &["start_height", "stop_height"]),
    ("importdescriptors", &["requests"]),
    ("listdescriptors", &["private"]),
    ("signrawtransactionwithwallet", &["", "prevtxs"]),
    (
        "echojson",
        &[
            "arg0", "arg1", "arg2", "arg3", "arg4", "arg5", "arg6", "arg7", "arg8", "arg9",
        ],
    ),
];

fn converts(method: &str, index: Option<usize>, name: Option<&str>) -> bool {
    CONVERT
        .iter()
        .filter(|(m, _)| *m == method)
        .any(|(_, params)| {
            index.is_some_and(|i| params.get(i).is_some_and(|p| !p.is_empty()))
                || name.is_some_and(|n| params.contains(&n))
        })
}

/// bitcoin-cli's `ParseNonRFCJSONValue`.
fn parse_json_arg(s: &str) -> Result<Value, String> {
    serde_json::from_str(s).map_err(|_| format!("Error parsing JSON: {s}"))
}

/// Core's `SplitHostPort`: `host`, `host:port`, `[v6]` or `[v6]:port`; a bare IPv6
/// address has no port. `None` when a port is given but is not 1 to 65535.
fn split_host_port(s: &str) -> Option<(String, Option<u16>)> {
    let port_of = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    if let Some(rest) = s.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            return match after.strip_prefix(':') {
                Some(p) => Some((host.to_string(), Some(port_of(p)?))),
                None if after.is_empty() => Some((host.to_string(), None)),
                None => Some((s.to_string(), None)),
            };
        }
    }
    match s.split_once(':') {
        Some((host, p)) if !p.contains(':') => Some((host.to_string(), Some(port_of(p)?))),
        _ => Some((s.to_string(), None)),
    }
}

/// Builds the `params` of a call from command line words.
pub fn build_params(method: &str, words: &[String], named: bool) -> Result<Value, String> {
    if named {
        let mut map = Map::new();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("No '=' in named argument '{w}', this may be because of a missing -named argument"))?;
            let value = if converts(method, None, Some(k)) {
                parse_json_arg(v)?
            } else {
                json!(v)
            };
            map.insert(k.to_string(), value);
        }
        return Ok(Value::Object(map));
    }
    let mut out = Vec::new();
    for (i, w) in words.iter().enumerate() {
        out.push(if converts(method, Some(i), None) {
            parse_json_arg(w)?
        } else {
            json!(w)
        });
    }
    Ok(Value::Array(out))
}

/// How a run ends: text for stdout or stderr, and the exit code.
struct Outcome {
    stdout: String,
    stderr: String,
    code: i32,
}

fn fail(msg: impl Into<String>) -> Outcome {
    Outcome {
        stdout: String::new(),
        stderr: msg.into(),
        code: 1,
    }
}

/// Runs the CLI with `argv` (without the program name); returns the exit code.
pub fn run_cli(argv: Vec<String>) -> i32 {
    let out = run(argv);
    if !out.stdout.is_empty() {
        println!("{}", out.stdout);
    }
    if !out.stderr.is_empty() {
        let _ = writeln!(std::io::stderr(), "{}", out.stderr);
    }
    out.code
}

fn usage() -> String {
    let mut out = format!(
        "hashvive RPC client version v{}\n\nUsage:  hashvive-cli [options] <command> [params]  Send command to hashvive\nor:     hashvive-cli [options] -named <command> [name=value]...\nor:     hashvive-cli [options] help                List commands\n\nOptions:\n\n",
        env!("CARGO_PKG_VERSION")
    );
    for s in CLI_ARGS.iter().filter(|s| !["?", "h"].contains(&s.name)) {
        out.push_str(&format!("  -{}\n       {}\n\n", s.name, s.help));
    }
    out.trim_end().to_string()
}

fn run(argv: Vec<String>) -> Outcome {
    let mut args = match ArgsManager::parse_command_line(CLI_ARGS, &argv, true) {
        Ok(a) => a,
        Err(e) => return fail(e.to_string()),
    };
    if ["?", "h", "help"].iter().any(|h| args.is_set(h)) {
        return Outcome {
            stdout: usage(),
            stderr: String::new(),
            code: 0,
        };
    }
    if args.is_set("version") {
        return Outcome {
            stdout: format!("hashvive RPC client version v{}", env!("CARGO_PKG_VERSION")),
            stderr: String::new(),
            code: 0,
        };
    }
    let datadir = match args.get_arg("datadir") {
        Some(d) if !PathBuf::from(&d).is_dir() => {
            return fail(format!(
                "Error: Specified data directory \"{d}\" does not exist."
            ))
        }
        Some(d) => PathBuf::from(d),
        None => default_datadir(),
    };
    if let Err(e) = args.read_config_files(&datadir) {
        return fail(e.to_string());
    }
    let params = match ChainParams::for_chain(args.chain()) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let mut words: Vec<String> = args.positional().to_vec();
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let mut password = args.get_arg("rpcpassword").unwrap_or_default();
    if args.get_bool("stdinrpcpass", false) {
        match lines.next() {
            Some(Ok(l)) => password = l,
            _ => {
                return fail(
                    "error: -stdinrpcpass specified but failed to read from standard input",
                )
            }
        }
    }
    if args.get_bool("stdin", false) {
        words.extend(lines.map_while(Result::ok));
    }
    let wait = args.get_bool("rpcwait", false);
    let wait_timeout = args.get_int("rpcwaittimeout", 0).unwrap_or(0);
    let (user, password) = if password.is_empty() {
        let cookie_path = crate::args::abs_path(
            &datadir.join(params.data_subdir),
            &args.get_arg_or("rpccookiefile", ".cookie"),
        );
        // With -rpcwait the node may not have written its cookie yet.
        let started = Instant::now();
        let text = loop {
            match std::fs::read_to_string(&cookie_path) {
                Ok(text) => break text,
                Err(_) if wait && (wait_timeout <= 0 || started.elapsed() < Duration::from_secs(wait_timeout as u64)) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(_) => {
                    return fail(format!(
                        "error: Could not locate RPC credentials. No authentication cookie could be found, and RPC password is not set.  See -rpcpassword and -stdinrpcpass.  Configuration file: ({})",
                        datadir.join(args.get_arg_or("conf", "hashvive.conf")).display()
                    ))
                }
            }
        };
        match text.trim().split_once(':') {
            Some((u, p)) => (u.to_string(), p.to_string()),
            None => return fail(
                "error: Could not locate RPC credentials. The authentication cookie is malformed.",
            ),
        }
    } else {
        (args.get_arg_or("rpcuser", ""), password)
    };
    let rpcconnect = args.get_arg_or("rpcconnect", "127.0.0.1");
    let Some((host, connect_port)) = split_host_port(&rpcconnect) else {
        return fail(format!(
            "error: Invalid port provided in -rpcconnect: {rpcconnect}"
        ));
    };
    // As bitcoin-cli: -rpcport wins over a port in -rpcconnect, with a warning.
    let port = match args.get_arg("rpcport") {
        Some(p) => match p.trim().parse::<u16>() {
            Ok(p) if p != 0 => {
                if connect_port.is_some() {
                    let _ = writeln!(
                        std::io::stderr(),
                        "Warning: Port specified in both -rpcconnect and -rpcport. Using -rpcport {p}"
                    );
                }
                p
            }
            _ => return fail(format!("error: Invalid port provided in -rpcport: {p}")),
        },
        None => connect_port.unwrap_or(params.rpc_port),
    };
    let timeout = match args.get_int("rpcclienttimeout", 900) {
        Ok(0) => Duration::from_secs(365 * 24 * 3600),
        Ok(t) => Duration::from_secs(t.max(1) as u64),
        Err(e) => return fail(e.to_string()),
    };
    let mut client = RpcClient::new(&host, port, &user, &password, timeout);
    let path = match args.get_arg("rpcwallet") {
        Some(w) => format!("/wallet/{}", percent_encode(&w)),
        None => "/".to_string(),
    };
    let mut session = Session {
        client: &mut client,
        path,
        host,
        port,
        wait,
        wait_timeout,
    };

    if args.get_bool("getinfo", false) {
        return session.getinfo();
    }
    if args.get_bool("generate", false) {
        return session.generate(&words);
    }
    let Some(method) = words.first().cloned() else {
        return fail("error: too few parameters (need at least command)");
    };
    let params = match build_params(&method, &words[1..], args.get_bool("named", false)) {
        Ok(p) => p,
        Err(e) => return fail(format!("error: {e}")),
    };
    match session.call(&method, params) {
        Ok(Ok(result)) => Outcome {
            stdout: format_result(&result),
            stderr: String::new(),
            code: 0,
        },
        Ok(Err(error)) => fail(format_error(&error)),
        Err(o) => o,
    }
}

/// Core prints strings bare, null as nothing, and other JSON indented by two spaces.
fn format_result(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn format_error(error: &Value) -> String {
    match (
        error.get("code"),
        error.get("message").and_then(Value::as_str),
    ) {
        (Some(code), Some(msg)) => format!("error code: {code}\nerror message:\n{msg}"),
        _ => format!("error: {error}"),
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

struct Session<'a> {
    client: &'a mut RpcClient,
    path: String,
    host: String,
    port: u16,
    wait: bool,
    wait_timeout: i64,
}

impl Session<'_> {
    /// One call; the outer error is a transport failure already formatted for the user.
    fn call(&mut self, method: &str, params: Value) -> Result<Result<Value, Value>, Outcome> {
        let body = json!({"method": method, "params": params, "id": 1}).to_string();
        let started = Instant::now();
        loop {
            match self.client.post(&self.path, &body) {
                Ok(resp) => {
                    if resp.status == 401 {
                        return Err(fail(
                            "error: Authorization failed: Incorrect rpcuser or rpcpassword",
                        ));
                    }
                    let parsed: Option<Value> = serde_json::from_slice(&resp.body).ok();
                    let Some(reply) = parsed.filter(Value::is_object) else {
                        return Err(fail(format!(
                            "error: server returned HTTP error {}",
                            resp.status
                        )));
                    };
                    let error = reply.get("error").cloned().unwrap_or(Value::Null);
                    if !error.is_null() {
                        // -28: still warming up; -rpcwait keeps trying.
                        if self.wait
                            && error.get("code").and_then(Value::as_i64) == Some(-28)
                            && !self.timed_out(started)
                        {
                            std::thread::sleep(Duration::from_secs(1));
                            continue;
                        }
                        return Ok(Err(error));
                    }
                    return Ok(Ok(reply.get("result").cloned().unwrap_or(Value::Null)));
                }
                Err(ClientError::Connect(_)) if self.wait && !self.timed_out(started) => {
                    std::thread::sleep(Duration::from_millis(250));
                }
                Err(e) => {
                    let what = if matches!(e, ClientError::Connect(_)) {
                        "Could not connect to the server"
                    } else {
                        "couldn't talk to the server"
                    };
                    let prefix = if self.wait {
                        "timeout on transient error: "
                    } else {
                        ""
                    };
                    return Err(fail(format!(
                        "error: {prefix}{what} {}:{} ({e})\n\nMake sure the hashvived server is running and that you are connecting to the correct RPC port.\nUse \"hashvive-cli -help\" for more info.",
                        self.host, self.port
                    )));
                }
            }
        }
    }

    fn timed_out(&self, started: Instant) -> bool {
        self.wait_timeout > 0 && started.elapsed() >= Duration::from_secs(self.wait_timeout as u64)
    }

    fn getinfo(&mut self) -> Outcome {
        let info = match self.call("getblockchaininfo", json!([])) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return fail(format_error(&e)),
            Err(o) => return o,
        };
        let progress = info["verificationprogress"].as_f64().unwrap_or(0.0) * 100.0;
        let warnings = match info.get("warnings") {
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join("\n"),
            _ => "(none)".to_string(),
        };
        let mut text = format!(
            "Chain: {}\nBlocks: {}\nHeaders: {}\nVerification progress: {:.4}%\nDifficulty: {}\n",
            info["chain"].as_str().unwrap_or(""),
            info["blocks"],
            info["headers"],
            progress,
            info["difficulty"],
        );
        // Core's -getinfo adds the network and, when one wallet answers, the wallet.
        if let Ok(Ok(net)) = self.call("getnetworkinfo", json!([])) {
            text.push_str(&format!(
                "\nNetwork: in {}, out {}, total {}\nVersion: {}\nTime offset (s): {}\nProxies: n/a\nMin tx relay fee rate (BTC/kvB): {:.8}\n",
                net["connections_in"],
                net["connections_out"],
                net["connections"],
                net["version"],
                net["timeoffset"],
                net["relayfee"].as_f64().unwrap_or(0.0),
            ));
        }
        if let Ok(Ok(wallet)) = self.call("getwalletinfo", json!([])) {
            text.push_str(&format!(
                "\nWallet: {}\nKeypool size: {}\n",
                wallet["walletname"].as_str().unwrap_or(""),
                wallet["keypoolsize"],
            ));
            if let Some(until) = wallet.get("unlocked_until") {
                text.push_str(&format!("Unlocked until: {until}\n"));
            }
            text.push_str(&format!(
                "Transaction fee rate (-paytxfee) (BTC/kvB): {:.8}\n",
                wallet["paytxfee"].as_f64().unwrap_or(0.0)
            ));
            if let Ok(Ok(balances)) = self.call("getbalances", json!([])) {
                text.push_str(&format!(
                    "\nBalance: {:.8}\n",
                    balances["mine"]["trusted"].as_f64().unwrap_or(0.0)
                ));
            }
        }
        text.push_str(&format!("\nWarnings: {warnings}"));
        Outcome {
            stdout: text,
            stderr: String::new(),
            code: 0,
        }
    }

    fn generate(&mut self, words: &[String]) -> Outcome {
        let parsed: Result<Vec<Value>, String> = words.iter().map(|w| parse_json_arg(w)).collect();
        let nums = match parsed {
            Ok(v) if v.len() <= 2 && v.iter().all(Value::is_u64) => v,
            _ => return fail("error: Error parsing JSON or too many arguments: -generate takes [nblocks] [maxtries]"),
        };
        let address = match self.call("getnewaddress", json!([])) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return fail(format_error(&e)),
            Err(o) => return o,
        };
        let mut params = vec![nums.first().cloned().unwrap_or(json!(1)), address.clone()];
        if let Some(m) = nums.get(1) {
            params.push(m.clone());
        }
        match self.call("generatetoaddress", Value::Array(params)) {
            Ok(Ok(blocks)) => Outcome {
                stdout: format_result(&json!({"address": address, "blocks": blocks})),
                stderr: String::new(),
                code: 0,
            },
            Ok(Err(e)) => fail(format_error(&e)),
            Err(o) => o,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn converts_only_listed_parameters() {
        assert_eq!(
            build_params("getblockhash", &w(&["5"]), false).unwrap(),
            json!([5])
        );
        assert_eq!(
            build_params("echo", &w(&["5", "x"]), false).unwrap(),
            json!(["5", "x"])
        );
        assert_eq!(
            build_params("echojson", &w(&["5", "[1]"]), false).unwrap(),
            json!([5, [1]])
        );
        assert_eq!(
            build_params("getblock", &w(&["ab", "2"]), false).unwrap(),
            json!(["ab", 2])
        );
        assert!(build_params("getblockhash", &w(&["abc"]), false)
            .unwrap_err()
            .contains("Error parsing JSON: abc"));
    }

    #[test]
    fn named_parameters() {
        assert_eq!(
            build_params("getblock", &w(&["blockhash=ab", "verbosity=0"]), true).unwrap(),
            json!({"blockhash": "ab", "verbosity": 0})
        );
        assert!(build_params("getblock", &w(&["ab"]), true).is_err());
    }

    #[test]
    fn output_formatting() {
        assert_eq!(format_result(&json!("x")), "x");
        assert_eq!(format_result(&Value::Null), "");
        assert_eq!(format_result(&json!({"a": 1})), "{\n  \"a\": 1\n}");
        assert_eq!(
            format_error(&json!({"code": -8, "message": "m"})),
            "error code: -8\nerror message:\nm"
        );
    }

    #[test]
    fn rpcconnect_takes_a_port_as_bitcoin_cli_does() {
        let hp = |s: &str| split_host_port(s);
        assert_eq!(hp("127.0.0.1"), Some(("127.0.0.1".into(), None)));
        assert_eq!(
            hp("127.0.0.1:18443"),
            Some(("127.0.0.1".into(), Some(18443)))
        );
        assert_eq!(hp("localhost:1"), Some(("localhost".into(), Some(1))));
        assert_eq!(hp("[::1]:8332"), Some(("::1".into(), Some(8332))));
        assert_eq!(hp("[::1]"), Some(("::1".into(), None)));
        assert_eq!(hp("::1"), Some(("::1".into(), None)));
        assert_eq!(hp("127.0.0.1:0"), None);
        assert_eq!(hp("127.0.0.1:65536"), None);
        assert_eq!(hp("127.0.0.1:x"), None);
    }
}
