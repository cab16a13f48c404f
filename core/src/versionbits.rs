//! BIP9 version bits on regtest: Core's `testdummy` deployment (bit 28, start time 0, no
//! timeout, 108 of 144 blocks), which decides the version of mined blocks.

/// Top bits every BIP9 block version carries.
pub const TOP_BITS: i32 = 0x2000_0000;
const TOP_MASK: u32 = 0xe000_0000;
/// Bit of the `testdummy` deployment.
pub const TESTDUMMY_BIT: u8 = 28;
/// Blocks per signalling period on regtest.
const PERIOD: u32 = 144;
/// Signalling blocks in one period that lock the deployment in.
const THRESHOLD: usize = 108;

/// BIP9 deployment states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Before the start time's first period.
    Defined,
    /// Miners signal; not yet locked in.
    Started,
    /// Locked in; active from the next period.
    LockedIn,
    /// Active.
    Active,
}

fn signals(version: i32) -> bool {
    (version as u32) & TOP_MASK == TOP_BITS as u32 && (version as u32) & (1 << TESTDUMMY_BIT) != 0
}

/// State of `testdummy` for a block at `height`, with `version_at(h)` giving the version
/// of its ancestor at height `h`. The start time is 0, so the second period has started.
pub fn testdummy_state(height: u32, version_at: impl Fn(u32) -> i32) -> State {
    testdummy_state_since(height, version_at).0
}

/// Like [`testdummy_state`], also giving the height where that state began.
pub fn testdummy_state_since(height: u32, version_at: impl Fn(u32) -> i32) -> (State, u32) {
    let period = height / PERIOD;
    if period == 0 {
        return (State::Defined, 0);
    }
    for q in 1..period {
        if period_signals(q * PERIOD, PERIOD, &version_at) >= THRESHOLD {
            return if q + 1 == period {
                (State::LockedIn, (q + 1) * PERIOD)
            } else {
                (State::Active, (q + 2) * PERIOD)
            };
        }
    }
    (State::Started, PERIOD)
}

fn period_signals(start: u32, len: u32, version_at: &impl Fn(u32) -> i32) -> usize {
    (start..start + len)
        .filter(|&h| signals(version_at(h)))
        .count()
}

/// Core's `getdeploymentinfo` statistics for the period holding the block at `height`:
/// blocks elapsed, signalling count, and the signalling pattern (`#` yes, `-` no).
pub fn period_statistics(height: u32, version_at: impl Fn(u32) -> i32) -> (u32, usize, String) {
    let elapsed = (height + 1) % PERIOD;
    let start = height + 1 - elapsed;
    let pattern: String = (start..start + elapsed)
        .map(|h| if signals(version_at(h)) { '#' } else { '-' })
        .collect();
    (
        elapsed,
        period_signals(start, elapsed, &version_at),
        pattern,
    )
}

/// Blocks per period and the lock-in threshold, for reporting.
pub fn period_and_threshold() -> (u32, usize) {
    (PERIOD, THRESHOLD)
}

impl State {
    /// Core's name of the state.
    pub fn name(self) -> &'static str {
        match self {
            State::Defined => "defined",
            State::Started => "started",
            State::LockedIn => "locked_in",
            State::Active => "active",
        }
    }
}

/// Core's `ComputeBlockVersion` for a block at `height`.
pub fn block_version(height: u32, version_at: impl Fn(u32) -> i32) -> i32 {
    match testdummy_state(height, version_at) {
        State::Started | State::LockedIn => TOP_BITS | (1 << TESTDUMMY_BIT),
        State::Defined | State::Active => TOP_BITS,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signalling_chain_activates_after_three_periods() {
        // A chain mined by ourselves: each block carries the version computed for it.
        let mut versions: Vec<i32> = vec![1];
        for h in 1..600u32 {
            let v = block_version(h, |x| versions[x as usize]);
            versions.push(v);
        }
        assert_eq!(versions[143], TOP_BITS);
        assert_eq!(versions[144], 0x3000_0000);
        assert_eq!(versions[431], 0x3000_0000);
        assert_eq!(versions[432], TOP_BITS);
        assert_eq!(
            testdummy_state(300, |x| versions[x as usize]),
            State::LockedIn
        );
        assert_eq!(
            testdummy_state(432, |x| versions[x as usize]),
            State::Active
        );
    }

    #[test]
    fn without_signals_it_stays_started() {
        assert_eq!(testdummy_state(1000, |_| TOP_BITS), State::Started);
        assert_eq!(block_version(1000, |_| TOP_BITS), 0x3000_0000);
    }
}
