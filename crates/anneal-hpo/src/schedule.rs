//! Budget arithmetic of successive halving and Hyperband (Li et al. 2018, "Hyperband: a
//! novel bandit-based approach to hyperparameter optimization", JMLR 18).
//!
//! Pure functions: the study's synchronous drivers
//! ([`Study::successive_halving`](crate::Study::successive_halving),
//! [`Study::hyperband`](crate::Study::hyperband)) and the asynchronous
//! [`HyperbandPruner`](crate::pruner::HyperbandPruner) use them, and the tests check them
//! against the paper's Table 1.

use crate::error::{HpoError, Result};

/// One round of successive halving: `n_configs` configurations each trained with
/// `budget` resources.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rung {
    /// Configurations evaluated in this rung (`n_i = ⌊n η^{-i}⌋`).
    pub n_configs: usize,
    /// Resources given to each (`r_i = r η^i`).
    pub budget: f64,
}

/// One Hyperband bracket: a run of successive halving.
#[derive(Debug, Clone, PartialEq)]
pub struct Bracket {
    /// The bracket index `s` (`s_max` is the most aggressive bracket).
    pub s: usize,
    /// Its rungs, from `n` configurations at budget `r` down to the last.
    pub rungs: Vec<Rung>,
}

impl Bracket {
    /// Configurations started in this bracket.
    pub fn n_configs(&self) -> usize {
        self.rungs.first().map_or(0, |r| r.n_configs)
    }

    /// The total resources this bracket spends (`Σ n_i r_i`) when every rung trains
    /// its configurations from scratch.
    pub fn total_budget(&self) -> f64 {
        self.rungs.iter().map(|r| r.n_configs as f64 * r.budget).sum()
    }

    /// The resources this bracket spends when a promoted configuration resumes from
    /// where its previous rung stopped (`Σ n_i (r_i − r_{i−1})`, `r_{−1} = 0`): what an
    /// objective that keeps checkpoints between rungs trains.
    pub fn resumed_budget(&self) -> f64 {
        let mut previous = 0.0;
        self.rungs
            .iter()
            .map(|r| {
                let extra = r.n_configs as f64 * (r.budget - previous);
                previous = r.budget;
                extra
            })
            .sum()
    }
}

fn check_eta(eta: f64) -> Result<()> {
    if !(eta > 1.0 && eta.is_finite()) {
        return Err(HpoError::InvalidSetting { setting: "eta", value: eta.to_string(), expected: "a number > 1" });
    }
    Ok(())
}

/// `⌊log_η(x)⌋` computed without floating-point surprises (`log_3(243)` is exactly 5).
pub fn floor_log(x: f64, eta: f64) -> usize {
    let mut s = 0;
    let mut p = eta;
    while p <= x * (1.0 + 1e-12) {
        s += 1;
        p *= eta;
    }
    s
}

/// Successive halving of `n` configurations starting at budget `r` (the inner loop of
/// Hyperband's Algorithm 1): rungs `i = 0..=s` with `n_i = ⌊n η^{-i}⌋` and `r_i = r η^i`,
/// where `s = ⌊log_η n⌋` unless `rounds` gives the number of rungs.
pub fn successive_halving(n: usize, r: f64, eta: f64, rounds: Option<usize>) -> Result<Vec<Rung>> {
    check_eta(eta)?;
    if n == 0 {
        return Err(HpoError::InvalidSetting { setting: "n_configs", value: "0".into(), expected: "at least 1" });
    }
    if !(r > 0.0 && r.is_finite()) {
        return Err(HpoError::InvalidSetting {
            setting: "min_budget",
            value: r.to_string(),
            expected: "a positive number",
        });
    }
    let s = rounds.map_or_else(|| floor_log(n as f64, eta), |k| k.max(1) - 1);
    Ok((0..=s)
        .map(|i| Rung {
            n_configs: ((n as f64) / eta.powi(i as i32) + 1e-9).floor().max(1.0) as usize,
            budget: r * eta.powi(i as i32),
        })
        .collect())
}

/// The Hyperband brackets for maximum budget `max_budget` (R) and `eta` (η), most aggressive
/// first, exactly as Algorithm 1: `s_max = ⌊log_η R⌋`, `B = (s_max + 1) R`, and for
/// `s = s_max, …, 0`: `n = ⌈B/R · η^s/(s+1)⌉`, `r = R η^{-s}`, followed by successive
/// halving with `s + 1` rungs.
///
/// ```
/// use anneal_hpo::schedule::hyperband_brackets;
///
/// // Table 1 of Li et al. (R = 81, η = 3): bracket s = 3 starts 34 configurations at r = 3.
/// let brackets = hyperband_brackets(81.0, 3.0)?;
/// assert_eq!(brackets.len(), 5);
/// assert_eq!((brackets[1].rungs[0].n_configs, brackets[1].rungs[0].budget), (34, 3.0));
/// # Ok::<(), anneal_hpo::HpoError>(())
/// ```
pub fn hyperband_brackets(max_budget: f64, eta: f64) -> Result<Vec<Bracket>> {
    check_eta(eta)?;
    if !(max_budget >= 1.0 && max_budget.is_finite()) {
        return Err(HpoError::InvalidSetting {
            setting: "max_budget",
            value: max_budget.to_string(),
            expected: "a number >= 1",
        });
    }
    let s_max = floor_log(max_budget, eta);
    (0..=s_max)
        .rev()
        .map(|s| {
            let n = ((s_max + 1) as f64 / (s + 1) as f64 * eta.powi(s as i32) - 1e-9).ceil() as usize;
            let r = max_budget / eta.powi(s as i32);
            Ok(Bracket { s, rungs: successive_halving(n, r, eta, Some(s + 1))? })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_1_of_li_et_al() {
        // Li et al. 2018, Table 1: R = 81, η = 3; (n_i, r_i) per bracket s = 4..0.
        let table: [&[(usize, f64)]; 5] = [
            &[(81, 1.0), (27, 3.0), (9, 9.0), (3, 27.0), (1, 81.0)],
            &[(34, 3.0), (11, 9.0), (3, 27.0), (1, 81.0)],
            &[(15, 9.0), (5, 27.0), (1, 81.0)],
            &[(8, 27.0), (2, 81.0)],
            &[(5, 81.0)],
        ];
        let brackets = hyperband_brackets(81.0, 3.0).unwrap();
        assert_eq!(brackets.len(), 5);
        for (b, want) in brackets.iter().zip(table) {
            let got: Vec<(usize, f64)> = b.rungs.iter().map(|r| (r.n_configs, r.budget)).collect();
            assert_eq!(got, want.to_vec(), "bracket s = {}", b.s);
        }
        assert_eq!(brackets.iter().map(|b| b.s).collect::<Vec<_>>(), vec![4, 3, 2, 1, 0]);
    }

    #[test]
    fn budgets_from_scratch_and_resumed() {
        // R = 27, η = 3. From scratch: s = 3: 27·1 + 9·3 + 3·9 + 1·27 = 108; s = 2:
        // 12·3 + 4·9 + 1·27 = 99; s = 1: 6·9 + 2·27 = 108; s = 0: 4·27 = 108.
        // Resumed: 27·1 + 9·2 + 3·6 + 1·18 = 81; 12·3 + 4·6 + 1·18 = 78; 6·9 + 2·18 = 90; 108.
        let b = hyperband_brackets(27.0, 3.0).unwrap();
        let scratch: Vec<f64> = b.iter().map(Bracket::total_budget).collect();
        let resumed: Vec<f64> = b.iter().map(Bracket::resumed_budget).collect();
        assert_eq!(scratch, vec![108.0, 99.0, 108.0, 108.0]);
        assert_eq!(resumed, vec![81.0, 78.0, 90.0, 108.0]);
        assert_eq!((scratch.iter().sum::<f64>(), resumed.iter().sum::<f64>()), (423.0, 357.0));
    }

    #[test]
    fn other_budgets() {
        // R = 27, η = 3: s_max = 3, B = 4R.
        let b = hyperband_brackets(27.0, 3.0).unwrap();
        let starts: Vec<(usize, f64)> = b.iter().map(|b| (b.n_configs(), b.rungs[0].budget)).collect();
        assert_eq!(starts, vec![(27, 1.0), (12, 3.0), (6, 9.0), (4, 27.0)]);
        // η = 2, R = 8: s_max = 3; s = 3: n = ⌈4/4 · 8⌉ = 8 at r = 1, halving to 4, 2, 1.
        let b = hyperband_brackets(8.0, 2.0).unwrap();
        let rungs: Vec<usize> = b[0].rungs.iter().map(|r| r.n_configs).collect();
        assert_eq!(rungs, vec![8, 4, 2, 1]);
        assert_eq!(b[0].total_budget(), 32.0);
        assert_eq!(floor_log(243.0, 3.0), 5);
        assert_eq!(floor_log(242.0, 3.0), 4);
    }

    #[test]
    fn plain_successive_halving() {
        let rungs = successive_halving(16, 1.0, 2.0, None).unwrap();
        let got: Vec<(usize, f64)> = rungs.iter().map(|r| (r.n_configs, r.budget)).collect();
        assert_eq!(got, vec![(16, 1.0), (8, 2.0), (4, 4.0), (2, 8.0), (1, 16.0)]);
        assert!(successive_halving(4, 1.0, 1.0, None).is_err());
        assert!(hyperband_brackets(0.5, 3.0).is_err());
    }
}
