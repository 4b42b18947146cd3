//! The Ansible collection in `deploy/ansible` (role `isotune.kvm.isotune`,
//! module `isotune.kvm.tune`) run by Debian's `ansible-playbook` over real
//! SSH: one `sshd` on 127.0.0.2, .3 and .4 with keys made in a temporary
//! directory, three inventory hosts that are all this machine, each with its
//! own bin dir, state dir, `--root`, ISO set and exporter port; the second
//! downloads the binary from `busybox httpd`, the third has a libvirt domain
//! with an IDE cdrom for `tune` to move. Runs ansible-lint, then install
//! (twice: no change; a wrong checksum and a mistyped variable refused),
//! check (reports fetched; doctor's exit 1, an error finding, is no failure), tune in
//! --check --diff mode (the domain unchanged), tune (changed), tune again
//! (no change), rollback (the domain's XML restored), exporter (each port
//! answers, the file_sd file names every host and promtool accepts it).
//! Issue 13.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isotune_testutil::exporter::{free_port, Killed};
use isotune_testutil::http::Httpd;
use isotune_testutil::libvirtd::{
    cdrom_disk, hlt_iso, tcg_domain_xml, unique_prefix, virsh, Libvirtd, TestDomain, URI,
};
use isotune_testutil::{mkisofs, put, run, skip, tool};
use serde_json::Value;

const HOSTS: [&str; 3] = ["hv2", "hv3", "hv4"];
const PRIVSEP_DIR: &str = "/run/sshd";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `sshd -D` on the three loopback addresses; killed on drop, and
/// `/run/sshd` removed again when this test made it.
struct Sshd {
    _child: Killed,
    made_privsep_dir: bool,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if self.made_privsep_dir {
            let _ = std::fs::remove_dir(PRIVSEP_DIR);
        }
    }
}

impl Sshd {
    fn start(dir: &Path, port: u16) -> Sshd {
        let keygen = |file: &Path| {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", "isotune-test", "-f"])
                .arg(file));
        };
        keygen(&dir.join("host_key"));
        keygen(&dir.join("id_client"));
        std::fs::copy(dir.join("id_client.pub"), dir.join("authorized_keys")).unwrap();
        let listen: String = HOSTS
            .iter()
            .enumerate()
            .map(|(i, _)| format!("ListenAddress 127.0.0.{}:{port}\n", i + 2))
            .collect();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "{listen}HostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 StrictModes no\nUsePAM no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
                d = dir.display()
            ),
        )
        .unwrap();
        let made_privsep_dir = !Path::new(PRIVSEP_DIR).exists();
        if made_privsep_dir {
            std::fs::create_dir_all(PRIVSEP_DIR).unwrap();
        }
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("start sshd");
        let sshd = Sshd {
            _child: Killed(child),
            made_privsep_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        for i in 0..HOSTS.len() {
            let addr = format!("127.0.0.{}:{port}", i + 2);
            while TcpStream::connect(&addr).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "sshd does not listen on {addr}: {}",
                    std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        sshd
    }
}

/// Exporters the role started with start-stop-daemon: killed by the pids
/// in their pidfiles on drop.
struct Pidfiles(Vec<PathBuf>);

impl Drop for Pidfiles {
    fn drop(&mut self) {
        for p in &self.0 {
            if let Some(pid) = std::fs::read_to_string(p)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok())
            {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

/// The SSH connections Ansible keeps open (ControlPersist) between
/// tasks: closed on drop through their control sockets.
struct SshMasters(PathBuf);

impl Drop for SshMasters {
    fn drop(&mut self) {
        for e in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            let _ = Command::new("ssh")
                .args(["-O", "exit", "-o"])
                .arg(format!("ControlPath={}", e.path().display()))
                .arg("isotune-test")
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// One `ansible-playbook` run of the example playbook with the json
/// callback: the parsed result and the run's stderr.
struct Play {
    dir: PathBuf,
}

impl Play {
    /// `ansible-playbook site.yml ARGS` with the test's config.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ansible-playbook");
        c.arg(repo().join("deploy/ansible/examples/site.yml"))
            // Connected as root: no sudo needed (or installed) here.
            .args(["-e", "ansible_become=false", "-f", "3"])
            .args(args)
            .env("ANSIBLE_CONFIG", self.dir.join("ansible.cfg"))
            .env("ANSIBLE_HOME", self.dir.join("ansible-home"))
            .env("ANSIBLE_NOCOLOR", "1");
        c
    }

    /// A run that must fail: its output (the default callback's).
    fn fails(&self, args: &[&str]) -> String {
        let out = self.command(args).output().expect("run ansible-playbook");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            !out.status.success(),
            "ansible-playbook {args:?} passed:\n{text}"
        );
        text
    }

    fn run(&self, args: &[&str]) -> Value {
        let started = Instant::now();
        let out = self
            .command(args)
            .env("ANSIBLE_STDOUT_CALLBACK", "json")
            .output()
            .expect("run ansible-playbook");
        eprintln!(
            "ansible-playbook {args:?}: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
            panic!(
                "ansible-playbook {args:?}: no JSON ({e}):\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            out.status.success(),
            "ansible-playbook {args:?} failed ({}):\n{}\n{}",
            out.status,
            failures(&v),
            String::from_utf8_lossy(&out.stderr)
        );
        v
    }
}

/// Every task result of `host` in a json-callback run: (task name, result).
fn results<'a>(v: &'a Value, host: &str) -> Vec<(&'a str, &'a Value)> {
    v["plays"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["tasks"].as_array().unwrap())
        .filter_map(|t| {
            let r = t["hosts"].get(host)?;
            // "isotune.kvm.isotune : Copy the binary": the task's own name.
            let name = t["task"]["name"].as_str().unwrap_or("");
            Some((name.rsplit(" : ").next().unwrap_or(name), r))
        })
        .collect()
}

/// The role's tasks that write on the controller (reports, file_sd), not
/// on the host.
const CONTROLLER_TASKS: [&str; 6] = [
    "Create the host's report directory on the controller",
    "Save the doctor report on the controller",
    "Save the check reports on the controller",
    "Save the verify report on the controller",
    "Create the file_sd directory on the controller",
    "Write the Prometheus file_sd targets of every host of the play",
];

/// The names of the tasks that changed something on `host` itself.
fn changed<'a>(v: &'a Value, host: &str) -> Vec<&'a str> {
    results(v, host)
        .into_iter()
        .filter(|(n, r)| r["changed"] == true && !CONTROLLER_TASKS.contains(n))
        .map(|(n, _)| n)
        .collect()
}

/// A run that changed nothing on any host.
fn no_change(v: &Value) {
    for host in HOSTS {
        let c = changed(v, host);
        assert!(c.is_empty(), "{host}: {c:?}");
    }
}

/// The failed tasks of a run, for the message of a failed assertion.
fn failures(v: &Value) -> String {
    let mut s = String::new();
    for host in HOSTS {
        for (name, r) in results(v, host) {
            if r["failed"] == true || r["unreachable"] == true {
                s += &format!("{host}: {name}: {}\n", r["msg"]);
            }
        }
    }
    s
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

fn inactive(name: &str) -> String {
    virsh(&["dumpxml", "--inactive", name]).expect("virsh dumpxml --inactive")
}

/// A small ISO made by xorriso from one file.
fn small_iso(dir: &Path, name: &str, body: &str) -> Option<PathBuf> {
    let tree = dir.join(format!("tree-{name}"));
    put(&tree, "README.TXT", body.as_bytes());
    let iso = dir.join(format!("{name}.iso"));
    mkisofs(&tree, &iso, &["-V", name])?;
    std::fs::remove_dir_all(tree).unwrap();
    Some(iso)
}

/// GET `path` from `addr`; the body of a 200 answer.
fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}

#[test]
fn role_install_check_tune_rollback_exporter_over_ssh_issue_13() {
    for t in [
        "ansible-playbook",
        "ansible-lint",
        "sshd",
        "ssh-keygen",
        "start-stop-daemon",
        "sha256sum",
        "promtool",
        "strip",
    ] {
        if tool(t).is_none() {
            return;
        }
    }
    if !Path::new("/usr/sbin/sshd").exists() {
        return skip("/usr/sbin/sshd is missing (openssh-server)");
    }
    let Some(_daemon) = Libvirtd::acquire() else {
        return;
    };
    // On a disk filesystem QEMU can open (libvirt's domain reads the ISO).
    let tmp = tempfile::tempdir_in("/var/tmp").unwrap();
    let dir = tmp.path();

    // Lint first: a role that does not lint is not run.
    let lint = Command::new("ansible-lint")
        .args(["--offline", "--nocolor"])
        .current_dir(repo().join("deploy/ansible/ansible_collections/isotune/kvm"))
        .env("ANSIBLE_HOME", dir.join("ansible-home"))
        // ansible-lint keeps a cache under ~/.cache: the test's own.
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("ANSIBLE_COLLECTIONS_PATH", repo().join("deploy/ansible"))
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "ansible-lint:\n{}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    let ssh_port = free_port();
    let _sshd = Sshd::start(dir, ssh_port);

    // hv2 and hv3: ISOs found in their pool directories; hv4: one ISO named
    // in the inventory and a libvirt domain with it on an IDE cdrom.
    let mut isos: Vec<Vec<PathBuf>> = Vec::new();
    for (i, host) in HOSTS.iter().enumerate() {
        let h = dir.join(host);
        for sub in ["bin", "state", "root", "pool"] {
            std::fs::create_dir_all(h.join(sub)).unwrap();
        }
        let set = match i {
            0 => vec![
                small_iso(&h.join("pool"), "alpha", "alpha\n").unwrap(),
                small_iso(&h.join("pool"), "beta", "beta beta\n").unwrap(),
            ],
            1 => vec![small_iso(&h.join("pool"), "gamma", "gamma\n").unwrap()],
            _ => vec![hlt_iso(&h.join("pool"), "delta", 13, 64 << 10).unwrap()],
        };
        isos.push(set);
    }
    let name = format!("{}ansible", unique_prefix());
    let domain = TestDomain::define(
        &name,
        &tcg_domain_xml(
            &name,
            "pc",
            &cdrom_disk(&isos[2][0], "raw", "hdc", "ide"),
            "",
        ),
        dir,
    );
    let original = inactive(&domain.name);

    // The binary without its debug info (a sixth of the bytes to checksum
    // and copy three times); the same code. hv3 downloads it over HTTP, the
    // others get it copied from the controller.
    let bin = dir.join("www/isotune");
    std::fs::create_dir_all(dir.join("www")).unwrap();
    run(Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(assert_cmd::cargo::cargo_bin("isotune")));
    let sha = run(Command::new("sha256sum").arg(&bin));
    let sha = sha.split_whitespace().next().unwrap();
    let Some(httpd) = Httpd::start(&dir.join("www")) else {
        return;
    };
    let ports: Vec<u16> = HOSTS.iter().map(|_| free_port()).collect();
    let reports = dir.join("reports");
    let file_sd = dir.join("file_sd/isotune.json");

    let mut inventory = String::from("all:\n  children:\n    hypervisors:\n      hosts:\n");
    for (i, host) in HOSTS.iter().enumerate() {
        let h = dir.join(host);
        inventory += &format!(
            "        {host}:\n          ansible_host: 127.0.0.{ip}\n\
             \x20         isotune_bin_dir: {h}/bin\n          isotune_state_dir: {h}/state\n\
             \x20         isotune_root: {h}/root\n          isotune_iso_dirs: [{h}/pool]\n\
             \x20         isotune_exporter_listen: 127.0.0.{ip}:{port}\n\
             \x20         isotune_exporter_pidfile: {h}/exporter.pid\n\
             \x20         isotune_exporter_log: {h}/exporter.log\n",
            ip = i + 2,
            h = h.display(),
            port = ports[i],
        );
        if *host == "hv3" {
            inventory += &format!(
                "          isotune_src: \"\"\n          \
                 isotune_url: http://127.0.0.1:{}/isotune\n",
                httpd.port
            );
        }
    }
    inventory += &format!(
        "          isotune_isos: [{}]\n          isotune_connect: {URI}\n\
         \x20         isotune_domains: [{name}]\n          isotune_tune_allow: [cdrom.ide-bus]\n\
         \x20 vars:\n    ansible_user: root\n    ansible_port: {ssh_port}\n\
         \x20   ansible_ssh_private_key_file: {d}/id_client\n\
         \x20   ansible_python_interpreter: /usr/bin/python3\n\
         \x20   isotune_src: {bin}\n    isotune_sha256: {sha}\n\
         \x20   isotune_reports_dir: {reports}\n    isotune_file_sd_path: {sd}\n",
        isos[2][0].display(),
        d = dir.display(),
        bin = bin.display(),
        reports = reports.display(),
        sd = file_sd.display(),
    );
    std::fs::write(dir.join("inventory.yml"), inventory).unwrap();
    std::fs::write(
        dir.join("ansible.cfg"),
        format!(
            "[defaults]\ninventory = {d}/inventory.yml\ncollections_path = {c}\n\
             local_tmp = {d}/ansible-local\nremote_tmp = {d}/ansible-remote\n\
             host_key_checking = False\nretry_files_enabled = False\n\
             [ssh_connection]\npipelining = True\ncontrol_path_dir = {d}/cp\n\
             ssh_args = -o ControlMaster=auto -o ControlPersist=120s -o StrictHostKeyChecking=no \
             -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes\n",
            d = dir.display(),
            c = repo().join("deploy/ansible").display()
        ),
    )
    .unwrap();
    let _masters = SshMasters(dir.join("cp"));
    let play = Play {
        dir: dir.to_owned(),
    };
    let _exporters = Pidfiles(
        HOSTS
            .iter()
            .map(|h| dir.join(h).join("exporter.pid"))
            .collect(),
    );

    // install: the binary copied or downloaded (checksum-verified), then
    // nothing to do.
    let v = play.run(&["--tags", "install"]);
    for host in HOSTS {
        let task = if host == "hv3" {
            "Download the binary"
        } else {
            "Copy the binary"
        };
        assert!(
            changed(&v, host).contains(&task),
            "{host}: {:?}",
            changed(&v, host)
        );
        assert!(dir.join(host).join("bin/isotune").is_file());
    }
    // A wrong checksum is refused before anything is copied.
    let bad = format!("isotune_sha256={}", "0".repeat(64));
    let text = play.fails(&["-e", &bad, "--tags", "install"]);
    assert!(text.contains("is not isotune_sha256"), "{text}");
    assert!(text.contains("did not match"), "hv3's download: {text}");
    // A variable of the wrong type fails when the role starts.
    let text = play.fails(&["-e", "isotune_file_sd_labels=notadict", "--tags", "check"]);
    assert!(text.contains("isotune_file_sd_labels"), "{text}");

    // install again: no change; check: the reports on the controller.
    let v = play.run(&["--tags", "install,check"]);
    no_change(&v);
    for (i, host) in HOSTS.iter().enumerate() {
        let doctor = read_json(&reports.join(host).join("doctor.json"));
        assert!(doctor["schema_version"].is_u64(), "{doctor:#}");
        assert!(doctor["findings"].is_array() && doctor["verdict"].is_string());
        let mut names: Vec<String> = std::fs::read_dir(reports.join(host))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("check-"))
            .collect();
        names.sort();
        let want: Vec<String> = isos[i]
            .iter()
            .map(|p| format!("check-{}.json", p.file_stem().unwrap().to_string_lossy()))
            .collect();
        assert_eq!(names, want, "{host}");
        for (n, iso) in names.iter().zip(&isos[i]) {
            let check = read_json(&reports.join(host).join(n));
            assert!(check["schema_version"].is_u64(), "{check:#}");
            assert_eq!(check["sample"], false, "{n}");
            assert!(
                check.to_string().contains(&*iso.to_string_lossy()),
                "{n} is not about {}",
                iso.display()
            );
        }
    }
    // `isotune fleet report` on the fetched tree: every host and report
    // read, findings by id, nothing missing, corrupt or duplicated.
    let out = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["fleet", "report", "--json"])
        .arg(&reports)
        .output()
        .unwrap();
    let fleet: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(matches!(out.status.code(), Some(0 | 1)), "{fleet:#}");
    let s = &fleet["summary"];
    assert_eq!(s["hosts_seen"], HOSTS.len(), "{fleet:#}");
    assert_eq!(s["hosts_reporting"], HOSTS.len(), "{fleet:#}");
    assert_eq!(s["reports"]["doctor"], HOSTS.len(), "{fleet:#}");
    let checks: usize = isos.iter().map(Vec::len).sum();
    assert_eq!(s["reports"]["check"], checks, "{fleet:#}");
    assert!(fleet["missing"].as_array().unwrap().is_empty(), "{fleet:#}");
    assert!(
        fleet["warnings"].as_array().unwrap().is_empty(),
        "{fleet:#}"
    );
    assert!(
        !fleet["findings"].as_array().unwrap().is_empty(),
        "{fleet:#}"
    );

    // tune in --check mode: the plan says what would change, nothing does.
    let v = play.run(&["--tags", "tune", "--check", "--diff"]);
    let tuned = |v: &Value, host: &str| -> Value {
        results(v, host)
            .into_iter()
            .find(|(n, _)| *n == "Apply the allowed changes of isotune's plan")
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{host}: no tune result"))
    };
    let r = tuned(&v, "hv4");
    assert_eq!(r["changed"], true, "{r:#}");
    let diff = r["diff"]["prepared"].as_str().unwrap_or_default();
    assert!(
        diff.contains("-      <target dev='hdc' bus='ide'/>"),
        "{r:#}"
    );
    assert_eq!(
        inactive(&domain.name),
        original,
        "--check changed the domain"
    );
    for host in ["hv2", "hv3"] {
        assert_eq!(tuned(&v, host)["changed"], false, "{host}: nothing allowed");
    }

    // tune: the cdrom moves off IDE; verify's report is fetched.
    let v = play.run(&["--tags", "tune"]);
    let r = tuned(&v, "hv4");
    assert_eq!(r["changed"], true, "{r:#}");
    let now = inactive(&domain.name);
    assert!(
        now.contains("bus='sata'") && !now.contains("bus='ide'"),
        "{now}"
    );
    for host in ["hv2", "hv3"] {
        assert!(
            changed(&v, host).is_empty(),
            "{host}: {:?}",
            changed(&v, host)
        );
    }
    let verify = read_json(&reports.join("hv4/tune-verify.json"));
    assert_eq!(verify["items"][0]["state"]["code"], "ok", "{verify:#}");

    // tune again: nothing left to apply.
    let v = play.run(&["--tags", "tune"]);
    for host in HOSTS {
        assert_eq!(tuned(&v, host)["changed"], false, "{host}");
    }
    assert_eq!(inactive(&domain.name), now);

    // rollback: libvirt's own form of the original XML, byte for byte;
    // a second rollback changes nothing.
    let v = play.run(&["--tags", "rollback"]);
    assert!(
        changed(&v, "hv4").contains(&"Roll back every change isotune applied"),
        "{:?}",
        changed(&v, "hv4")
    );
    assert_eq!(inactive(&domain.name), original);
    let v = play.run(&["--tags", "rollback"]);
    no_change(&v);

    // exporter: started on each port, the file_sd file names all three;
    // a second run changes nothing on the hosts.
    play.run(&["--tags", "exporter"]);
    for (i, host) in HOSTS.iter().enumerate() {
        let addr = format!("127.0.0.{}:{}", i + 2, ports[i]);
        let body = http_get(&addr, "/metrics").unwrap_or_else(|| panic!("{host}: {addr}"));
        assert!(body.contains("isotune_"), "{host}: {body}");
    }
    let sd = read_json(&file_sd);
    let mut groups: Vec<(String, String)> = sd
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            assert_eq!(g["targets"].as_array().unwrap().len(), 1, "{sd:#}");
            (
                g["labels"]["host"].as_str().unwrap().to_owned(),
                g["targets"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    groups.sort();
    let want: Vec<(String, String)> = HOSTS
        .iter()
        .enumerate()
        .map(|(i, h)| (h.to_string(), format!("127.0.0.{}:{}", i + 2, ports[i])))
        .collect();
    assert_eq!(groups, want, "{sd:#}");
    // Prometheus accepts it: the scrape job of docs/fleet.md.
    let prom = dir.join("prometheus.yml");
    std::fs::write(
        &prom,
        format!(
            "scrape_configs:\n  - job_name: isotune\n    file_sd_configs:\n      - files: ['{}']\n\
             rule_files:\n  - {}\n",
            file_sd.display(),
            repo().join("deploy/prometheus/isotune-rules.yml").display()
        ),
    )
    .unwrap();
    run(Command::new("promtool")
        .args(["check", "config"])
        .arg(&prom));
    let v = play.run(&["--tags", "exporter"]);
    no_change(&v);
}
