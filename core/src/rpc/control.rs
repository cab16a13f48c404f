//! Control RPCs: `stop`, `uptime`, `help`, `getrpcinfo`, `logging`.

use serde_json::{json, Map, Value};

use super::dispatch::{Command, RpcContext};
use super::error::RpcError;
use super::params::Params;
use crate::logging;

/// The control commands.
pub fn commands() -> Vec<Command> {
    vec![
        Command {
            name: "help",
            category: "Control",
            params: &["command"],
            hidden: false,
            handler: help,
        },
        Command {
            name: "stop",
            category: "Control",
            params: &["wait"],
            hidden: false,
            handler: stop,
        },
        Command {
            name: "uptime",
            category: "Control",
            params: &[],
            hidden: false,
            handler: uptime,
        },
        Command {
            name: "getrpcinfo",
            category: "Control",
            params: &[],
            hidden: false,
            handler: getrpcinfo,
        },
        Command {
            name: "logging",
            category: "Control",
            params: &["include", "exclude"],
            hidden: false,
            handler: logging_rpc,
        },
    ]
}

fn help(ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    if let Some(name) = p.str(0)? {
        return Ok(match ctx.help_text(name) {
            // Core drops the final newline of the help text.
            Some(text) => json!(text.strip_suffix('\n').unwrap_or(&text)),
            None => json!(format!("help: unknown command: {name}")),
        });
    }
    let listing = ctx.listing();
    let mut categories: Vec<&str> = listing.iter().map(|(c, _)| c.as_str()).collect();
    categories.sort_unstable();
    categories.dedup();
    let mut out = Vec::new();
    for cat in categories {
        let mut lines: Vec<&str> = listing
            .iter()
            .filter(|(c, _)| c == cat)
            .map(|(_, usage)| usage.as_str())
            .collect();
        lines.sort_unstable();
        out.push(format!("== {cat} ==\n{}", lines.join("\n")));
    }
    Ok(json!(out.join("\n\n")))
}

fn stop(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    ctx.node.request_shutdown();
    Ok(json!("hashvive stopping"))
}

fn uptime(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    Ok(json!(ctx.node.uptime()))
}

fn getrpcinfo(ctx: &RpcContext, _p: &Params<'_>) -> Result<Value, RpcError> {
    let active: Vec<Value> = ctx
        .active_calls()
        .into_iter()
        .map(|(m, us)| json!({"method": m, "duration": us}))
        .collect();
    Ok(json!({"active_commands": active, "logpath": ctx.log_path.display().to_string()}))
}

fn category_list(v: Option<&Value>) -> Result<Vec<String>, RpcError> {
    match v {
        None => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|c| {
                c.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| RpcError::type_error(c, "string"))
            })
            .collect(),
        Some(other) => Err(RpcError::type_error(other, "array")),
    }
}

fn logging_rpc(_ctx: &RpcContext, p: &Params<'_>) -> Result<Value, RpcError> {
    for (list, enable) in [
        (category_list(p.get(0))?, true),
        (category_list(p.get(1))?, false),
    ] {
        for cat in list {
            if !logging::set_category(&cat, enable) {
                return Err(RpcError::invalid_parameter(format!(
                    "unknown logging category {cat}"
                )));
            }
        }
    }
    let mut out = Map::new();
    for cat in logging::CATEGORIES {
        out.insert((*cat).to_string(), json!(logging::enabled(cat)));
    }
    Ok(Value::Object(out))
}
