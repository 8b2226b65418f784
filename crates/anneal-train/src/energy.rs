//! An energy and carbon estimate for a run: CPU time from `getrusage`, wall
//! time, and energy from Intel/AMD RAPL counters when the kernel exposes them,
//! from a CPU power model otherwise. Always an estimate.
//!
//! **RAPL** (`/sys/class/powercap/intel-rapl:N/energy_uj`, the package domains)
//! measures the whole CPU package: other processes running at the same time are
//! counted too. Reading it usually needs root.
//!
//! **The CPU power model** follows Green Algorithms (Lannelongue, Grealey &
//! Inouye, *Green Algorithms: Quantifying the Carbon Footprint of Computation*,
//! Advanced Science 2021): energy = CPU time × power per core + wall time × peak
//! memory × 0.3725 W/GB, with 12 W per core (their default when the processor
//! is unknown) and no data-centre overhead (PUE 1). Carbon is energy × carbon
//! intensity, 475 g CO₂e/kWh by default (the world average they use).

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

/// The assumptions of the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyModel {
    /// Watts drawn per fully busy core (CPU power model only).
    #[serde(default = "default_watts_per_core")]
    pub watts_per_core: f64,
    /// Watts per GB of peak resident memory (CPU power model only).
    #[serde(default = "default_watts_per_gb")]
    pub watts_per_gb: f64,
    /// Grams of CO₂-equivalent per kWh of electricity.
    #[serde(default = "default_intensity")]
    pub grams_co2_per_kwh: f64,
}

fn default_watts_per_core() -> f64 {
    12.0
}
fn default_watts_per_gb() -> f64 {
    0.3725
}
fn default_intensity() -> f64 {
    475.0
}

impl Default for EnergyModel {
    fn default() -> Self {
        Self {
            watts_per_core: default_watts_per_core(),
            watts_per_gb: default_watts_per_gb(),
            grams_co2_per_kwh: default_intensity(),
        }
    }
}

/// Where the energy figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnergySource {
    /// RAPL package counters (whole CPU package, all processes).
    Rapl,
    /// The CPU power model of [`EnergyModel`].
    CpuModel,
}

/// The energy report of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnergyReport {
    /// Wall-clock seconds.
    pub wall_seconds: f64,
    /// CPU seconds in user mode, all threads.
    pub user_seconds: f64,
    /// CPU seconds in the kernel, all threads.
    pub system_seconds: f64,
    /// Peak resident memory of the process, in MB.
    pub peak_memory_mb: f64,
    /// Estimated energy, watt-hours.
    pub energy_wh: f64,
    /// Estimated emissions, grams of CO₂-equivalent.
    pub co2_grams: f64,
    /// How the energy was obtained.
    pub source: EnergySource,
    /// The assumptions.
    pub model: EnergyModel,
}

impl EnergyReport {
    /// CPU seconds, user and kernel.
    pub fn cpu_seconds(&self) -> f64 {
        self.user_seconds + self.system_seconds
    }

    /// One line for people: "estimate: 0.012 Wh, 0.006 g CO₂e (CPU power model; 3.1 s CPU, 1.8 s wall)".
    pub fn summary(&self) -> String {
        let source = match self.source {
            EnergySource::Rapl => "RAPL counters, whole CPU package",
            EnergySource::CpuModel => "CPU power model",
        };
        format!(
            "estimate: {:.4} Wh, {:.4} g CO2e ({source}; {:.1} s CPU, {:.1} s wall, {:.0} MB peak memory, {} g CO2e/kWh)",
            self.energy_wh,
            self.co2_grams,
            self.cpu_seconds(),
            self.wall_seconds,
            self.peak_memory_mb,
            self.model.grams_co2_per_kwh
        )
    }
}

/// Measures from [`start`](EnergyMeter::start) to [`finish`](EnergyMeter::finish).
///
/// ```
/// let meter = anneal_train::EnergyMeter::start(Default::default());
/// let report = meter.finish();
/// assert!(report.energy_wh >= 0.0 && report.wall_seconds >= 0.0);
/// ```
#[derive(Debug)]
pub struct EnergyMeter {
    model: EnergyModel,
    wall: Instant,
    cpu: (f64, f64),
    rapl: Vec<(PathBuf, u64, u64)>,
}

impl EnergyMeter {
    /// Starts measuring.
    pub fn start(model: EnergyModel) -> Self {
        let rapl = rapl_domains().into_iter().filter_map(|(p, max)| read_u64(&p).map(|v| (p, v, max))).collect();
        Self { model, wall: Instant::now(), cpu: cpu_times().0, rapl }
    }

    /// The report from the start until now.
    pub fn finish(&self) -> EnergyReport {
        let wall_seconds = self.wall.elapsed().as_secs_f64();
        let ((user, system), peak_kb) = cpu_times();
        let user_seconds = (user - self.cpu.0).max(0.0);
        let system_seconds = (system - self.cpu.1).max(0.0);
        let peak_memory_mb = peak_kb / 1024.0;
        let mut rapl_joules = None;
        for (path, start, max) in &self.rapl {
            if let Some(now) = read_u64(path) {
                let delta = if now >= *start { now - start } else { max.saturating_sub(*start) + now };
                *rapl_joules.get_or_insert(0.0) += delta as f64 / 1e6;
            }
        }
        let (joules, source) = match rapl_joules {
            Some(j) => (j, EnergySource::Rapl),
            None => (
                (user_seconds + system_seconds) * self.model.watts_per_core
                    + wall_seconds * peak_memory_mb / 1024.0 * self.model.watts_per_gb,
                EnergySource::CpuModel,
            ),
        };
        let energy_wh = joules / 3600.0;
        EnergyReport {
            wall_seconds,
            user_seconds,
            system_seconds,
            peak_memory_mb,
            energy_wh,
            co2_grams: energy_wh / 1000.0 * self.model.grams_co2_per_kwh,
            source,
            model: self.model,
        }
    }
}

/// The package-level RAPL domains with their counter range.
fn rapl_domains() -> Vec<(PathBuf, u64)> {
    let Ok(dir) = std::fs::read_dir("/sys/class/powercap") else { return Vec::new() };
    let mut out: Vec<(PathBuf, u64)> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            // `intel-rapl:0` is a package; `intel-rapl:0:0` a sub-domain counted inside it.
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("intel-rapl:") && n.matches(':').count() == 1)
        })
        .map(|p| {
            let max = read_u64(&p.join("max_energy_range_uj")).unwrap_or(u64::MAX);
            (p.join("energy_uj"), max)
        })
        .collect();
    out.sort();
    out
}

fn read_u64(path: &std::path::Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// ((user, system) CPU seconds, peak resident kB) of this process.
#[cfg(unix)]
fn cpu_times() -> ((f64, f64), f64) {
    use nix::sys::resource::{UsageWho, getrusage};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
            ((secs(u.user_time()), secs(u.system_time())), u.max_rss() as f64)
        }
        Err(_) => ((0.0, 0.0), 0.0),
    }
}

#[cfg(not(unix))]
fn cpu_times() -> ((f64, f64), f64) {
    ((0.0, 0.0), 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_costs_cpu_time_and_energy() {
        let meter = EnergyMeter::start(EnergyModel::default());
        let mut x = 0u64;
        let start = Instant::now();
        // Busy until the process has used 50 ms of CPU (other tests share the cores).
        while meter.finish().cpu_seconds() < 0.05 && start.elapsed().as_secs() < 20 {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(std::hint::black_box(1));
            }
        }
        std::hint::black_box(x);
        let r = meter.finish();
        assert!(r.cpu_seconds() >= 0.05, "{r:?}");
        assert!(r.energy_wh > 0.0 && r.co2_grams > 0.0, "{r:?}");
        if r.source == EnergySource::CpuModel {
            let expected = (r.cpu_seconds() * 12.0 + r.wall_seconds * r.peak_memory_mb / 1024.0 * 0.3725) / 3600.0;
            assert!((r.energy_wh - expected).abs() < 1e-12);
            assert!((r.co2_grams - r.energy_wh * 0.475).abs() < 1e-12);
        }
        assert!(r.summary().starts_with("estimate: "));
    }
}
