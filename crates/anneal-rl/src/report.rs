//! What a run folder of `anneal rl` holds besides its config: the episodes,
//! the per-iteration records, the return curve, a summary and a report.
//!
//! | file | contents |
//! |---|---|
//! | `episodes.csv` | every finished episode: index, return, length, environment step at its end, whether a time limit cut it |
//! | `metrics.jsonl` | one JSON object per iteration: `iteration`, `env_steps`, `episodes`, `seconds`, `metrics` (losses, learning rate, ε or clip range, `mean_return`) |
//! | `returns.png`, `.svg` | episode returns and their rolling mean against environment steps, with the target |
//! | `summary.json` | steps to the target, steps per second, the greedy policy's evaluation |
//! | `policy.bpk` | the trained network |
//! | `report.md` | all of it for a reader |

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anneal_core::markdown;
use anneal_evaluate::chart::{Chart, PALETTE, Series, save_charts};
use serde::{Deserialize, Serialize};

use crate::agent::{Outcome, RlConfig};
use crate::error::{Result, RlError};
use crate::vec_env::{Episode, rolling_means};

/// The numbers of a finished run (`summary.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `ppo` or `dqn`.
    pub algorithm: String,
    /// The environment's name.
    pub env: String,
    /// The run's seed.
    pub seed: u64,
    /// Environment steps done.
    pub env_steps: usize,
    /// Episodes finished.
    pub episodes: usize,
    /// The target return, if any.
    pub target_return: Option<f64>,
    /// Episodes in the rolling mean.
    pub window: usize,
    /// The first environment step at which the rolling mean reached the target.
    pub steps_to_target: Option<usize>,
    /// The rolling mean at the end.
    pub final_mean_return: Option<f64>,
    /// The best rolling mean.
    pub best_mean_return: Option<f64>,
    /// Wall-clock seconds of training (this session).
    pub seconds: f64,
    /// Environment steps per second (this session).
    pub env_steps_per_second: f64,
    /// Mean return of the greedy policy over the evaluation episodes.
    pub eval_mean_return: Option<f64>,
    /// Their standard deviation.
    pub eval_std_return: Option<f64>,
    /// How many evaluation episodes.
    pub eval_episodes: usize,
}

/// The run's summary.
pub fn summarize(config: &RlConfig, outcome: &Outcome) -> Summary {
    let means = rolling_means(&outcome.episodes, config.window);
    let n = outcome.evaluation.len();
    let (mean, std) = if n == 0 {
        (None, None)
    } else {
        let m = outcome.evaluation.iter().sum::<f64>() / n as f64;
        let v = outcome.evaluation.iter().map(|r| (r - m).powi(2)).sum::<f64>() / n as f64;
        (Some(m), Some(v.sqrt()))
    };
    Summary {
        algorithm: config.agent.name().into(),
        env: outcome.env_name.clone(),
        seed: config.seed,
        env_steps: outcome.env_steps,
        episodes: outcome.episodes.len(),
        target_return: config.target_return,
        window: config.window,
        steps_to_target: outcome.steps_to_target,
        final_mean_return: means.last().map(|p| p.1),
        best_mean_return: means.iter().map(|p| p.1).reduce(f64::max),
        seconds: outcome.seconds,
        env_steps_per_second: outcome.steps_per_second,
        eval_mean_return: mean,
        eval_std_return: std,
        eval_episodes: n,
    }
}

fn fail(path: &Path, e: impl std::fmt::Display) -> RlError {
    RlError::File { path: path.to_path_buf(), message: e.to_string() }
}

fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| fail(&path, e))?;
    Ok(path)
}

/// Draws the return curve: every episode's return (points), the rolling mean
/// and the target, against environment steps.
pub fn plot_returns(
    stem: &Path,
    runs: &[(String, &[Episode])],
    window: usize,
    target: Option<f64>,
) -> Result<[PathBuf; 2]> {
    let mut series = Vec::new();
    for (k, (label, episodes)) in runs.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        if runs.len() == 1 {
            let points = episodes.iter().map(|e| (e.end_step as f64, e.ret)).collect();
            series.push(Series::points("episode return", points, (170, 170, 170)));
        }
        let means = rolling_means(episodes, window).into_iter().map(|(step, m)| (step as f64, m)).collect();
        series.push(Series::line(format!("{label} mean of last {window}"), means, color));
    }
    let chart = Chart {
        title: "Episode return".into(),
        x_label: "environment steps".into(),
        y_label: "return".into(),
        series,
        marker: None,
        legend_bottom: true,
        ..Chart::default()
    };
    let mut charts = vec![chart];
    if let Some(t) = target {
        let right = runs.iter().flat_map(|(_, e)| e.last().map(|x| x.end_step as f64)).fold(1.0, f64::max);
        charts[0].series.push(Series::line(format!("target {t}"), vec![(0.0, t), (right, t)], (0, 0, 0)));
    }
    Ok(save_charts(&charts, stem)?)
}

/// Writes `episodes.csv`, `metrics.jsonl`, `returns.png`/`.svg`,
/// `summary.json`, `policy.bpk` and `report.md` into `dir`.
pub fn write_run(dir: &Path, config: &RlConfig, outcome: &Outcome) -> Result<Summary> {
    let mut csv = String::from("episode,return,length,end_step,truncated\n");
    for (i, e) in outcome.episodes.iter().enumerate() {
        let _ = writeln!(csv, "{},{},{},{},{}", i + 1, e.ret, e.length, e.end_step, e.truncated);
    }
    write(dir, "episodes.csv", &csv)?;
    let mut jsonl = String::new();
    for r in &outcome.records {
        jsonl.push_str(&serde_json::to_string(r).map_err(|e| fail(dir, e))?);
        jsonl.push('\n');
    }
    write(dir, "metrics.jsonl", &jsonl)?;
    plot_returns(
        &dir.join("returns"),
        &[(config.agent.name().to_uppercase(), &outcome.episodes)],
        config.window,
        config.target_return,
    )?;
    outcome.policy.save(&dir.join("policy.bpk"))?;
    let summary = summarize(config, outcome);
    write(dir, "summary.json", &serde_json::to_string_pretty(&summary).map_err(|e| fail(dir, e))?)?;
    write(dir, "report.md", &report(config, &summary, outcome))?;
    Ok(summary)
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |x| format!("{x:.digits$}"))
}

fn report(config: &RlConfig, s: &Summary, outcome: &Outcome) -> String {
    let mut r = String::new();
    let _ = writeln!(r, "# {} on {}\n", s.algorithm.to_uppercase(), markdown::escape(&s.env));
    match (s.target_return, s.steps_to_target) {
        (Some(t), Some(k)) => {
            let _ = writeln!(
                r,
                "**Solved**: the mean return of the last {} episodes reached {t} after **{k}** environment steps.\n",
                s.window
            );
        }
        (Some(t), None) => {
            let _ = writeln!(
                r,
                "**Not solved**: the mean return of the last {} episodes never reached {t} in {} environment steps.\n",
                s.window, s.env_steps
            );
        }
        _ => {}
    }
    let _ = writeln!(r, "| | |\n|---|---|");
    let _ = writeln!(r, "| environment steps | {} |", s.env_steps);
    let _ = writeln!(r, "| episodes | {} |", s.episodes);
    let _ = writeln!(r, "| final mean return (last {}) | {} |", s.window, fmt_opt(s.final_mean_return, 1));
    let _ = writeln!(r, "| best mean return | {} |", fmt_opt(s.best_mean_return, 1));
    let _ = writeln!(
        r,
        "| greedy policy, {} evaluation episodes | {} ± {} |",
        s.eval_episodes,
        fmt_opt(s.eval_mean_return, 1),
        fmt_opt(s.eval_std_return, 1)
    );
    let _ = writeln!(r, "| training time | {:.1} s ({:.0} environment steps/s) |", s.seconds, s.env_steps_per_second);
    let _ = writeln!(r, "| seed | {} |\n", s.seed);
    let _ = writeln!(r, "![Episode returns](returns.png)\n");
    if let Some(last) = outcome.records.last() {
        let _ = writeln!(r, "## Last iteration\n");
        let _ = writeln!(r, "| value | |\n|---|---|");
        for (k, v) in &last.metrics {
            let _ = writeln!(r, "| {} | {} |", markdown::code(k), significant(*v));
        }
        let _ = writeln!(r);
    }
    let _ = writeln!(r, "## Config\n\n```toml\n{}```", toml_text(config));
    r
}

fn significant(v: f64) -> String {
    if v == 0.0 || (1e-3..1e5).contains(&v.abs()) { format!("{v:.4}") } else { format!("{v:.3e}") }
}

fn toml_text(config: &RlConfig) -> String {
    toml::to_string(config).unwrap_or_else(|e| format!("# the config could not be written as TOML: {e}\n"))
}
