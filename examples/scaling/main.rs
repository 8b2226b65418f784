//! Scaling beyond this machine, by measurement and model: reads the
//! measurements of `cargo xtask bench pipeline` (`target/bench/pipeline.json`,
//! or the sitting committed beside this file), fits α + β·n to every measured
//! transport, checks the ring all-reduce model against the all-reduce measured
//! on 2 and 4 ranks, and predicts data-parallel and pipelined scaling
//! efficiency of the MLP, the CNN and the transformer for p = 2…64 workers on
//! shared memory and veth (fitted here) and on Ethernet and InfiniBand (from
//! their line rates). Prints the tables and draws the plots of the scaling
//! chapter.
//!
//! ```text
//! cargo run --release -p anneal --example scaling -- [MEASUREMENTS.json] [OUT_DIR]
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use anneal::distributed::pipeline::theoretical_bubble;
use anneal::distributed::scaling::{
    LinearCost, ModelCost, Network, data_parallel_efficiency, networks, pipeline_efficiency, reduce_cost,
    ring_all_reduce,
};
use anneal_evaluate::chart::{Chart, PALETTE, Series, save_charts};
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let input = PathBuf::from(args.first().map_or("target/bench/pipeline.json", String::as_str));
    let out = PathBuf::from(args.get(1).map_or("target/scaling", String::as_str));
    std::fs::create_dir_all(&out)?;
    let lines: Vec<Value> = std::fs::read_to_string(&input)
        .map_err(|e| format!("{}: {e} (run `cargo xtask bench pipeline` first)", input.display()))?
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let of = |kind: &'static str| lines.iter().filter(move |l| l["kind"] == kind);

    // 1. The bubble against GPipe's theory.
    println!("## The bubble (2 stages), measured\n");
    println!("| transport | M | theory | stage 0 waited | stage 1 waited | mean | samples/s |");
    println!("|---|---|---|---|---|---|---|");
    let mut bubble_series = Vec::new();
    let mut mean_series = Vec::new();
    for (t, transport) in ["threads", "mpi"].into_iter().enumerate() {
        let mut means = Vec::new();
        for m in [1u64, 2, 4, 8] {
            let rows: Vec<&Value> = of("bubble")
                .filter(|l| l["transport"] == transport && l["micro_batches"].as_u64() == Some(m))
                .collect();
            if rows.is_empty() {
                continue;
            }
            let stage = |s: u64| {
                median(
                    rows.iter()
                        .flat_map(|l| l["per_stage"].as_array().cloned().unwrap_or_default())
                        .filter(|p| p["stage"].as_u64() == Some(s))
                        .filter_map(|p| p["bubble"].as_f64())
                        .collect(),
                )
            };
            let (b0, b1) = (stage(0), stage(1));
            let rate = median(rows.iter().filter_map(|l| l["samples_per_s"].as_f64()).collect());
            println!(
                "| {transport} | {m} | {:.3} | {b0:.3} | {b1:.3} | {:.3} | {rate:.0} |",
                theoretical_bubble(2, m as usize),
                (b0 + b1) / 2.0
            );
            means.push((m as f64, (b0 + b1) / 2.0));
            if t == 0 {
                bubble_series.push((m as f64, b0, b1));
            }
        }
        let label =
            if transport == "mpi" { "2 MPI ranks, mean of the stages" } else { "2 threads, mean of the stages" };
        mean_series.push(Series::line(label, means, PALETTE[t]));
    }
    let plain = median(of("plain").filter_map(|l| l["samples_per_s"].as_f64()).collect());
    println!("\nThe plain loop on one thread: {plain:.0} samples/s.\n");
    let theory: Vec<(f64, f64)> =
        [1.0, 2.0, 4.0, 8.0].iter().map(|&m| (m, theoretical_bubble(2, m as usize))).collect();
    let mut series = vec![Series::line("theory (S − 1)/(M + S − 1)", theory, (0, 0, 0))];
    series.extend(mean_series);
    series.push(Series::points("threads, stage 0", bubble_series.iter().map(|p| (p.0, p.1)).collect(), PALETTE[2]));
    series.push(Series::points("threads, stage 1", bubble_series.iter().map(|p| (p.0, p.2)).collect(), PALETTE[3]));
    let bubble_chart = Chart {
        title: "GPipe's bubble, 2 stages".into(),
        x_label: "micro-batches M".into(),
        y_label: "share of step time waiting".into(),
        log_x: true,
        series,
        y_range: Some((0.0, 0.6)),
        ..Chart::default()
    };
    save_charts(&[bubble_chart], &out.join("pipeline_bubble"))?;

    // 2. α + β·n for every measured transport.
    println!("## Messages: α + β·n fitted to the measurements\n");
    println!("| operation | transport | ranks | α (µs) | β (ns/byte) | bandwidth (GB/s) |");
    println!("|---|---|---|---|---|---|");
    let mut fits: BTreeMap<Transport, (LinearCost, Vec<(f64, f64)>)> = BTreeMap::new();
    for kind in ["p2p", "allreduce"] {
        for l in of(kind) {
            let key = (
                kind.to_string(),
                l["transport"].as_str().unwrap_or("?").to_string(),
                l["world"].as_u64().unwrap_or(0),
            );
            let point = (l["bytes"].as_f64().unwrap_or(f64::NAN), l["seconds_median"].as_f64().unwrap_or(f64::NAN));
            fits.entry(key).or_insert((LinearCost { alpha: 0.0, beta: 0.0 }, Vec::new())).1.push(point);
        }
    }
    for ((kind, transport, world), (fit, points)) in fits.iter_mut() {
        *fit = LinearCost::fit(points).ok_or("too few message sizes to fit")?;
        if kind == "p2p" && *world > 2 {
            continue;
        }
        println!(
            "| {kind} | {transport} | {world} | {:.2} | {:.3} | {:.2} |",
            fit.alpha * 1e6,
            fit.beta * 1e9,
            fit.gigabytes_per_second()
        );
    }
    let fit_of =
        |kind: &str, transport: &str, world: u64| fits.get(&(kind.into(), transport.into(), world)).map(|f| f.0);
    // γ, the reduction's cost per byte, from the 2-rank all-reduce beside the link;
    // then the ring model checked against the all-reduce measured on MPI.
    let gamma = match (fit_of("allreduce", "mpi-shm", 2), fit_of("p2p", "mpi-shm", 2)) {
        (Some(all), Some(link)) => reduce_cost(&all, &link),
        _ => 0.0,
    };
    println!("\nγ (the reduction's arithmetic, per byte) from the 2-rank fits: {:.3} ns/byte", gamma * 1e9);
    if let Some(p2p) = fit_of("p2p", "mpi-shm", 2) {
        println!(
            "\nThe ring model (point-to-point fit and γ), against the all-reduce measured (MPI, shared memory):\n"
        );
        println!("| ranks | bytes | measured (µs) | ring model (µs) | without γ (µs) |");
        println!("|---|---|---|---|---|");
        for world in [2u64, 4] {
            if let Some((_, points)) = fits.get(&("allreduce".into(), "mpi-shm".into(), world)) {
                for &(bytes, seconds) in
                    points.iter().filter(|p| [4096.0, 262_144.0, 4_194_304.0, 16_777_216.0].contains(&p.0))
                {
                    println!(
                        "| {world} | {bytes:.0} | {:.1} | {:.1} | {:.1} |",
                        seconds * 1e6,
                        ring_all_reduce(world as usize, bytes, &p2p, gamma) * 1e6,
                        ring_all_reduce(world as usize, bytes, &p2p, 0.0) * 1e6
                    );
                }
            }
        }
    }
    let mut comm_panels = Vec::new();
    for kind in ["p2p", "allreduce"] {
        let mut series = Vec::new();
        for (i, ((_, transport, world), (fit, points))) in fits.iter().filter(|((k, ..), _)| k == kind).enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let name = format!("{transport}, {world} ranks");
            series.push(Series::points(name.clone(), points.clone(), color));
            let line: Vec<(f64, f64)> = points.iter().map(|&(n, _)| (n, fit.time(n))).collect();
            series.push(Series::line(
                format!("{name}: α {:.1} µs, {:.2} GB/s", fit.alpha * 1e6, fit.gigabytes_per_second()),
                line,
                color,
            ));
        }
        comm_panels.push(Chart {
            title: if kind == "p2p" { "Point to point (one way)".into() } else { "All-reduce (sum)".into() },
            x_label: "message (bytes)".into(),
            y_label: "seconds".into(),
            log_x: true,
            log_y: true,
            series,
            legend_bottom: true,
            ..Chart::default()
        });
    }
    save_charts(&comm_panels, &out.join("comm_cost"))?;

    // 3. The model: networks and models.
    let mut measured = Vec::new();
    if let Some(link) = fit_of("p2p", "mpi-shm", 2) {
        measured.push(Network {
            name: "shared memory (measured)".into(),
            link,
            source: "2 MPI ranks on this machine".into(),
        });
    }
    if let Some(link) = fit_of("p2p", "mpi-veth", 2) {
        measured.push(Network {
            name: "veth between namespaces (measured)".into(),
            link,
            source: "2 MPI ranks over TCP on a veth pair, this machine".into(),
        });
    }
    let nets = networks(measured);
    println!("\n## Networks of the model\n");
    println!("| network | α (µs) | bandwidth (GB/s) | source |");
    println!("|---|---|---|---|");
    for n in &nets {
        println!("| {} | {:.2} | {:.2} | {} |", n.name, n.link.alpha * 1e6, n.link.gigabytes_per_second(), n.source);
    }
    let models: Vec<(String, ModelCost, usize)> = of("model")
        .map(|l| {
            let units = l["units"].as_array().map_or(0, Vec::len);
            (
                l["model"].as_str().unwrap_or("?").to_string(),
                ModelCost {
                    seconds_per_sample: 1.0 / l["samples_per_s"].as_f64().unwrap_or(f64::NAN),
                    parameters: l["parameters"].as_u64().unwrap_or(0) as usize,
                    batch: l["batch"].as_u64().unwrap_or(1) as usize,
                    activation_values_per_sample: l["activation_values_per_sample"].as_f64().unwrap_or(0.0),
                    small_batches: serde_json::from_value(l["small_batches"].clone()).unwrap_or_default(),
                },
                units,
            )
        })
        .collect();
    println!("\n## The models, measured on one thread\n");
    println!(
        "| model | samples/s | parameters | batch per worker | step (ms) | activation values per sample at the cut | units |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (name, m, units) in &models {
        println!(
            "| {name} | {:.0} | {} | {} | {:.2} | {:.0} | {units} |",
            1.0 / m.seconds_per_sample,
            m.parameters,
            m.batch,
            1e3 * m.seconds_per_sample * m.batch as f64,
            m.activation_values_per_sample
        );
    }
    let ps: Vec<usize> = (1..=6).map(|k| 1usize << k).collect();
    println!("\n## Modelled data-parallel efficiency (weak scaling, no overlap)\n");
    println!("| model | network | p = 2 | 8 | 64 |");
    println!("|---|---|---|---|---|");
    let mut dp_panels = Vec::new();
    let mut pp_panels = Vec::new();
    for (name, m, units) in &models {
        let mut series = Vec::new();
        let mut pseries = Vec::new();
        for (i, n) in nets.iter().enumerate() {
            let e: Vec<(f64, f64)> =
                ps.iter().map(|&p| (p as f64, data_parallel_efficiency(m, p, &n.link, gamma))).collect();
            println!("| {name} | {} | {:.2} | {:.2} | {:.2} |", n.name, e[0].1, e[2].1, e[5].1);
            series.push(Series::line(n.name.clone(), e, PALETTE[i % PALETTE.len()]));
            let stages: Vec<(f64, f64)> =
                (2..=*units).map(|s| (s as f64, pipeline_efficiency(m, s, 8, &n.link))).collect();
            pseries.push(Series::line(n.name.clone(), stages, PALETTE[i % PALETTE.len()]));
        }
        let free = LinearCost { alpha: 0.0, beta: 0.0 };
        pseries.push(Series::line(
            "no communication",
            (2..=*units).map(|s| (s as f64, pipeline_efficiency(m, s, 8, &free))).collect(),
            (0, 0, 0),
        ));
        dp_panels.push(Chart {
            title: format!("{name}: data-parallel (modelled)"),
            x_label: "workers p".into(),
            y_label: "scaling efficiency".into(),
            log_x: true,
            series,
            y_range: Some((0.0, 1.05)),
            legend_bottom: true,
            ..Chart::default()
        });
        pp_panels.push(Chart {
            title: format!("{name}: pipelined, M = 8 (modelled)"),
            x_label: "stages S (up to the model's units)".into(),
            y_label: "efficiency against S workers".into(),
            series: pseries,
            // Room above the curves for the legend.
            y_range: Some((0.0, 1.6)),
            ..Chart::default()
        });
    }
    // The pipeline model against the 2-stage pipeline measured above (its own MLP).
    if let Some((_, m, _)) = models.iter().find(|(name, ..)| name == "mlp-512x4") {
        println!("\n## The pipeline model against the measured pipeline (2 stages, MLP 512×4)\n");
        println!(
            "| transport | M | measured samples/s | modelled samples/s | modelled, micro-batches at the full batch's rate |"
        );
        println!("|---|---|---|---|---|");
        let whole = ModelCost { small_batches: Vec::new(), ..m.clone() };
        for (transport, link) in [("threads", fit_of("p2p", "threads", 2)), ("mpi", fit_of("p2p", "mpi-shm", 2))] {
            let Some(link) = link else { continue };
            for mb in [1usize, 2, 4, 8] {
                let measured = median(
                    of("bubble")
                        .filter(|l| l["transport"] == transport && l["micro_batches"].as_u64() == Some(mb as u64))
                        .filter_map(|l| l["samples_per_s"].as_f64())
                        .collect(),
                );
                let ideal = 2.0 / m.seconds_per_sample;
                println!(
                    "| {transport} | {mb} | {measured:.0} | {:.0} | {:.0} |",
                    ideal * pipeline_efficiency(m, 2, mb, &link),
                    ideal * pipeline_efficiency(&whole, 2, mb, &link)
                );
            }
        }
    }
    // M = 8 throughout: the smallest micro-batch whose rate was measured (batch / 8).
    println!("\n## Modelled pipeline efficiency (M = 8 micro-batches, equal stages)\n");
    println!("| model | network | S = 2 | S = units |");
    println!("|---|---|---|---|");
    for (name, m, units) in &models {
        for n in &nets {
            println!(
                "| {name} | {} | {:.2} | {:.2} (S = {units}) |",
                n.name,
                pipeline_efficiency(m, 2, 8, &n.link),
                pipeline_efficiency(m, *units, 8, &n.link)
            );
        }
    }
    save_charts(&dp_panels, &out.join("scaling_data_parallel"))?;
    save_charts(&pp_panels, &out.join("scaling_pipeline"))?;
    println!("\nplots: {}", out.display());
    Ok(())
}

/// An operation (`p2p`, `allreduce`), its transport and its number of ranks.
type Transport = (String, String, u64);

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}
