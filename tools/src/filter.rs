//! Record filters shared by `dump`, `follow` and `plot`.

use std::collections::HashMap;

use shm_ipc::trace::TraceRecord;

use crate::names::{self, KIND_NAMES};
use crate::reader::FileInfo;

/// Filter options as given on the command line.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct FilterArgs {
    /// Only these methods: `Interface.method`, `Interface` or `Interface.*` (repeatable, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub method: Vec<String>,
    /// Only these connections: `N`, or `PROCESS:N` with a process name or pid (repeatable).
    #[arg(long, value_delimiter = ',')]
    pub conn: Vec<String>,
    /// Only these kinds: request, response, error, callback, close (repeatable).
    #[arg(long, value_delimiter = ',')]
    pub kind: Vec<String>,
    /// Only records at or after this time since the trace start (e.g. 1.5s, 200ms).
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// Only records before this time since the trace start.
    #[arg(long, value_name = "DURATION")]
    pub until: Option<String>,
    /// Only responses and errors at least this slow (e.g. 100us).
    #[arg(long, value_name = "DURATION")]
    pub min_latency: Option<String>,
}

#[derive(Clone, Debug)]
enum ConnPattern {
    Any(u32),
    Process(String, u32),
}

/// A compiled filter.
#[derive(Debug, Default)]
pub struct Filter {
    methods: Vec<String>,
    conns: Vec<ConnPattern>,
    kinds: u8,
    since: Option<u64>,
    until: Option<u64>,
    min_latency: Option<u64>,
    method_cache: HashMap<(u16, u16), bool>,
}

impl Filter {
    /// Checks and compiles `args`; errors name the bad value.
    pub fn new(args: &FilterArgs) -> Result<Filter, String> {
        let mut kinds = 0u8;
        for k in args.kind.iter().flat_map(|k| k.split(',')) {
            let i = KIND_NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(k.trim()))
                .ok_or_else(|| {
                    format!(
                        "bad --kind '{k}': expected one of {}",
                        KIND_NAMES.join(", ")
                    )
                })?;
            kinds |= 1 << (i + 1);
        }
        let conns = args
            .conn
            .iter()
            .flat_map(|c| c.split(','))
            .map(|c| {
                let bad = || format!("bad --conn '{c}': expected N or PROCESS:N");
                match c.rsplit_once(':') {
                    Some((p, n)) if !p.is_empty() => Ok(ConnPattern::Process(
                        p.to_string(),
                        n.parse().map_err(|_| bad())?,
                    )),
                    _ => Ok(ConnPattern::Any(c.parse().map_err(|_| bad())?)),
                }
            })
            .collect::<Result<_, String>>()?;
        let dur = |o: &Option<String>| o.as_deref().map(names::parse_duration).transpose();
        let methods: Vec<String> = args
            .method
            .iter()
            .flat_map(|m| m.split(','))
            .map(|m| m.trim().trim_end_matches(".*").to_string())
            .filter(|m| !m.is_empty())
            .collect();
        Ok(Filter {
            methods,
            conns,
            kinds,
            since: dur(&args.since)?,
            until: dur(&args.until)?,
            min_latency: dur(&args.min_latency)?,
            method_cache: HashMap::new(),
        })
    }

    /// Whether any method pattern was given.
    pub fn has_methods(&self) -> bool {
        !self.methods.is_empty()
    }

    /// Whether `(interface, method)` matches the method patterns (all do when none were given).
    pub fn method_matches(&mut self, interface: u16, method: u16) -> bool {
        if self.methods.is_empty() {
            return true;
        }
        let methods = &self.methods;
        *self
            .method_cache
            .entry((interface, method))
            .or_insert_with(|| {
                let label = names::method_label(interface, method);
                let iface = label.split('.').next().unwrap_or("");
                methods.iter().any(|m| *m == label || *m == iface)
            })
    }

    /// Whether `record`, written by `info`'s process, passes; `rel_ns` is its time
    /// since the trace start.
    pub fn matches(&mut self, info: &FileInfo, record: &TraceRecord, rel_ns: u64) -> bool {
        if self.kinds != 0 && self.kinds & (1 << record.kind) == 0 {
            return false;
        }
        if self.since.is_some_and(|s| rel_ns < s) || self.until.is_some_and(|u| rel_ns >= u) {
            return false;
        }
        if let Some(min) = self.min_latency {
            if !names::is_completion(record) || record.latency_ns < min {
                return false;
            }
        }
        if !self.conns.is_empty()
            && !self.conns.iter().any(|c| match c {
                ConnPattern::Any(n) => *n == record.conn,
                ConnPattern::Process(p, n) => {
                    *n == record.conn && (*p == info.process || *p == info.header.pid.to_string())
                }
            })
        {
            return false;
        }
        if record.kind == names::KIND_CLOSE {
            return self.methods.is_empty();
        }
        self.method_matches(record.interface, record.method)
    }
}
