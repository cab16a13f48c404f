//! Coin selection: branch-and-bound for a changeless match (Core's `SelectCoinsBnB`), and a
//! largest-first fallback that leaves change.

/// A coin offered to selection, valued at the target feerate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Output value in satoshis.
    pub value: u64,
    /// Fee for spending it at the target feerate.
    pub fee: u64,
}

impl Candidate {
    /// Value minus the fee of spending it (never below zero).
    pub fn effective(&self) -> u64 {
        self.value.saturating_sub(self.fee)
    }
}

/// Core's `TOTAL_TRIES` for branch-and-bound.
const BNB_TRIES: usize = 100_000;

/// Branch-and-bound: indexes of a subset whose effective value lies in
/// `[target, target + cost_of_change]`, preferring the smallest excess.
pub fn bnb(cands: &[Candidate], target: u64, cost_of_change: u64) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].effective() > 0)
        .collect();
    order.sort_by(|a, b| cands[*b].effective().cmp(&cands[*a].effective()));
    let values: Vec<u64> = order.iter().map(|&i| cands[i].effective()).collect();
    let mut remaining: u64 = values.iter().sum();
    if remaining < target {
        return None;
    }
    let upper = target.saturating_add(cost_of_change);
    let mut best: Option<(u64, Vec<bool>)> = None;
    let mut selected = vec![false; values.len()];
    let mut sum = 0u64;
    let mut depth = 0usize;
    let mut tries = 0;
    // Iterative depth-first search: at each depth include first, then exclude.
    loop {
        tries += 1;
        let mut backtrack = false;
        if sum + remaining < target || sum > upper || tries > BNB_TRIES {
            backtrack = true;
        } else if sum >= target {
            let excess = sum - target;
            if best.as_ref().is_none_or(|(w, _)| excess < *w) {
                best = Some((excess, selected.clone()));
                if excess == 0 {
                    break;
                }
            }
            backtrack = true;
        }
        if tries > BNB_TRIES {
            break;
        }
        // Past the last coin there is nothing to extend with: a dead end too.
        if backtrack || depth >= values.len() {
            // Walk back to the last included coin and exclude it instead.
            loop {
                if depth == 0 {
                    return best.map(|(_, sel)| pick(&order, &sel));
                }
                depth -= 1;
                if selected[depth] {
                    selected[depth] = false;
                    sum -= values[depth];
                    depth += 1;
                    break;
                }
                remaining += values[depth];
            }
            continue;
        }
        remaining -= values[depth];
        selected[depth] = true;
        sum += values[depth];
        depth += 1;
    }
    best.map(|(_, sel)| pick(&order, &sel))
}

fn pick(order: &[usize], sel: &[bool]) -> Vec<usize> {
    order
        .iter()
        .zip(sel)
        .filter(|(_, s)| **s)
        .map(|(i, _)| *i)
        .collect()
}

/// Largest-first: takes coins by effective value until `target + change_target` is covered
/// (or at least `target`, leaving no change, when that is all there is).
pub fn largest_first(cands: &[Candidate], target: u64, change_target: u64) -> Option<Vec<usize>> {
    let mut order: Vec<usize> = (0..cands.len())
        .filter(|&i| cands[i].effective() > 0)
        .collect();
    order.sort_by(|a, b| cands[*b].effective().cmp(&cands[*a].effective()));
    let mut sum = 0u64;
    let mut out = Vec::new();
    for i in order {
        out.push(i);
        sum += cands[i].effective();
        if sum >= target.saturating_add(change_target) {
            return Some(out);
        }
    }
    (sum >= target).then_some(out)
}

/// BnB first, then largest-first.
pub fn select(
    cands: &[Candidate],
    target: u64,
    cost_of_change: u64,
    change_target: u64,
) -> Option<Vec<usize>> {
    bnb(cands, target, cost_of_change).or_else(|| largest_first(cands, target, change_target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: &[u64]) -> Vec<Candidate> {
        v.iter().map(|&value| Candidate { value, fee: 0 }).collect()
    }

    #[test]
    fn wallet_bnb_finds_exact_match() {
        let cands = c(&[1, 2, 3, 4, 5, 10, 20]);
        let sel = bnb(&cands, 17, 0).unwrap();
        let total: u64 = sel.iter().map(|&i| cands[i].value).sum();
        assert_eq!(total, 17);
        assert!(bnb(&cands, 100, 0).is_none());
        // Within the change window the smallest excess wins.
        let cands = c(&[7, 11]);
        assert_eq!(bnb(&cands, 10, 2), Some(vec![1]));
        assert_eq!(bnb(&cands, 10, 0), None);
    }

    #[test]
    fn wallet_fallback_leaves_change_and_counts_fees() {
        let cands = vec![
            Candidate {
                value: 100,
                fee: 10,
            },
            Candidate { value: 50, fee: 10 },
            Candidate { value: 5, fee: 10 },
        ];
        assert_eq!(largest_first(&cands, 95, 20), Some(vec![0, 1]));
        assert_eq!(largest_first(&cands, 130, 20), Some(vec![0, 1]));
        assert_eq!(largest_first(&cands, 131, 20), None);
        let sel = select(&cands, 90, 0, 30).unwrap();
        assert_eq!(sel, vec![0]);
    }
}
