//! ISOs served over NBD by a `qemu-nbd` on this host: how many clients the
//! server takes at once (`--shared`, default 1) and whether it outlives
//! its first client (`--persistent`), against the VMs that use it.

use std::path::{Path, PathBuf};

use isotune_host::NbdServerProcess;
use isotune_vmconfig::{Source, VmDefinition};

use crate::describe::vm_label;
use crate::facts::Facts;
use crate::finding::{Finding, Layer, Severity};
use crate::rules::Rule;

/// qemu-nbd's default TCP port (and NBD's registered one).
const NBD_PORT: u16 = 10809;

/// `net.nbd-single-client`.
pub(crate) const SINGLE_CLIENT: Rule = Rule {
    id: "net.nbd-single-client",
    layer: Layer::Network,
    severity: Severity::Error,
    title: "More VMs use a qemu-nbd export than it serves at once",
    why: "qemu-nbd serves one client at a time unless started with `--shared=N` \
          (`-e N`; 0 = no limit). A second VM's QEMU connects, is left in the listen \
          queue, and hangs while opening the drive until the first VM lets go; measured \
          here: a second client of a default qemu-nbd waited until it was killed \
          (crates/cli/tests/doctor_nbd.rs).",
    reference: "qemu-nbd(8) (-e, --shared=NUM; -t, --persistent)",
    check: single_client,
};

/// `net.nbd-not-persistent`.
pub(crate) const NOT_PERSISTENT: Rule = Rule {
    id: "net.nbd-not-persistent",
    layer: Layer::Network,
    severity: Severity::Warn,
    title: "A qemu-nbd export ends with its first client",
    why: "Without `--persistent` (`-t`) qemu-nbd exits when its first client \
          disconnects and removes its socket: the VM's next start (or any other \
          client after it) cannot open the drive.",
    reference: "qemu-nbd(8) (-t, --persistent)",
    check: not_persistent,
};

/// A qemu-nbd command line, as far as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    pid: u32,
    argv: Vec<String>,
    socket: Option<PathBuf>,
    port: u16,
    bind: Option<String>,
    /// `--shared`; 0 = no limit.
    shared: u32,
    persistent: bool,
}

/// Options of qemu-nbd that take a value (short and long forms).
const WITH_VALUE: &[&str] = &[
    "-o",
    "--offset",
    "-b",
    "--bind",
    "-p",
    "--port",
    "-k",
    "--socket",
    "-e",
    "--shared",
    "-x",
    "--export-name",
    "-D",
    "--description",
    "-f",
    "--format",
    "-P",
    "--partition",
    "-B",
    "--bitmap",
    "-l",
    "--load-snapshot",
    "-c",
    "--connect",
    "-T",
    "--trace",
    "--object",
    "--cache",
    "--aio",
    "--discard",
    "--detect-zeroes",
    "--tls-creds",
    "--tls-authz",
    "--tls-hostname",
    "--pid-file",
    "--handshake-limit",
];

fn parse_server(p: &NbdServerProcess) -> Server {
    let mut s = Server {
        pid: p.pid,
        argv: p.argv.clone(),
        socket: None,
        port: NBD_PORT,
        bind: None,
        shared: 1,
        persistent: false,
    };
    let mut args = p.argv.iter().skip(1).peekable();
    while let Some(a) = args.next() {
        // `--opt=value`, `--opt value`, `-k value`, `-kvalue`.
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if a.starts_with("--") => (o.to_owned(), Some(v.to_owned())),
            _ if a.len() > 2 && a.starts_with('-') && !a.starts_with("--") => {
                let (o, v) = a.split_at(2);
                if WITH_VALUE.contains(&o) {
                    (o.to_owned(), Some(v.to_owned()))
                } else {
                    (a.clone(), None)
                }
            }
            _ => (a.clone(), None),
        };
        let takes_value = WITH_VALUE.contains(&opt.as_str());
        let value = match (takes_value, inline) {
            (true, Some(v)) => Some(v),
            (true, None) => args.next().cloned(),
            (false, _) => None,
        };
        match (opt.as_str(), value) {
            ("-k" | "--socket", Some(v)) => s.socket = Some(PathBuf::from(v)),
            ("-p" | "--port", Some(v)) => s.port = v.parse().unwrap_or(NBD_PORT),
            ("-b" | "--bind", Some(v)) => s.bind = Some(v),
            ("-e" | "--shared", Some(v)) => s.shared = v.parse().unwrap_or(1),
            ("-t" | "--persistent", _) => s.persistent = true,
            _ => {}
        }
    }
    s
}

/// Whether the NBD URL of a drive (`nbd+unix:///export?socket=PATH`,
/// `nbd://host[:port]/export`) reaches `s`.
fn reaches(url: &str, s: &Server) -> bool {
    if let Some(rest) = url.strip_prefix("nbd+unix://") {
        let Some((_, query)) = rest.split_once('?') else {
            return false;
        };
        return query.split('&').any(|kv| {
            kv.strip_prefix("socket=")
                .is_some_and(|p| s.socket.as_deref() == Some(Path::new(p)))
        });
    }
    let Some(rest) = url.strip_prefix("nbd://") else {
        return false;
    };
    if s.socket.is_some() {
        return false;
    }
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().unwrap_or(0)),
        None => (authority, NBD_PORT),
    };
    let local = ["localhost", "127.0.0.1", "::1", "[::1]", ""].contains(&host)
        || s.bind.as_deref() == Some(host);
    port == s.port && local
}

/// The VMs with a drive reaching `s`, with the URL each uses.
fn clients<'a>(facts: &'a Facts, s: &Server) -> Vec<(&'a VmDefinition, &'a str)> {
    facts
        .vms
        .iter()
        .filter_map(|vm| {
            vm.drives.iter().find_map(|d| match &d.source {
                Source::Nbd { url } if reaches(url, s) => Some((vm, url.as_str())),
                _ => None,
            })
        })
        .collect()
}

fn servers(facts: &Facts) -> Vec<Server> {
    facts
        .host
        .iter()
        .flat_map(|h| h.nbd_servers.iter().map(parse_server))
        .collect()
}

fn endpoint(s: &Server) -> String {
    match &s.socket {
        Some(p) => format!("unix socket {}", p.display()),
        None => format!("port {}", s.port),
    }
}

/// The server's command line with `--shared=need` (0 keeps no limit) and
/// `--persistent`, shell-quoted where needed.
fn fixed_command(s: &Server, need: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut args = s.argv.iter().peekable();
    while let Some(a) = args.next() {
        let bare = a.split_once('=').map_or(a.as_str(), |(o, _)| o);
        if ["-e", "--shared"].contains(&bare) {
            if a == "-e" || a == "--shared" {
                args.next();
            }
            continue;
        }
        if a.starts_with("-e") && a.len() > 2 && !a.starts_with("--") {
            continue;
        }
        if ["-t", "--persistent"].contains(&a.as_str()) {
            continue;
        }
        out.push(quote(a));
    }
    let shared = if s.shared == 0 { 0 } else { need.max(2) };
    out.insert(1.min(out.len()), format!("--shared={shared}"));
    out.insert(2.min(out.len()), "--persistent".to_owned());
    out.join(" ")
}

fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
    {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', r"'\''"))
    }
}

fn evidence(s: &Server, users: &[(&VmDefinition, &str)]) -> Vec<String> {
    let mut e = vec![format!("qemu-nbd (pid {}): {}", s.pid, s.argv.join(" "))];
    e.push(format!(
        "--shared: {}; --persistent: {}",
        match s.shared {
            0 => "0 (no limit)".to_owned(),
            n if s
                .argv
                .iter()
                .any(|a| a.starts_with("-e") || a.starts_with("--shared")) =>
            {
                n.to_string()
            }
            n => format!("not set ({n})"),
        },
        if s.persistent { "yes" } else { "no" }
    ));
    for (vm, url) in users {
        e.push(format!("{} reads {url}", vm_label(vm)));
    }
    e
}

fn restart_fix(s: &Server, need: usize) -> String {
    format!(
        "Stop this qemu-nbd once no VM uses it (`kill {}`) and start it again as: `{}`",
        s.pid,
        fixed_command(s, need)
    )
}

fn single_client(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in servers(facts) {
        let users = clients(facts, &s);
        if s.shared == 0 || users.len() <= s.shared as usize {
            continue;
        }
        out.push(SINGLE_CLIENT.finding(
            Severity::Error,
            format!(
                "{} VMs use the qemu-nbd on {}, which serves {} client(s) at once: the others hang opening the drive",
                users.len(),
                endpoint(&s),
                s.shared
            ),
            format!("qemu-nbd (pid {}) on {}", s.pid, endpoint(&s)),
            evidence(&s, &users),
            restart_fix(&s, users.len()),
        ));
    }
    out
}

fn not_persistent(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for s in servers(facts) {
        let users = clients(facts, &s);
        if s.persistent || users.is_empty() {
            continue;
        }
        out.push(NOT_PERSISTENT.finding(
            Severity::Warn,
            format!(
                "the qemu-nbd on {} exits when its first client disconnects (no --persistent)",
                endpoint(&s)
            ),
            format!("qemu-nbd (pid {}) on {}", s.pid, endpoint(&s)),
            evidence(&s, &users),
            restart_fix(&s, users.len()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(argv: &[&str]) -> Server {
        parse_server(&NbdServerProcess {
            pid: 7,
            argv: argv.iter().map(|a| a.to_string()).collect(),
        })
    }

    #[test]
    fn option_forms() {
        let s = server(&["qemu-nbd", "-r", "-f", "raw", "-k", "/run/a.sock", "/i.iso"]);
        assert_eq!(
            (s.socket.as_deref(), s.shared, s.persistent),
            (Some(Path::new("/run/a.sock")), 1, false)
        );
        let s = server(&[
            "/usr/bin/qemu-nbd",
            "--shared=4",
            "-t",
            "--port",
            "10810",
            "x.iso",
        ]);
        assert_eq!((s.port, s.shared, s.persistent), (10810, 4, true));
        let s = server(&["qemu-nbd", "-e0", "--persistent", "--socket=/s", "x"]);
        assert_eq!((s.shared, s.socket.as_deref()), (0, Some(Path::new("/s"))));
    }

    #[test]
    fn urls_reach_their_server() {
        let unix = server(&["qemu-nbd", "-k", "/run/a.sock", "x"]);
        assert!(reaches("nbd+unix:///?socket=/run/a.sock", &unix));
        assert!(reaches("nbd+unix:///exp?socket=/run/a.sock", &unix));
        assert!(!reaches("nbd+unix:///?socket=/run/b.sock", &unix));
        assert!(!reaches("nbd://localhost/", &unix));
        let tcp = server(&["qemu-nbd", "-p", "10810", "x"]);
        assert!(reaches("nbd://127.0.0.1:10810/", &tcp));
        assert!(!reaches("nbd://127.0.0.1/", &tcp));
        assert!(!reaches("nbd://far.example:10810/", &tcp));
        let dflt = server(&["qemu-nbd", "x"]);
        assert!(reaches("nbd://localhost", &dflt));
    }

    #[test]
    fn the_fixed_command_keeps_everything_else() {
        let s = server(&[
            "qemu-nbd",
            "-r",
            "-e",
            "1",
            "-f",
            "raw",
            "-k",
            "/run/my sock",
            "/i.iso",
        ]);
        assert_eq!(
            fixed_command(&s, 3),
            "qemu-nbd --shared=3 --persistent -r -f raw -k '/run/my sock' /i.iso"
        );
        let s = server(&["qemu-nbd", "-t", "--shared=1", "x.iso"]);
        assert_eq!(
            fixed_command(&s, 2),
            "qemu-nbd --shared=2 --persistent x.iso"
        );
    }
}
