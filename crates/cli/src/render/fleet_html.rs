//! `fleet report --html`: one self-contained page (inline CSS and
//! JavaScript, an inline SVG chart; no external assets, so it opens
//! offline and can be mailed or archived as one file).
//!
//! The page has the summary, a bar chart of hosts per finding id (one bar
//! per id, coloured by severity), the findings table, a host table sorted
//! by clicking a header (numbers numerically, a second click reverses),
//! and the missing, stale, drift and warning lists. Opened with `#selftest`
//! in the URL, the script clicks the "errors" header once after load and
//! writes what it did to `<pre id="selftest">`, so a headless browser's
//! dumped DOM shows that sorting works.

use std::fmt::Write as _;
use std::io::Write;

use isotune_doctor::Severity;
use isotune_fleet::{FleetReport, Verdict};

use super::fleet::{age, summary_line};
use super::word;

/// Text safe in HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:left}
td.n,th.n{text-align:right}
th.sort{cursor:pointer;user-select:none}th.sort:hover{background:#eef}
th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}
.pass{color:#070;font-weight:bold}.fail{color:#b00;font-weight:bold}
.sev-error{fill:#c33;color:#b00}.sev-warn{fill:#d90;color:#a60}.sev-info{fill:#69c;color:#369}
svg text{font:12px system-ui,sans-serif;fill:#222}
code{background:#f4f4f4;padding:0 .2em}
";

/// Sorting: a click on a `th.sort` orders the rows of its table by that
/// column (numbers numerically), a second click on it reverses.
const SCRIPT: &str = r#"
function sortBy(th) {
  var table = th.closest('table'), body = table.tBodies[0];
  var col = Array.prototype.indexOf.call(th.parentNode.children, th);
  var num = th.classList.contains('n');
  var dir = th.getAttribute('aria-sort') === 'descending' ? 'ascending'
          : th.getAttribute('aria-sort') === 'ascending' ? 'descending'
          : (num ? 'descending' : 'ascending');
  table.querySelectorAll('th.sort').forEach(function (h) { h.removeAttribute('aria-sort'); });
  th.setAttribute('aria-sort', dir);
  var rows = Array.prototype.slice.call(body.rows);
  var key = function (r) { var t = r.cells[col].textContent; return num ? parseFloat(t) || 0 : t; };
  rows.sort(function (a, b) {
    var x = key(a), y = key(b), c = x < y ? -1 : x > y ? 1 : 0;
    if (c === 0) { c = a.cells[0].textContent < b.cells[0].textContent ? -1 : 1; return c; }
    return dir === 'ascending' ? c : -c;
  });
  rows.forEach(function (r) { body.appendChild(r); });
}
document.querySelectorAll('th.sort').forEach(function (th) {
  th.addEventListener('click', function () { sortBy(th); });
});
if (location.hash === '#selftest') {
  var th = document.querySelector('#hosts th[data-key=errors]');
  th.click();
  var col = Array.prototype.indexOf.call(th.parentNode.children, th);
  var vals = Array.prototype.map.call(document.querySelectorAll('#hosts tbody tr'),
    function (r) { return parseFloat(r.cells[col].textContent) || 0; });
  var sorted = vals.every(function (v, i) { return i === 0 || vals[i - 1] >= v; });
  document.getElementById('selftest').textContent = JSON.stringify({
    clicked: th.getAttribute('data-key'), order: th.getAttribute('aria-sort'),
    sorted: sorted, rows: vals.length,
    bars: document.querySelectorAll('#chart rect.bar').length
  });
}
"#;

fn sev_class(s: Severity) -> &'static str {
    match s {
        Severity::Error => "sev-error",
        Severity::Warn => "sev-warn",
        Severity::Info => "sev-info",
    }
}

/// The bar chart: hosts per finding id, one bar each, most severe first.
fn chart(r: &FleetReport) -> String {
    const ROW: usize = 24;
    const LABEL: usize = 300;
    const WIDTH: usize = 420;
    let max = r.findings.iter().map(|f| f.hosts).max().unwrap_or(1).max(1);
    let height = ROW * r.findings.len() + 10;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg id=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" \
         role=\"img\" aria-label=\"hosts per finding id\">",
        LABEL + WIDTH + 60
    );
    for (i, f) in r.findings.iter().enumerate() {
        let y = i * ROW + 5;
        // At least 2 px, so an id on one host of thousands still shows.
        let w = usize::try_from(f.hosts.saturating_mul(WIDTH as u64) / max)
            .unwrap_or(WIDTH)
            .max(2);
        let id = esc(&f.id);
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{id}</text>\
             <rect class=\"bar {}\" data-id=\"{id}\" data-hosts=\"{}\" x=\"{LABEL}\" y=\"{y}\" \
             width=\"{w}\" height=\"{}\"><title>{id}: {} hosts, {} VMs</title></rect>\
             <text x=\"{}\" y=\"{}\">{}</text>",
            LABEL - 6,
            y + 15,
            sev_class(f.severity),
            f.hosts,
            ROW - 6,
            f.hosts,
            f.vms,
            LABEL + w + 4,
            y + 15,
            f.hosts
        );
    }
    s.push_str("</svg>");
    s
}

/// Writes the page.
pub fn page(out: &mut dyn Write, r: &FleetReport) -> anyhow::Result<()> {
    let mut h = String::with_capacity(4096 + r.hosts.len() * 200);
    let (vclass, vword) = match r.verdict {
        Verdict::Pass => ("pass", "PASS"),
        Verdict::Fail => ("fail", "FAIL"),
    };
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>isotune fleet report</title><style>{STYLE}</style></head><body>\n\
         <h1>isotune fleet report</h1>\n<p><span class=\"{vclass}\">{vword}</span> {}</p>\n",
        esc(&summary_line(&r.summary))
    );
    h.push_str("<h2>Hosts per finding id</h2>\n");
    if r.findings.is_empty() {
        h.push_str("<p>No findings.</p>\n");
    }
    h.push_str(&chart(r));
    h.push_str(
        "\n<h2>Findings by id</h2>\n<table id=\"findings\"><thead><tr>\
         <th class=\"sort\">severity</th><th class=\"sort\">finding</th>\
         <th class=\"sort n\">hosts</th><th class=\"sort n\">VMs</th>\
         <th class=\"sort\">title</th></tr></thead><tbody>\n",
    );
    for f in &r.findings {
        let _ = writeln!(
            h,
            "<tr><td class=\"{}\">{}</td><td><code>{}</code></td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td>{}</td></tr>",
            sev_class(f.severity),
            word(&f.severity),
            esc(&f.id),
            f.hosts,
            f.vms,
            esc(&f.title)
        );
    }
    h.push_str("</tbody></table>\n<h2>Hosts</h2>\n<table id=\"hosts\"><thead><tr>");
    for (key, numeric) in [
        ("host", false),
        ("errors", true),
        ("warnings", true),
        ("infos", true),
        ("drift", true),
        ("VMs", true),
        ("reports", false),
        ("stale", false),
    ] {
        let class = if numeric { "sort n" } else { "sort" };
        let _ = write!(h, "<th class=\"{class}\" data-key=\"{key}\">{key}</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in &r.hosts {
        let reports: Vec<&str> = row.reports.iter().map(|k| k.name()).collect();
        let reports = if reports.is_empty() {
            "(missing)".to_owned()
        } else {
            reports.join(", ")
        };
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&row.host),
            row.errors,
            row.warnings,
            row.infos,
            row.drift,
            row.vms,
            esc(&reports),
            if row.stale { "stale" } else { "" }
        );
    }
    h.push_str("</tbody></table>\n");
    let list = |h: &mut String, title: &str, items: Vec<String>| {
        if items.is_empty() {
            return;
        }
        let _ = write!(h, "<h2>{title} ({})</h2>\n<ul>\n", items.len());
        for i in items {
            let _ = writeln!(h, "<li>{}</li>", esc(&i));
        }
        h.push_str("</ul>\n");
    };
    list(
        &mut h,
        "Hosts with no usable report",
        r.missing
            .iter()
            .map(|m| format!("{} ({})", m.host, m.path.display()))
            .collect(),
    );
    list(
        &mut h,
        &format!("Stale reports (older than {})", age(r.max_age_seconds)),
        r.stale
            .iter()
            .map(|s| {
                let a = age(s.age_seconds);
                format!(
                    "{}: {} {} old ({})",
                    s.host,
                    s.path.display(),
                    a,
                    word(&s.age_from)
                )
            })
            .collect(),
    );
    list(
        &mut h,
        "Reports from an older isotune",
        r.older_schema
            .iter()
            .map(|o| {
                format!(
                    "{}: {} schema {} (current {})",
                    o.host,
                    o.path.display(),
                    o.schema_version,
                    o.current
                )
            })
            .collect(),
    );
    list(
        &mut h,
        "Drift",
        r.drift
            .iter()
            .map(|d| {
                let actual = d.actual.as_deref().unwrap_or("(none)");
                format!(
                    "{}: {} {} expected {} actual {}",
                    d.host, d.state, d.target, d.expected, actual
                )
            })
            .collect(),
    );
    list(
        &mut h,
        "Warnings",
        r.warnings
            .iter()
            .map(|w| format!("{}: {w}", w.code()))
            .collect(),
    );
    let _ = write!(
        h,
        "<pre id=\"selftest\"></pre>\n<script>{SCRIPT}</script>\n</body></html>\n"
    );
    out.write_all(h.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
