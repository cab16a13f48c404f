//! Fee estimation after Bitcoin Core's `CBlockPolicyEstimator`, with one horizon: each
//! mempool transaction's feerate is bucketed on entry, and when it confirms the number
//! of blocks it waited is recorded, in exponentially decaying per-bucket averages. An
//! estimate for a target is the lowest range of buckets in which enough transactions
//! confirmed within the target at the required success rate. The averages persist in
//! `fee_estimates.dat` across restarts.

use std::collections::HashMap;

use bitcoin::Txid;

/// Lowest bucket boundary, in sat/kvB (Core's `MIN_BUCKET_FEERATE`).
const MIN_BUCKET_FEERATE: f64 = 1_000.0;
/// Highest finite bucket boundary, in sat/kvB (Core's `MAX_BUCKET_FEERATE`).
const MAX_BUCKET_FEERATE: f64 = 1e7;
/// Ratio between neighbouring bucket boundaries (Core's `FEE_SPACING`).
const FEE_SPACING: f64 = 1.05;
/// Longest target answered, as `estimatesmartfee` allows.
pub const MAX_TARGET: usize = 1008;
/// Per-block decay of the averages (Core's medium horizon, about a 200-block half-life).
const DECAY: f64 = 0.9952;
/// Decayed confirmed transactions a bucket range needs before it is judged (Core's
/// `SUFFICIENT_FEETXS` scaled by the horizon length).
const SUFFICIENT_TXS: f64 = 0.1 / (1.0 - DECAY);
/// Share of a range's transactions that must confirm within the target: Core's medium
/// and long horizon thresholds for economical and conservative estimates.
const SUCCESS_ECONOMICAL: f64 = 0.85;
const SUCCESS_CONSERVATIVE: f64 = 0.95;
/// First bytes of `fee_estimates.dat` as this node writes it.
const FILE_MAGIC: &[u8; 8] = b"hvfeest1";

/// A transaction being watched until it confirms or leaves the mempool.
#[derive(Debug, Clone, Copy)]
struct Tracked {
    height: u32,
    bucket: usize,
    feerate: f64,
}

/// The estimator's state.
#[derive(Debug, Clone)]
pub struct FeeEstimator {
    /// Upper feerate bound of each bucket (sat/kvB); the last is infinite.
    bounds: Vec<f64>,
    /// `conf[t][b]`: decayed count of bucket `b` transactions confirmed within `t + 1` blocks.
    conf: Vec<Vec<f64>>,
    /// Decayed count of confirmed transactions per bucket.
    count: Vec<f64>,
    /// Decayed sum of those transactions' feerates per bucket.
    feerate_sum: Vec<f64>,
    tracked: HashMap<Txid, Tracked>,
    best_height: u32,
    first_height: Option<u32>,
}

impl Default for FeeEstimator {
    fn default() -> Self {
        Self::new()
    }
}

impl FeeEstimator {
    /// An estimator with no data.
    pub fn new() -> Self {
        let mut bounds = Vec::new();
        let mut b = MIN_BUCKET_FEERATE;
        while b <= MAX_BUCKET_FEERATE {
            bounds.push(b);
            b *= FEE_SPACING;
        }
        bounds.push(f64::INFINITY);
        let n = bounds.len();
        FeeEstimator {
            bounds,
            conf: vec![vec![0.0; n]; MAX_TARGET],
            count: vec![0.0; n],
            feerate_sum: vec![0.0; n],
            tracked: HashMap::new(),
            best_height: 0,
            first_height: None,
        }
    }

    fn bucket(&self, feerate: f64) -> usize {
        self.bounds.partition_point(|&b| b < feerate)
    }

    /// Watches a transaction that entered the mempool at chain height `height` paying
    /// `feerate` sat/kvB. Callers pass only transactions without mempool parents, as
    /// Core does, since a child's confirmation time depends on its parents.
    pub fn track(&mut self, txid: Txid, feerate: f64, height: u32) {
        let bucket = self.bucket(feerate);
        self.tracked.insert(
            txid,
            Tracked {
                height,
                bucket,
                feerate,
            },
        );
    }

    /// Accounts a block at `height`: decays the averages, records each tracked
    /// transaction it confirms, and forgets tracked ones that left the pool otherwise
    /// (replaced or conflicted). Blocks at or below the best seen height (reorgs) are
    /// ignored, as Core does.
    pub fn process_block(
        &mut self,
        height: u32,
        confirmed: &[Txid],
        in_mempool: impl Fn(&Txid) -> bool,
    ) {
        if height <= self.best_height && self.first_height.is_some() {
            return;
        }
        self.best_height = height;
        for row in self.conf.iter_mut() {
            row.iter_mut().for_each(|v| *v *= DECAY);
        }
        self.count.iter_mut().for_each(|v| *v *= DECAY);
        self.feerate_sum.iter_mut().for_each(|v| *v *= DECAY);
        let mut counted = 0;
        for txid in confirmed {
            let Some(t) = self.tracked.remove(txid) else {
                continue;
            };
            let Some(waited) = height.checked_sub(t.height).filter(|w| *w > 0) else {
                continue;
            };
            let waited = (waited as usize).min(MAX_TARGET);
            for row in &mut self.conf[waited - 1..] {
                row[t.bucket] += 1.0;
            }
            self.count[t.bucket] += 1.0;
            self.feerate_sum[t.bucket] += t.feerate;
            counted += 1;
        }
        self.tracked.retain(|txid, _| in_mempool(txid));
        if self.first_height.is_none() && counted > 0 {
            self.first_height = Some(height);
        }
    }

    /// Blocks of data behind estimates; a target needs twice as many (Core's
    /// `MaxUsableEstimate`).
    fn max_usable_target(&self) -> usize {
        let span = self
            .first_height
            .map(|f| self.best_height.saturating_sub(f) as usize)
            .unwrap_or(0);
        (span / 2).min(MAX_TARGET)
    }

    /// Core's `EstimateMedianVal` for one target: walking down from the highest bucket,
    /// the lowest range of buckets that confirms within `target` at `success`; the
    /// result is the average feerate of the range's median bucket.
    fn estimate_at(&self, target: usize, success: f64) -> Option<f64> {
        let row = &self.conf[target - 1];
        // Transactions still pending after `target` blocks count as failures.
        let mut pending = vec![0.0; self.bounds.len()];
        for t in self.tracked.values() {
            if self.best_height.saturating_sub(t.height) as usize >= target {
                pending[t.bucket] += 1.0;
            }
        }
        let (mut n_conf, mut total, mut extra) = (0.0, 0.0, 0.0);
        let mut near = self.bounds.len() - 1;
        let mut best: Option<(usize, usize)> = None;
        for b in (0..self.bounds.len()).rev() {
            n_conf += row[b];
            total += self.count[b];
            extra += pending[b];
            if total < SUFFICIENT_TXS {
                continue;
            }
            if n_conf / (total + extra) >= success {
                best = Some((b, near));
                n_conf = 0.0;
                total = 0.0;
                extra = 0.0;
                near = b.saturating_sub(1);
            }
        }
        let (low, high) = best?;
        let range_total: f64 = self.count[low..=high].iter().sum();
        let mut seen = 0.0;
        for b in low..=high {
            seen += self.count[b];
            if seen >= range_total / 2.0 && self.count[b] > 0.0 {
                return Some(self.feerate_sum[b] / self.count[b]);
            }
        }
        None
    }

    /// Core's `estimateSmartFee`: the feerate (sat/kvB) to confirm within `target`
    /// blocks, never below `floor`, and the target actually used. A target of 1 is
    /// answered for 2, and targets beyond the data collected are shortened.
    pub fn estimate_smart_fee(
        &self,
        target: usize,
        conservative: bool,
        floor: u64,
    ) -> (Option<u64>, usize) {
        let target = target.clamp(2, MAX_TARGET).min(self.max_usable_target());
        if target <= 1 {
            return (None, target);
        }
        let mut rate = self.estimate_at(target, SUCCESS_ECONOMICAL);
        if conservative {
            // Core's conservative mode also demands the stricter rate over twice the target.
            let double = (2 * target).min(self.max_usable_target()).max(target);
            let strict = self.estimate_at(double, SUCCESS_CONSERVATIVE);
            rate = match (rate, strict) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
        }
        let rate = rate.map(|r| (r.round() as u64).max(floor));
        (rate, target)
    }

    /// The averages as `fee_estimates.dat` holds them: magic, heights, dimensions, then
    /// little-endian `f64`s. Watched transactions are not kept, as in Core.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let n = self.bounds.len();
        let mut out = Vec::with_capacity(28 + 8 * n * (MAX_TARGET + 2));
        out.extend_from_slice(FILE_MAGIC);
        out.extend_from_slice(&self.best_height.to_le_bytes());
        out.extend_from_slice(&self.first_height.unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
        out.extend_from_slice(&(MAX_TARGET as u32).to_le_bytes());
        for v in self
            .conf
            .iter()
            .flatten()
            .chain(&self.count)
            .chain(&self.feerate_sum)
        {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Reads what [`FeeEstimator::to_file_bytes`] wrote; anything else is an error.
    pub fn from_file_bytes(data: &[u8]) -> Result<Self, String> {
        let mut est = FeeEstimator::new();
        let n = est.bounds.len();
        let rest = data
            .strip_prefix(FILE_MAGIC.as_slice())
            .ok_or("not a fee estimates file of this version")?;
        if rest.len() != 16 + 8 * n * (MAX_TARGET + 2) {
            return Err(format!("wrong length {}", data.len()));
        }
        let word = |i: usize| u32::from_le_bytes(rest[4 * i..4 * i + 4].try_into().unwrap());
        if word(2) as usize != n || word(3) as usize != MAX_TARGET {
            return Err(format!(
                "made for {} buckets and {} targets",
                word(2),
                word(3)
            ));
        }
        est.best_height = word(0);
        est.first_height = Some(word(1)).filter(|h| *h != u32::MAX);
        let mut values = rest[16..]
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().unwrap()));
        let targets = est.conf.iter_mut().flatten();
        for v in targets.chain(&mut est.count).chain(&mut est.feerate_sum) {
            let x = values.next().ok_or("truncated")?;
            if !x.is_finite() || x < 0.0 {
                return Err(format!("bad value {x}"));
            }
            *v = x;
        }
        Ok(est)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bitcoin::hashes::Hash;

    fn txid(n: u32) -> Txid {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_le_bytes());
        Txid::from_byte_array(b)
    }

    #[test]
    fn no_data_then_estimates_the_confirming_feerate() {
        let mut est = FeeEstimator::new();
        assert_eq!(est.estimate_smart_fee(6, false, 1000), (None, 0));
        let mut n = 0;
        for height in 100..120 {
            let ids: Vec<Txid> = (0..30)
                .map(|_| {
                    n += 1;
                    txid(n)
                })
                .collect();
            for id in &ids {
                est.track(*id, 10_000.0, height - 1);
            }
            // Low payers never confirm.
            for _ in 0..10 {
                n += 1;
                est.track(txid(n), 2_000.0, height - 1);
            }
            est.process_block(height, &ids, |_| true);
        }
        let (rate, blocks) = est.estimate_smart_fee(2, false, 1000);
        let rate = rate.unwrap();
        assert!((9_500..=10_500).contains(&rate), "{rate}");
        assert_eq!(blocks, 2);
        // Targets beyond half the span of data are shortened; the floor applies.
        assert_eq!(est.estimate_smart_fee(1008, false, 1000).1, 9);
        assert_eq!(est.estimate_smart_fee(2, true, 50_000).0, Some(50_000));
    }

    #[test]
    fn pending_low_feerates_do_not_lower_the_estimate() {
        let mut est = FeeEstimator::new();
        let mut n = 0;
        for height in 1..40 {
            let mut ids = Vec::new();
            for i in 0..40 {
                n += 1;
                // Half pay 5 sat/vB and never confirm.
                let rate = if i % 2 == 0 { 20_000.0 } else { 5_000.0 };
                est.track(txid(n), rate, height - 1);
                if i % 2 == 0 {
                    ids.push(txid(n));
                }
            }
            est.process_block(height, &ids, |_| true);
        }
        let rate = est.estimate_smart_fee(3, false, 1000).0.unwrap();
        assert!(rate > 15_000, "{rate}");
    }

    #[test]
    fn file_bytes_round_trip_and_damage_is_refused() {
        let mut est = FeeEstimator::new();
        for h in 1..=30u32 {
            let ids: Vec<Txid> = (0..5).map(|k| txid(h * 10 + k)).collect();
            for id in &ids {
                est.track(*id, 5_000.0 + f64::from(h), h);
            }
            est.process_block(h + 1, &ids, |_| false);
        }
        let bytes = est.to_file_bytes();
        let back = FeeEstimator::from_file_bytes(&bytes).unwrap();
        assert_eq!(back.to_file_bytes(), bytes);
        assert_eq!(
            back.estimate_smart_fee(2, false, 1000),
            est.estimate_smart_fee(2, false, 1000)
        );
        assert!(est.estimate_smart_fee(2, false, 1000).0.is_some());

        assert!(FeeEstimator::from_file_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(FeeEstimator::from_file_bytes(b"garbage").is_err());
        let mut nan = bytes.clone();
        let last = nan.len() - 8;
        nan[last..].copy_from_slice(&f64::NAN.to_le_bytes());
        assert!(FeeEstimator::from_file_bytes(&nan).is_err());
        let mut dims = bytes;
        dims[16..20].copy_from_slice(&7u32.to_le_bytes());
        assert!(FeeEstimator::from_file_bytes(&dims).is_err());
    }
}
