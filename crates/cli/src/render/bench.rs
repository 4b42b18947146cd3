//! Human and Markdown rendering of `isotune bench` results.

use std::io::{self, Write};

use isotune_bench::compare::{MatchStatus, Verdict, WorkloadComparison};
use isotune_bench::result::{BenchReport, WorkloadResult};

use super::{bytes, paint, rate, table, word};

/// Nanoseconds with the unit that reads best (µs for storage latencies).
fn latency(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

fn iops(w: &WorkloadResult) -> String {
    let s = &w.summary;
    if w.runs.len() > 1 {
        format!("{:.0} ± {:.0}", s.iops_mean, s.iops_stddev)
    } else {
        format!("{:.0}", s.iops_mean)
    }
}

fn setting(w: &WorkloadResult) -> String {
    format!(
        "{} qd{}{} {}",
        word(&w.engine),
        w.queue_depth,
        if w.direct { " direct" } else { "" },
        word(&w.cache_mode)
    )
}

/// The terminal report.
pub fn human(out: &mut dyn Write, r: &BenchReport, color: bool) -> io::Result<()> {
    writeln!(
        out,
        "{} ({}, {}{})",
        r.target.path,
        bytes(r.target.size_bytes),
        word(&r.target.kind),
        if r.target.direct { ", O_DIRECT" } else { "" }
    )?;
    for n in &r.notices {
        writeln!(out, "note: {n}")?;
    }
    let mut t = table([
        "workload",
        "setting",
        "requests",
        "bytes/run",
        "IOPS (mean ± sd)",
        "bandwidth",
        "lat p50",
        "p99",
        "p99.9",
        "max",
        "CPU/req",
        "runs",
    ]);
    for w in &r.workloads {
        let s = &w.summary;
        t.add_row(vec![
            w.name.clone(),
            setting(w),
            w.request_count.to_string(),
            bytes(w.request_bytes),
            iops(w),
            rate(s.bandwidth_bytes_per_s_mean as u64),
            latency(s.latency_ns.p50 as f64),
            latency(s.latency_ns.p99 as f64),
            latency(s.latency_ns.p999 as f64),
            latency(s.latency_ns.max as f64),
            latency(s.cpu_ns_per_request_mean),
            w.runs.len().to_string(),
        ]);
    }
    writeln!(out, "{}", t.trim_fmt())?;
    for w in &r.workloads {
        if !w.summary.outlier_runs.is_empty() {
            writeln!(
                out,
                "{}: outlier run(s) {:?} (modified Z-score > 3.5)",
                w.name, w.summary.outlier_runs
            )?;
        }
        for warn in &w.summary.warnings {
            writeln!(out, "{} {}: {warn}", paint("warning:", color, "33"), w.name)?;
        }
    }
    if let Some(c) = &r.comparison {
        writeln!(
            out,
            "\ncompared with the baseline (IOPS, current / baseline, 95% CI)"
        )?;
        let mut t = table([
            "workload", "baseline", "now", "ratio", "95% CI", "change", "verdict",
        ]);
        for row in c {
            t.add_row(comparison_row(row, color));
        }
        writeln!(out, "{}", t.trim_fmt())?;
        for row in c {
            for note in &row.notes {
                writeln!(out, "note: {}: {note}", row.name)?;
            }
        }
    }
    out.flush()
}

fn comparison_row(c: &WorkloadComparison, color: bool) -> Vec<String> {
    let f = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.0}"));
    let verdict = match (c.status, c.verdict) {
        (MatchStatus::BaselineOnly, _) => "only in the baseline".to_owned(),
        (MatchStatus::CurrentOnly, _) => "not in the baseline".to_owned(),
        (_, Some(Verdict::Faster)) => paint("faster", color, "32"),
        (_, Some(Verdict::Slower)) => paint("slower", color, "31;1"),
        (_, Some(Verdict::NoSignificantChange)) => "no significant change".to_owned(),
        (_, None) => "too few runs to tell".to_owned(),
    };
    vec![
        c.name.clone(),
        f(c.baseline_iops_mean),
        f(c.current_iops_mean),
        c.ratio.map_or("-".to_owned(), |r| format!("{r:.2}x")),
        c.ratio_ci95
            .map_or("-".to_owned(), |(lo, hi)| format!("{lo:.2}-{hi:.2}")),
        c.change_pct.map_or("-".to_owned(), |p| format!("{p:+.1}%")),
        verdict,
    ]
}

/// The Markdown report.
pub fn markdown(out: &mut dyn Write, r: &BenchReport) -> io::Result<()> {
    writeln!(out, "# isotune bench: {}\n", r.target.path)?;
    writeln!(
        out,
        "{} bytes, {}{}\n",
        r.target.size_bytes,
        word(&r.target.kind),
        if r.target.direct { ", O_DIRECT" } else { "" }
    )?;
    writeln!(
        out,
        "| workload | setting | IOPS mean ± sd | bandwidth | p50 | p99 | p99.9 | max | runs |"
    )?;
    writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|")?;
    for w in &r.workloads {
        let s = &w.summary;
        writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            w.name,
            setting(w),
            iops(w),
            rate(s.bandwidth_bytes_per_s_mean as u64),
            latency(s.latency_ns.p50 as f64),
            latency(s.latency_ns.p99 as f64),
            latency(s.latency_ns.p999 as f64),
            latency(s.latency_ns.max as f64),
            w.runs.len()
        )?;
    }
    if let Some(c) = &r.comparison {
        writeln!(
            out,
            "\n| workload | baseline IOPS | IOPS | ratio | 95% CI | change | verdict |"
        )?;
        writeln!(out, "|---|---:|---:|---:|---:|---:|---|")?;
        for row in c {
            writeln!(out, "| {} |", comparison_row(row, false).join(" | "))?;
        }
    }
    out.flush()
}
