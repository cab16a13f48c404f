//! Names for wire ids: `Interface.method`, kinds, directions, and durations.

use hashvive_core::ipc::interfaces::method_name;
use shm_ipc::trace::TraceRecord;

/// Interface id of the transport tests' `Test` service (`tests/src/lib.rs`).
pub const TEST_INTERFACE: u16 = 100;
const TEST_METHODS: [&str; 9] = [
    "echo", "nest", "fail", "panic", "sleep", "pid", "discard", "received", "work",
];

/// `Interface.method` for wire ids; unknown ids read `iface<N>.m<M>`.
pub fn method_label(interface: u16, method: u16) -> String {
    if let Some((i, m)) = method_name(interface, method) {
        return format!("{i}.{m}");
    }
    if interface == TEST_INTERFACE {
        if let Some(m) = TEST_METHODS.get(method as usize) {
            return format!("Test.{m}");
        }
    }
    format!("iface{interface}.m{method}")
}

/// Label of a record's method; close frames carry no method.
pub fn record_label(record: &TraceRecord) -> String {
    if record.kind == KIND_CLOSE {
        "(close)".into()
    } else {
        method_label(record.interface, record.method)
    }
}

/// Kind byte of a request.
pub const KIND_REQUEST: u8 = 1;
/// Kind byte of a response.
pub const KIND_RESPONSE: u8 = 2;
/// Kind byte of an error response.
pub const KIND_ERROR: u8 = 3;
/// Kind byte of a callback (a request on a thread the peer started).
pub const KIND_CALLBACK: u8 = 4;
/// Kind byte of a connection close.
pub const KIND_CLOSE: u8 = 5;

/// Names of kinds 1..=5, as printed and as `--kind` takes them.
pub const KIND_NAMES: [&str; 5] = ["request", "response", "error", "callback", "close"];

/// Name of a kind byte.
pub fn kind_name(kind: u8) -> &'static str {
    match kind {
        1..=5 => KIND_NAMES[kind as usize - 1],
        _ => "?",
    }
}

/// `send` or `recv`.
pub fn direction_name(direction: u8) -> &'static str {
    if direction == shm_ipc::trace::DIR_SEND {
        "send"
    } else {
        "recv"
    }
}

/// Whether this record completes a call (and so carries a latency).
pub fn is_completion(record: &TraceRecord) -> bool {
    record.kind == KIND_RESPONSE || record.kind == KIND_ERROR
}

/// Which end of a call this process was, from the record's kind and direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// This process made the call: its latency is the full round trip.
    Client,
    /// This process served the call: its latency is the handler's time.
    Server,
    /// Close frames belong to no call.
    None,
}

impl Role {
    /// The role of the process that wrote `record`.
    pub fn of(record: &TraceRecord) -> Role {
        let sent = record.direction == shm_ipc::trace::DIR_SEND;
        match record.kind {
            KIND_REQUEST | KIND_CALLBACK if sent => Role::Client,
            KIND_REQUEST | KIND_CALLBACK => Role::Server,
            KIND_RESPONSE | KIND_ERROR if sent => Role::Server,
            KIND_RESPONSE | KIND_ERROR => Role::Client,
            _ => Role::None,
        }
    }

    /// `client`, `server` or `-`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
            Role::None => "-",
        }
    }
}

/// A duration in ns with three significant digits and a unit: `812ns`, `1.23ms`.
pub fn human_ns(ns: u64) -> String {
    let (value, unit) = match ns {
        0..1_000 => return format!("{ns}ns"),
        1_000..1_000_000 => (ns as f64 / 1e3, "us"),
        1_000_000..1_000_000_000 => (ns as f64 / 1e6, "ms"),
        _ => (ns as f64 / 1e9, "s"),
    };
    if value >= 100.0 {
        format!("{value:.0}{unit}")
    } else if value >= 10.0 {
        format!("{value:.1}{unit}")
    } else {
        format!("{value:.2}{unit}")
    }
}

/// Parses a duration: a number with `ns`, `us`, `ms`, `s` or `m`; a bare number is ns.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale = match unit {
        "" | "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => {
            return Err(format!(
                "bad duration '{text}': unit must be ns, us, ms, s or m"
            ))
        }
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("bad duration '{text}': expected e.g. 250us, 1.5ms, 2s"))?;
    Ok((value * scale).round() as u64)
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for ns since the Unix epoch.
pub fn iso8601_ns(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ns % 1_000_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(method_label(2, 0), "Init.make_echo");
        assert_eq!(method_label(2, 1), "Init.make_wallet_loader");
        assert_eq!(method_label(100, 0), "Test.echo");
        assert_eq!(method_label(999, 3), "iface999.m3");
        assert_eq!(method_label(2, 999), "iface2.m999");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("1.5ms"), Ok(1_500_000));
        assert_eq!(parse_duration("2s"), Ok(2_000_000_000));
        assert_eq!(parse_duration("42"), Ok(42));
        assert!(parse_duration("3h").is_err());
        assert!(parse_duration("ms").is_err());
        assert_eq!(human_ns(812), "812ns");
        assert_eq!(human_ns(1_234_567), "1.23ms");
        assert_eq!(human_ns(45_600), "45.6us");
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601_ns(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            iso8601_ns(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
    }
}
