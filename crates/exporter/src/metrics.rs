//! Encoding a [`Scrape`] as Prometheus metrics.
//!
//! A fresh `prometheus-client` registry is filled per scrape (the samples
//! are read fresh each time; nothing is kept in metric objects between
//! scrapes). [`render`] writes OpenMetrics or, for clients that do not ask
//! for it, the Prometheus text format 0.0.4 (see [`Format`]).

use std::fmt::Write as _;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::scrape::Scrape;

type Labels = Vec<(&'static str, String)>;
type CounterF = Counter<f64, AtomicU64>;
type GaugeF = Gauge<f64, AtomicU64>;

/// The exposition format of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenMetrics 1.0 text.
    OpenMetrics,
    /// The Prometheus text format 0.0.4.
    Text,
}

impl Format {
    /// The format asked for by an HTTP `Accept` header.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    /// The response's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

fn family<M>(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, M>
where
    M: Default
        + prometheus_client::metrics::TypedMetric
        + prometheus_client::encoding::EncodeMetric
        + Send
        + Sync
        + std::fmt::Debug
        + 'static,
{
    let f = Family::<Labels, M>::default();
    reg.register(name, help, f.clone());
    f
}

/// Builds the registry of one scrape.
pub fn registry(scrape: &Scrape) -> Registry {
    let mut reg = Registry::default();
    let build: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_build_info",
        "The isotune exporter's version (value 1)",
    );
    build
        .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())])
        .set(1);

    let reqs: Family<Labels, Counter> = family(
        &mut reg,
        "isotune_cdrom_read_requests",
        "Read requests the guest completed on the cdrom",
    );
    let bytes: Family<Labels, Counter> = family(
        &mut reg,
        "isotune_cdrom_read_bytes",
        "Bytes the guest read from the cdrom",
    );
    let time: Family<Labels, CounterF> = family(
        &mut reg,
        "isotune_cdrom_read_time_seconds",
        "Time spent in cdrom reads, summed over requests",
    );
    let tray: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_cdrom_tray_open",
        "1 when the cdrom's tray is open",
    );
    let medium: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_cdrom_medium_present",
        "1 when a medium (an image) is in the cdrom",
    );
    let info: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_cdrom_info",
        "The cdrom's bus and image (value 1)",
    );
    let cd_size: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_cdrom_iso_size_bytes",
        "Size of the image in the cdrom",
    );
    for c in &scrape.samples.cdroms {
        let l: Labels = vec![
            ("domain", c.domain.clone()),
            ("drive", c.drive.clone()),
            ("source", c.source.as_str().to_string()),
        ];
        reqs.get_or_create(&l).inc_by(c.read_requests);
        bytes.get_or_create(&l).inc_by(c.read_bytes);
        time.get_or_create(&l).inc_by(c.read_time_ns as f64 / 1e9);
        if let Some(open) = c.tray_open {
            tray.get_or_create(&l).set(i64::from(open));
        }
        medium.get_or_create(&l).set(i64::from(c.iso.is_some()));
        cd_size.get_or_create(&l).set(c.iso_size_bytes as i64);
        let mut il = l.clone();
        il.push(("bus", c.bus.clone()));
        il.push((
            "iso",
            c.iso
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ));
        info.get_or_create(&il).set(1);
    }

    let cpu: Family<Labels, CounterF> = family(
        &mut reg,
        "isotune_qemu_cpu_seconds",
        "CPU time (user plus system) of the VM's QEMU process",
    );
    let vcpus: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_qemu_vcpus",
        "Virtual CPUs of the VM (-smp)",
    );
    let rss: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_qemu_resident_memory_bytes",
        "Resident memory of the VM's QEMU process",
    );
    for p in &scrape.samples.procs {
        let l: Labels = vec![
            ("domain", p.domain.clone()),
            ("pid", p.pid.to_string()),
            ("source", crate::model::Source::Proc.as_str().to_string()),
        ];
        cpu.get_or_create(&l).inc_by(p.cpu_seconds);
        vcpus.get_or_create(&l).set(i64::from(p.vcpus));
        rss.get_or_create(&l).set(p.resident_bytes as i64);
    }

    let resident: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_iso_page_cache_bytes",
        "Bytes of an ISO image that VMs hold open resident in the host page cache",
    );
    let size: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_iso_size_bytes",
        "Size of an ISO image that VMs hold open",
    );
    let open_by: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_iso_open_processes",
        "QEMU processes holding the ISO image open",
    );
    let read_ahead: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_iso_device_read_ahead_bytes",
        "Read-ahead (queue/read_ahead_kb x 1024) of the block device under an ISO image VMs hold open",
    );
    for i in &scrape.samples.isos {
        let l: Labels = vec![("iso", i.iso.display().to_string())];
        resident.get_or_create(&l).set(i.page_cache_bytes as i64);
        size.get_or_create(&l).set(i.size_bytes as i64);
        open_by.get_or_create(&l).set(i64::from(i.open_by));
        if let (Some(device), Some(kb)) = (&i.device, i.read_ahead_kb) {
            let mut dl = l.clone();
            dl.push(("device", device.clone()));
            read_ahead.get_or_create(&dl).set(i64::from(kb) * 1024);
        }
    }

    let finding: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_finding",
        "An active finding of isotune doctor (value 1), refreshed every --doctor-interval",
    );
    for f in &scrape.findings {
        finding
            .get_or_create(&vec![
                ("id", f.id.clone()),
                ("severity", f.severity.clone()),
                ("domain", f.domain.clone()),
                ("drive", f.drive.clone()),
            ])
            .set(1);
    }

    let dur: Family<Labels, GaugeF> = family(
        &mut reg,
        "isotune_collector_duration_seconds",
        "Time the last scrape spent on the collector",
    );
    let ok: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_collector_success",
        "1 when the collector finished without errors before the deadline",
    );
    let stale: Family<Labels, Gauge> = family(
        &mut reg,
        "isotune_collector_stale",
        "1 when the collector missed the deadline and its last values are served",
    );
    let errs: Family<Labels, Counter> = family(
        &mut reg,
        "isotune_collector_errors",
        "Errors of the collector (failed items and missed deadlines)",
    );
    for c in &scrape.collectors {
        let l: Labels = vec![("collector", c.name.to_string())];
        dur.get_or_create(&l).set(c.duration_seconds);
        ok.get_or_create(&l).set(i64::from(c.success));
        stale.get_or_create(&l).set(i64::from(c.stale));
        errs.get_or_create(&l).inc_by(c.errors_total);
    }
    reg
}

/// Renders `scrape` in `format`.
pub fn render(scrape: &Scrape, format: Format) -> String {
    let mut om = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut om, &registry(scrape));
    match format {
        Format::OpenMetrics => om,
        Format::Text => to_text(&om),
    }
}

/// OpenMetrics text to the Prometheus text format 0.0.4: no `# EOF` or
/// `# UNIT` lines, and a counter's HELP and TYPE name its `_total` series
/// (OpenMetrics names the family without the suffix).
pub fn to_text(openmetrics: &str) -> String {
    let counters: Vec<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        if let Some((prefix, rest)) = meta {
            let name = rest.split(' ').next().unwrap_or("");
            if counters.contains(&name) {
                let _ = writeln!(out, "{prefix}{name}_total{}", &rest[name.len()..]);
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}
