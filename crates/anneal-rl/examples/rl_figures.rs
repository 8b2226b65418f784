//! The figures of the reinforcement-learning chapter.
//!
//! ```text
//! cargo run -p anneal-rl --release --example rl_figures -- <out dir> [run folders...]
//! ```
//!
//! Writes `<out>/rl_bandit_regret.{png,svg}`: the mean cumulative regret of
//! ε-greedy (constant and decaying), UCB1 and Thompson sampling over 50 runs
//! of a 5-armed Bernoulli bandit, against UCB1's upper bound and the
//! Lai–Robbins lower bound, and of a 4-armed Gaussian bandit against its
//! Lai–Robbins rate. With run folders of `anneal rl` (their
//! `episodes.csv`), also `<out>/rl_returns.{png,svg}`: their rolling mean
//! returns against environment steps.

use std::path::{Path, PathBuf};

use anneal_evaluate::chart::{Chart, PALETTE, Series, save_charts};
use anneal_rl::Episode;
use anneal_rl::bandit::{Arms, Strategy, lai_robbins, lai_robbins_gaussian, mean_regret, ucb1_bound};
use anneal_rl::report::plot_returns;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = PathBuf::from(args.next().ok_or("usage: rl_figures <out dir> [run folders...]")?);
    std::fs::create_dir_all(&out)?;
    let means = vec![0.9, 0.8, 0.7, 0.5, 0.2];
    let arms = Arms::Bernoulli { means: means.clone() };
    let n = 10_000;
    let strategies = [
        Strategy::EpsilonGreedy { epsilon: 0.1, decay: 0.0 },
        Strategy::EpsilonGreedy { epsilon: 1.0, decay: 0.01 },
        Strategy::Ucb1,
        Strategy::Thompson,
    ];
    let every = |curve: &[f64]| -> Vec<(f64, f64)> {
        curve.iter().enumerate().filter(|(t, _)| (t + 1) % 20 == 0).map(|(t, r)| ((t + 1) as f64, *r)).collect()
    };
    let mut series = Vec::new();
    for (k, s) in strategies.iter().enumerate() {
        let curve = mean_regret(&arms, *s, n, 50, 1)?;
        eprintln!("{}: regret after {n} pulls {:.1}", s.label(), curve[n - 1]);
        series.push(Series::line(s.label(), every(&curve), PALETTE[k]));
    }
    let bound: Vec<(f64, f64)> = (1..=n / 20).map(|i| (i as f64 * 20.0, ucb1_bound(&means, i * 20))).collect();
    let lower = lai_robbins(&means);
    let lr: Vec<(f64, f64)> = (1..=n / 20).map(|i| (i as f64 * 20.0, lower * (i as f64 * 20.0).ln())).collect();
    eprintln!(
        "UCB1 bound at {n}: {:.1}; Lai–Robbins rate at {n}: {:.1}",
        ucb1_bound(&means, n),
        lower * (n as f64).ln()
    );
    series.push(Series::line("UCB1 upper bound (Auer et al. 2002)", bound, (120, 120, 120)));
    series.push(Series::line("Lai–Robbins rate (asymptotic lower bound)", lr, (0, 0, 0)));
    let chart = Chart {
        title: "Bernoulli bandit, means 0.9 0.8 0.7 0.5 0.2 (mean of 50 runs)".into(),
        x_label: "pulls".into(),
        y_label: "cumulative regret".into(),
        log_x: true,
        log_y: true,
        series,
        ..Chart::default()
    };
    // Gaussian arms (σ = 1): UCB1's bound assumes rewards in [0, 1] and does not apply.
    let g_means = vec![1.0, 0.8, 0.5, 0.0];
    let g_arms = Arms::Gaussian { means: g_means.clone(), std: 1.0 };
    let mut g_series = Vec::new();
    for (k, s) in strategies.iter().enumerate() {
        let curve = mean_regret(&g_arms, *s, n, 50, 1)?;
        eprintln!("Gaussian, {}: regret after {n} pulls {:.1}", s.label(), curve[n - 1]);
        g_series.push(Series::line(s.label(), every(&curve), PALETTE[k]));
    }
    let g_lower = lai_robbins_gaussian(&g_means, 1.0);
    let g_lr: Vec<(f64, f64)> = (1..=n / 20).map(|i| (i as f64 * 20.0, g_lower * (i as f64 * 20.0).ln())).collect();
    eprintln!("Gaussian Lai–Robbins rate at {n}: {:.1}", g_lower * (n as f64).ln());
    g_series.push(Series::line("Lai–Robbins rate", g_lr, (0, 0, 0)));
    let g_chart = Chart {
        title: "Gaussian bandit, means 1 0.8 0.5 0, σ 1 (mean of 50 runs)".into(),
        x_label: "pulls".into(),
        y_label: "cumulative regret".into(),
        log_x: true,
        log_y: true,
        series: g_series,
        ..Chart::default()
    };
    save_charts(&[chart, g_chart], &out.join("rl_bandit_regret"))?;
    let runs: Vec<(String, Vec<Episode>)> = args.map(|dir| read_run(Path::new(&dir))).collect::<Result<_, _>>()?;
    if !runs.is_empty() {
        let refs: Vec<(String, &[Episode])> = runs.iter().map(|(l, e)| (l.clone(), &e[..])).collect();
        plot_returns(&out.join("rl_returns"), &refs, 20, Some(475.0))?;
    }
    Ok(())
}

fn read_run(dir: &Path) -> Result<(String, Vec<Episode>), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(dir.join("episodes.csv"))?;
    let mut episodes = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        episodes.push(Episode {
            ret: f[1].parse()?,
            length: f[2].parse()?,
            end_step: f[3].parse()?,
            truncated: f[4] == "true",
        });
    }
    let label = dir.file_name().and_then(|s| s.to_str()).unwrap_or("run").to_string();
    Ok((label, episodes))
}
