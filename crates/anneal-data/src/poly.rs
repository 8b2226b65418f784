//! Polynomial and interaction features, in scikit-learn's `PolynomialFeatures`
//! column order, plus named ratio / product features.

use serde::{Deserialize, Serialize};

use crate::dense::Dense;
use crate::error::{DataError, Result};

/// Hyperparameters of polynomial feature expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolynomialConfig {
    /// Highest total degree.
    pub degree: usize,
    /// Only products of distinct columns (no powers).
    #[serde(default)]
    pub interaction_only: bool,
    /// Add a constant `1` column first.
    #[serde(default)]
    pub include_bias: bool,
}

/// The fitted expansion: one list of column indices per output term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Polynomial {
    columns: Vec<String>,
    terms: Vec<Vec<usize>>,
}

impl PolynomialConfig {
    /// Enumerates the terms for the columns of `x`: by degree, then in
    /// combinations-with-replacement order (`x0, x1, x0², x0·x1, x1²`).
    ///
    /// ```
    /// use anneal_data::{Dense, poly::PolynomialConfig};
    ///
    /// let x = Dense::from_rows(&["a", "b"], &[vec![2.0, 3.0]])?;
    /// let p = PolynomialConfig { degree: 2, interaction_only: false, include_bias: true }.fit(&x)?;
    /// let y = p.transform(&x)?;
    /// assert_eq!(y.names(), ["1", "a", "b", "a^2", "a b", "b^2"]);
    /// assert_eq!(y.row(0), [1.0, 2.0, 3.0, 4.0, 6.0, 9.0]);
    /// # Ok::<(), anneal_data::DataError>(())
    /// ```
    pub fn fit(&self, x: &Dense) -> Result<Polynomial> {
        if self.degree == 0 && !self.include_bias {
            return Err(DataError::InvalidParameter("degree 0 without a bias term produces no features".into()));
        }
        let d = x.n_cols();
        let mut terms: Vec<Vec<usize>> = Vec::new();
        if self.include_bias {
            terms.push(Vec::new());
        }
        let mut current: Vec<Vec<usize>> = vec![Vec::new()];
        for _ in 1..=self.degree {
            let mut next = Vec::new();
            for t in &current {
                let start = t.last().map_or(0, |&l| if self.interaction_only { l + 1 } else { l });
                for c in start..d {
                    let mut n = t.clone();
                    n.push(c);
                    next.push(n);
                }
            }
            if next.is_empty() {
                break;
            }
            terms.extend(next.iter().cloned());
            current = next;
        }
        Ok(Polynomial { columns: x.names().to_vec(), terms })
    }
}

impl Polynomial {
    /// Output column names: `1`, `a`, `a^2`, `a b`.
    pub fn feature_names(&self) -> Vec<String> {
        self.terms
            .iter()
            .map(|t| {
                if t.is_empty() {
                    return "1".to_string();
                }
                let mut parts: Vec<String> = Vec::new();
                let mut i = 0;
                while i < t.len() {
                    let run = t[i..].iter().take_while(|&&c| c == t[i]).count();
                    let name = &self.columns[t[i]];
                    parts.push(if run == 1 { name.clone() } else { format!("{name}^{run}") });
                    i += run;
                }
                parts.join(" ")
            })
            .collect()
    }

    /// Computes every term for each row of `x`.
    pub fn transform(&self, x: &Dense) -> Result<Dense> {
        x.expect_columns(&self.columns, "the polynomial features")?;
        let mut values = Vec::with_capacity(x.n_rows() * self.terms.len());
        for r in 0..x.n_rows() {
            let row = x.row(r);
            values.extend(self.terms.iter().map(|t| t.iter().map(|&c| row[c]).product::<f64>()));
        }
        Ok(x.with_values(values, self.feature_names()))
    }
}
