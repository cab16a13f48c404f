//! Wall-clock time with Core's mock time (`setmocktime`), and ISO 8601 formatting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static MOCK_TIME: AtomicI64 = AtomicI64::new(0);

/// Seconds since the epoch, honouring mock time when it is set (non-zero).
pub fn now() -> i64 {
    match MOCK_TIME.load(Ordering::Relaxed) {
        0 => real_now(),
        mock => mock,
    }
}

/// Real seconds since the epoch, ignoring mock time.
pub fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Real microseconds since the epoch.
pub fn real_now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Sets mock time; 0 returns to the system clock.
pub fn set_mock_time(t: i64) {
    MOCK_TIME.store(t, Ordering::Relaxed);
}

/// Formats epoch seconds as `2026-11-22T02:40:00Z`, with `.micros` when given.
pub fn format_iso8601(secs: i64, micros: Option<u32>) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, rem % 3600 / 60, rem % 60);
    match micros {
        Some(us) => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{us:06}Z"),
        None => format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}Z"),
    }
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_core() {
        assert_eq!(format_iso8601(0, None), "1970-01-01T00:00:00Z");
        assert_eq!(format_iso8601(1_296_688_602, None), "2011-02-02T23:16:42Z");
        assert_eq!(
            format_iso8601(1_795_833_600, Some(42)),
            "2026-11-28T02:40:00.000042Z"
        );
    }
}
