//! Human and Markdown rendering of `isotune bench` results.

use std::io::{self, Write};

use isotune_bench::compare::{MatchStatus, Verdict, WorkloadComparison};
use isotune_bench::predict::NetworkReport;
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
    if let Some(net) = &r.network {
        network_header(out, net)?;
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
    if let Some(net) = &r.network {
        predictions(out, net)?;
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

/// The probe of a network source.
fn network_header(out: &mut dyn Write, net: &NetworkReport) -> io::Result<()> {
    let s = &net.source;
    if s.redirects > 0 {
        writeln!(
            out,
            "redirected {} time(s) to {}: QEMU's curl driver follows them again on every request (one more round trip each)",
            s.redirects, s.final_url
        )?;
    }
    let handshake = match (&s.nbd, s.tls) {
        (Some(_), _) => format!(
            ", NBD handshake {}",
            latency(s.round_trip.handshake_ns as f64)
        ),
        (None, true) => format!(
            ", TLS handshake {}",
            latency(s.round_trip.handshake_ns as f64)
        ),
        (None, false) => String::new(),
    };
    writeln!(
        out,
        "round trip (median of {}): connect {}{handshake}, 2 KiB request {}; streaming {}; {} connection(s)",
        s.round_trip.samples,
        latency(s.round_trip.connect_ns as f64),
        latency(s.round_trip.request_ns as f64),
        rate(s.throughput_bytes_per_s as u64),
        net.connections
    )?;
    if let Some(n) = &s.nbd {
        writeln!(
            out,
            "NBD export {} ({}), {}{}",
            if n.export.is_empty() {
                "(default)".to_owned()
            } else {
                format!("`{}`", n.export)
            },
            n.negotiation,
            if n.read_only { "read-only" } else { "writable" },
            if n.multi_conn {
                ", multi-conn"
            } else {
                ", no multi-conn"
            }
        )?;
    }
    if let Some(server) = &s.server {
        writeln!(out, "server: {server}")?;
    }
    Ok(())
}

/// The boot predictions of a network source.
fn predictions(out: &mut dyn Write, net: &NetworkReport) -> io::Result<()> {
    if net.boot_predictions.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "\npredicted boot reads over this link (requests x measured time per request; QEMU curl readahead replayed)"
    )?;
    let mut header = vec![
        "workload".to_owned(),
        "requests".to_owned(),
        "measured".to_owned(),
        "predicted".to_owned(),
    ];
    if let Some(first) = net.boot_predictions.first() {
        for ra in &first.curl_readahead {
            header.push(format!(
                "curl readahead={}k{}",
                ra.readahead_bytes >> 10,
                if ra.default { " (default)" } else { "" }
            ));
        }
    }
    let mut t = table(header);
    for p in &net.boot_predictions {
        let mut row = vec![
            p.workload.clone(),
            p.requests.to_string(),
            format!("{:.2} s", p.measured_seconds),
            format!("{:.2} s", p.predicted_seconds),
        ];
        for ra in &p.curl_readahead {
            row.push(format!(
                "{:.2} s ({} req, {:.2}x bytes)",
                ra.predicted_seconds, ra.server_requests, ra.read_amplification
            ));
        }
        t.add_row(row);
    }
    writeln!(out, "{}", t.trim_fmt())
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
    if let Some(net) = &r.network {
        writeln!(out)?;
        let mut text = Vec::new();
        network_header(&mut text, net)?;
        predictions(&mut text, net)?;
        writeln!(out, "```text\n{}```", String::from_utf8_lossy(&text))?;
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
