//! Bitcoin Core-style settings: command line (`-x=y`, `-nox`, repeatable options) and
//! `hashvive.conf` (INI sections, `-includeconf`), merged with Core's precedence.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// How an option takes values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A single value; the command line beats the config file.
    Single,
    /// Repeatable; all values are kept in order.
    List,
    /// Accepted for compatibility with Core's test framework but not implemented.
    Ignored,
}

/// One option a program accepts.
#[derive(Debug, Clone, Copy)]
pub struct ArgSpec {
    /// Name without the leading dash.
    pub name: &'static str,
    /// How values are kept.
    pub kind: ArgKind,
    /// One-line help text.
    pub help: &'static str,
}

/// Builds a `&[ArgSpec]` table from `"name" Kind "help"` rows.
macro_rules! specs {
    ($($name:literal $kind:ident $help:literal),* $(,)?) => {
        &[$($crate::args::ArgSpec {
            name: $name,
            kind: $crate::args::ArgKind::$kind,
            help: $help,
        }),*]
    };
}
pub(crate) use specs;

/// A settings error, printed as `Error: ...` before the process exits with code 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgsError(pub String);

impl fmt::Display for ArgsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error: {}", self.0)
    }
}

impl std::error::Error for ArgsError {}

/// A value given for an option: a string, or a negation (`-nofoo`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Setting {
    Value(String),
    Negated,
}

/// Options whose values a config file section may hold.
type Section = BTreeMap<String, Vec<Setting>>;

/// Parsed settings of one process.
#[derive(Debug, Clone)]
pub struct ArgsManager {
    specs: &'static [ArgSpec],
    /// Options of one executable beyond the shared `specs` (`-ipcbind` of hashvive-node).
    extra_specs: &'static [ArgSpec],
    command_line: BTreeMap<String, Vec<Setting>>,
    /// Config file sections: "" is the top level, then "main", "test", "regtest"...
    config: BTreeMap<String, Section>,
    /// Positional (non-dash) arguments, in order.
    positional: Vec<String>,
    /// Config keys that were not recognised, logged once logging starts.
    unknown_config_keys: Vec<String>,
    chain: String,
}

/// Splits `-name=value` into its name and optional value, removing one or two dashes.
fn split_arg(arg: &str) -> Option<(&str, Option<&str>)> {
    let body = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-'))?;
    Some(match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    })
}

/// Interprets `-nofoo[=v]` as a negation (or, for `-nofoo=0`, a double negation).
fn interpret(name: &str, value: Option<&str>) -> (String, Setting) {
    if let Some(base) = name.strip_prefix("no") {
        let negated = !matches!(value, Some("0"));
        if negated {
            return (base.to_string(), Setting::Negated);
        }
        return (base.to_string(), Setting::Value("1".into()));
    }
    (
        name.to_string(),
        Setting::Value(value.unwrap_or("").to_string()),
    )
}

/// Parses a boolean the way Core does: empty means true, otherwise a number (non-zero is true).
fn parse_bool(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    value.trim().parse::<i64>().map(|n| n != 0).unwrap_or(false)
}

impl ArgsManager {
    /// Parses a command line (without the program name). With `stop_at_positional`, the
    /// first non-dash argument ends option parsing (as in bitcoin-cli); otherwise a
    /// non-dash argument is an error (as in bitcoind).
    pub fn parse_command_line(
        specs: &'static [ArgSpec],
        args: &[String],
        stop_at_positional: bool,
    ) -> Result<Self, ArgsError> {
        Self::parse_command_line_with(specs, &[], args, stop_at_positional)
    }

    /// [`ArgsManager::parse_command_line`] accepting `extra_specs` as well.
    pub fn parse_command_line_with(
        specs: &'static [ArgSpec],
        extra_specs: &'static [ArgSpec],
        args: &[String],
        stop_at_positional: bool,
    ) -> Result<Self, ArgsError> {
        let mut mgr = ArgsManager {
            specs,
            extra_specs,
            command_line: BTreeMap::new(),
            config: BTreeMap::new(),
            positional: Vec::new(),
            unknown_config_keys: Vec::new(),
            chain: "main".into(),
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some((name, value)) = split_arg(arg).filter(|_| arg.len() > 1) else {
                if stop_at_positional {
                    mgr.positional.push(arg.clone());
                    mgr.positional.extend(iter.cloned());
                    break;
                }
                return Err(ArgsError(format!(
                    "Command line contains unexpected token '{arg}', see hashvived -h for a list of options."
                )));
            };
            let (key, setting) = interpret(name, value);
            if mgr.spec(&key).is_none() {
                return Err(ArgsError(format!("Invalid parameter {arg}")));
            }
            if key == "includeconf" {
                return Err(ArgsError(format!(
                    "-includeconf cannot be used from commandline; -includeconf={}",
                    value.unwrap_or("")
                )));
            }
            mgr.command_line.entry(key).or_default().push(setting);
        }
        mgr.chain = mgr.select_chain()?;
        Ok(mgr)
    }

    fn spec(&self, name: &str) -> Option<&ArgSpec> {
        self.specs
            .iter()
            .chain(self.extra_specs)
            .find(|s| s.name == name)
    }

    /// Options that were given but are not implemented, for logging.
    pub fn ignored_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        let names = self
            .command_line
            .keys()
            .chain(self.config.values().flat_map(|m| m.keys()));
        for name in names {
            if self.spec(name).is_some_and(|s| s.kind == ArgKind::Ignored) && !out.contains(name) {
                out.push(name.clone());
            }
        }
        out
    }

    /// Config file keys that were not recognised.
    pub fn unknown_config_keys(&self) -> &[String] {
        &self.unknown_config_keys
    }

    /// Positional arguments (method and parameters for the CLI).
    pub fn positional(&self) -> &[String] {
        &self.positional
    }

    /// Name of the selected chain (`main`, `regtest`, ...).
    pub fn chain(&self) -> &str {
        &self.chain
    }

    fn select_chain(&self) -> Result<String, ArgsError> {
        let mut chosen: Vec<String> = Vec::new();
        for flag in ["regtest", "testnet", "testnet4", "signet"] {
            if self.get_bool_any_section(flag, false) {
                chosen.push(if flag == "testnet" {
                    "test".into()
                } else {
                    flag.into()
                });
            }
        }
        if let Some(chain) = self.lookup("chain", "") {
            chosen.push(chain);
        }
        chosen.dedup();
        match chosen.len() {
            0 => Ok("main".into()),
            1 => Ok(chosen.remove(0)),
            _ => Err(ArgsError(
                "Invalid combination of -regtest, -signet, -testnet, -testnet4 and -chain. Can use at most one.".into(),
            )),
        }
    }

    fn get_bool_any_section(&self, name: &str, default: bool) -> bool {
        self.lookup_setting(name, "")
            .map(|s| matches!(s, Setting::Value(v) if parse_bool(&v)))
            .unwrap_or(default)
    }

    /// The winning setting: command line (last value), then the chain's config section,
    /// then the config top level (first value in a file).
    fn lookup_setting(&self, name: &str, chain: &str) -> Option<Setting> {
        if let Some(v) = self.command_line.get(name).and_then(|v| v.last()) {
            return Some(v.clone());
        }
        let sections: &[&str] = if chain.is_empty() {
            &[""]
        } else {
            &[chain, ""]
        };
        for section in sections {
            if let Some(v) = self
                .config
                .get(*section)
                .and_then(|s| s.get(name))
                .and_then(|v| v.first())
            {
                return Some(v.clone());
            }
        }
        None
    }

    fn lookup(&self, name: &str, chain: &str) -> Option<String> {
        match self.lookup_setting(name, chain)? {
            Setting::Value(v) => Some(v),
            Setting::Negated => Some("0".into()),
        }
    }

    /// Reads the config file (`-conf`, relative to `datadir`, default `hashvive.conf`) and
    /// the files it includes, then re-selects the chain.
    pub fn read_config_files(&mut self, datadir: &Path) -> Result<(), ArgsError> {
        let explicit = self.command_line.contains_key("conf");
        let conf = self
            .get_arg("conf")
            .unwrap_or_else(|| "hashvive.conf".into());
        let path = abs_path(datadir, &conf);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let includes = self.parse_config(&text, &path)?;
                self.chain = self.select_chain()?;
                // Includes come from the top level and from the chain's own section.
                let mut files = includes.into_iter().filter(|(s, _)| s.is_empty() || *s == self.chain).map(|(_, f)| f).collect::<Vec<_>>();
                files.dedup();
                for file in files {
                    let inc = abs_path(datadir, &file);
                    let text = std::fs::read_to_string(&inc).map_err(|_| {
                        ArgsError(format!("Failed to include configuration file {file}"))
                    })?;
                    let nested = self.parse_config(&text, &inc)?;
                    if !nested.is_empty() {
                        return Err(ArgsError(format!(
                            "-includeconf cannot be used in an included file: {}",
                            nested[0].1
                        )));
                    }
                }
            }
            Err(_) if explicit => {
                return Err(ArgsError(format!(
                    "Error reading configuration file: specified config file \"{}\" could not be opened.",
                    path.display()
                )))
            }
            Err(_) => {}
        }
        self.chain = self.select_chain()?;
        Ok(())
    }

    /// Parses one INI file into `self.config`; returns `(section, file)` for each includeconf.
    fn parse_config(
        &mut self,
        text: &str,
        path: &Path,
    ) -> Result<Vec<(String, String)>, ArgsError> {
        let mut section = String::new();
        let mut includes = Vec::new();
        for (lineno, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.trim().to_string();
                continue;
            }
            if line.starts_with('-') {
                return Err(ArgsError(format!(
                    "parse error on line {}: {line}, options in configuration file must be specified without leading -",
                    lineno + 1
                )));
            }
            let Some((key, value)) = line.split_once('=') else {
                let hint = if line.starts_with("no") {
                    format!(", if you intended to specify a negated option, use {line}=1 instead")
                } else {
                    String::new()
                };
                return Err(ArgsError(format!(
                    "Error reading configuration file: parse error on line {}: {line}{hint}",
                    lineno + 1
                )));
            };
            let (key, value) = (key.trim(), value.trim());
            // `regtest.rpcport=1` is the same as `rpcport=1` inside `[regtest]`.
            let (sect, key) = match key.split_once('.') {
                Some((s, k)) => (s.to_string(), k),
                None => (section.clone(), key),
            };
            let (name, setting) = interpret(key, Some(value));
            if name == "includeconf" {
                if let Setting::Value(v) = setting {
                    includes.push((sect, v));
                }
                continue;
            }
            if self.spec(&name).is_none() {
                self.unknown_config_keys.push(format!(
                    "{} ({}:{})",
                    name,
                    path.display(),
                    lineno + 1
                ));
                continue;
            }
            self.config
                .entry(sect)
                .or_default()
                .entry(name)
                .or_default()
                .push(setting);
        }
        Ok(includes)
    }

    /// The value of a single-valued option for the selected chain, if set.
    pub fn get_arg(&self, name: &str) -> Option<String> {
        self.lookup(name, &self.chain)
    }

    /// The value of an option, or `default`.
    pub fn get_arg_or(&self, name: &str, default: &str) -> String {
        self.get_arg(name).unwrap_or_else(|| default.to_string())
    }

    /// An integer option; a malformed number is an error naming the option.
    pub fn get_int(&self, name: &str, default: i64) -> Result<i64, ArgsError> {
        match self.get_arg(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                ArgsError(format!(
                    "Invalid value for -{name}: '{v}' is not an integer"
                ))
            }),
        }
    }

    /// A boolean option (`-x`, `-x=1`, `-nox`).
    pub fn get_bool(&self, name: &str, default: bool) -> bool {
        match self.lookup_setting(name, &self.chain) {
            None => default,
            Some(Setting::Negated) => false,
            Some(Setting::Value(v)) => parse_bool(&v),
        }
    }

    /// Whether the option was negated (`-nox`).
    pub fn is_negated(&self, name: &str) -> bool {
        matches!(
            self.lookup_setting(name, &self.chain),
            Some(Setting::Negated)
        )
    }

    /// Whether the option was given anywhere that applies to the selected chain.
    pub fn is_set(&self, name: &str) -> bool {
        self.lookup_setting(name, &self.chain).is_some()
    }

    /// All values of a repeatable option: config top level, chain section, then command
    /// line. A negation drops the values before it.
    pub fn get_args(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let sources = [
            self.config.get("").and_then(|s| s.get(name)),
            self.config.get(&self.chain).and_then(|s| s.get(name)),
            self.command_line.get(name),
        ];
        for setting in sources.into_iter().flatten().flatten() {
            match setting {
                Setting::Value(v) => out.push(v.clone()),
                Setting::Negated => out.clear(),
            }
        }
        out
    }
}

/// Resolves `name` against `base` unless it is absolute.
pub fn abs_path(base: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The default data directory, `~/.hashvive`.
pub fn default_datadir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".hashvive")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[ArgSpec] = &[
        ArgSpec {
            name: "regtest",
            kind: ArgKind::Single,
            help: "",
        },
        ArgSpec {
            name: "chain",
            kind: ArgKind::Single,
            help: "",
        },
        ArgSpec {
            name: "conf",
            kind: ArgKind::Single,
            help: "",
        },
        ArgSpec {
            name: "rpcport",
            kind: ArgKind::Single,
            help: "",
        },
        ArgSpec {
            name: "server",
            kind: ArgKind::Single,
            help: "",
        },
        ArgSpec {
            name: "debug",
            kind: ArgKind::List,
            help: "",
        },
        ArgSpec {
            name: "par",
            kind: ArgKind::Ignored,
            help: "",
        },
    ];

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_values_negation_and_lists() {
        let a = ArgsManager::parse_command_line(
            SPECS,
            &args(&[
                "-regtest",
                "-rpcport=1234",
                "-noserver",
                "-debug=rpc",
                "--debug=net",
                "-par=2",
            ]),
            false,
        )
        .unwrap();
        assert_eq!(a.chain(), "regtest");
        assert_eq!(a.get_int("rpcport", 0).unwrap(), 1234);
        assert!(!a.get_bool("server", true));
        assert!(a.is_negated("server"));
        assert_eq!(a.get_args("debug"), vec!["rpc", "net"]);
        assert_eq!(a.ignored_options(), vec!["par"]);
    }

    #[test]
    fn unknown_option_is_an_error() {
        let e = ArgsManager::parse_command_line(SPECS, &args(&["-foo"]), false).unwrap_err();
        assert_eq!(e.to_string(), "Error: Invalid parameter -foo");
        let e = ArgsManager::parse_command_line(SPECS, &args(&["stray"]), false).unwrap_err();
        assert!(e.0.contains("unexpected token 'stray'"));
    }

    #[test]
    fn config_sections_and_precedence() {
        let mut a = ArgsManager::parse_command_line(SPECS, &args(&["-rpcport=7"]), false).unwrap();
        a.parse_config(
            "regtest=1\nrpcport=1\nserver=0\n[regtest]\nserver=1\nunknownkey=3\n",
            Path::new("x"),
        )
        .unwrap();
        a.chain = a.select_chain().unwrap();
        assert_eq!(a.chain(), "regtest");
        assert_eq!(a.get_arg("rpcport").as_deref(), Some("7"));
        assert!(a.get_bool("server", false));
        assert_eq!(a.unknown_config_keys().len(), 1);
    }

    #[test]
    fn config_parse_errors() {
        let mut a = ArgsManager::parse_command_line(SPECS, &[], false).unwrap();
        assert!(a
            .parse_config("noserver\n", Path::new("x"))
            .unwrap_err()
            .0
            .contains("noserver=1"));
        assert!(a.parse_config("-server=1\n", Path::new("x")).is_err());
    }

    #[test]
    fn cli_stops_at_first_positional() {
        let a =
            ArgsManager::parse_command_line(SPECS, &args(&["-regtest", "getblock", "-1"]), true)
                .unwrap();
        assert_eq!(a.positional(), &["getblock".to_string(), "-1".to_string()]);
    }
}
