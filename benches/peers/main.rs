//! The performance suite: Accord and a named peer on the same workload in the same run, one
//! table of metric, Accord, peer, ratio, goal and met, also written to
//! `target/bench/summary.json`.
//!
//! `cargo bench --bench peers` runs 10k, 100k and 1M events; `-- --quick` runs 10k and 100k
//! (and the query, HTTP and disk figures on the 100k log); under `cargo test` a smoke size
//! checks that every measurement still runs.

#[path = "../common/static_server.rs"]
mod common;
#[allow(dead_code)]
mod cqrs_peer;
mod measure;
mod queries;
mod scheduler;
mod serving;

use measure::{Mode, Row};

/// The allocator the `accord` binary uses, set as it sets it, so in-process figures match it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    accord::allocator::return_freed_memory_promptly();
    let args: Vec<String> = std::env::args().collect();
    let mode = if !args.iter().any(|a| a == "--bench") {
        Mode::Smoke
    } else if args.iter().any(|a| a == "--quick") {
        Mode::Quick
    } else {
        Mode::Full
    };
    let started = std::time::Instant::now();
    let rows = measure::run(mode);
    print_table(&rows);
    let out = std::path::Path::new("target/bench");
    std::fs::create_dir_all(out).expect("target/bench can be created");
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "metric": r.metric,
                "accord": round(r.accord),
                "peer": round(r.peer),
                "ratio": round(r.ratio()),
                "goal": r.goal,
                "met": r.met,
            })
        })
        .collect();
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&json).expect("rows are JSON"),
    )
    .expect("summary.json can be written");
    println!(
        "\n{:?} run in {:.0} s; table written to target/bench/summary.json",
        mode,
        started.elapsed().as_secs_f64()
    );
}

fn round(v: f64) -> f64 {
    if v.abs() >= 100.0 {
        v.round()
    } else {
        (v * 1000.0).round() / 1000.0
    }
}

fn print_table(rows: &[Row]) {
    let fmt = |v: f64| {
        if v.abs() >= 1000.0 {
            let s = format!("{:.0}", v);
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            out
        } else if v.abs() >= 10.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.3}")
        }
    };
    let w = rows.iter().map(|r| r.metric.len()).max().unwrap_or(6);
    println!(
        "\n| {:w$} | {:>12} | {:>12} | {:>8} | {:30} | met |",
        "metric", "Accord", "peer", "ratio", "goal"
    );
    println!(
        "|{}|{}|{}|{}|{}|-----|",
        "-".repeat(w + 2),
        "-".repeat(14),
        "-".repeat(14),
        "-".repeat(10),
        "-".repeat(32)
    );
    for r in rows {
        println!(
            "| {:w$} | {:>12} | {:>12} | {:>8} | {:30} | {} |",
            r.metric,
            fmt(r.accord),
            fmt(r.peer),
            format!("{:.2}", r.ratio()),
            r.goal,
            if r.met { "yes" } else { "NO" }
        );
    }
}
