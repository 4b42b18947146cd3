//! `isotune exporter --web.config.file` (issue 11) through the real binary:
//! a self-signed certificate made by `openssl req`, bcrypt hashes made by
//! `htpasswd -nbBC 10`, `curl` as the client, and a real Prometheus
//! scraping over TLS with basic auth. Malformed configs stop the exporter
//! at start with exit 2 naming the file and line. Every process started is
//! killed by a Drop guard, also when an assertion fails.

use isotune_testutil as common;
use isotune_testutil::exporter::{free_addr, Killed};

use std::io::Read as _;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn wait_listening(addr: &str, what: &str, child: &mut Child) {
    let until = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(e) = child.stderr.as_mut() {
                let _ = e.read_to_string(&mut err);
            }
            panic!("{what} exited with {status}: {err}");
        }
        assert!(
            Instant::now() < until,
            "{what} did not start listening on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `openssl req`: a self-signed certificate for `localhost` and 127.0.0.1.
fn self_signed(dir: &Path) -> Option<()> {
    let openssl = common::tool("openssl")?;
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .args(["-keyout", "key.pem", "-out", "cert.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    Some(())
}

/// `htpasswd -nbBC 10 USER PASSWORD`: the bcrypt hash.
fn bcrypt_hash(user: &str, password: &str) -> Option<String> {
    let htpasswd = common::tool("htpasswd")?;
    let out = Command::new(htpasswd)
        .args(["-nbBC", "10", user, password])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    Some(line.trim().split_once(':').unwrap().1.to_string())
}

/// The exporter serving `config` (relative paths in it are relative to its
/// directory, so the exporter runs from elsewhere on purpose).
fn exporter(config: &Path) -> (Killed, String) {
    let addr = free_addr();
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["exporter", "--listen", &addr, "--web.config.file"])
        .arg(config)
        .current_dir("/")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_listening(&addr, "isotune exporter", &mut child);
    (Killed(child), addr)
}

fn curl(args: &[&str]) -> Option<Output> {
    let curl = common::tool("curl")?;
    Some(
        Command::new(curl)
            .args(["-sS", "-i", "--max-time", "20"])
            .args(args)
            .output()
            .unwrap(),
    )
}

fn status_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string()
}

fn web_config(dir: &Path, hash: &str) -> PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  min_version: TLS12\n\
             basic_auth_users:\n  prometheus: {hash}\n\
             http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn tls_and_basic_auth_through_curl() {
    let dir = tempfile::tempdir().unwrap();
    let (Some(()), Some(hash)) = (self_signed(dir.path()), bcrypt_hash("prometheus", "s3cret"))
    else {
        return;
    };
    let config = web_config(dir.path(), &hash);
    let (_exporter, addr) = exporter(&config);
    let port = addr.rsplit_once(':').unwrap().1;
    let https = format!("https://localhost:{port}/metrics");
    let cacert = dir.path().join("cert.pem").display().to_string();

    // Right password over TLS: the metrics, with the configured header.
    let Some(ok) = curl(&["--cacert", &cacert, "-u", "prometheus:s3cret", &https]) else {
        return;
    };
    let body = String::from_utf8_lossy(&ok.stdout);
    assert!(ok.status.success(), "{ok:?}");
    assert_eq!(status_line(&ok), "HTTP/1.1 200 OK", "{body}");
    assert!(body.contains("isotune_build_info"), "{body}");
    assert!(body.contains("X-Content-Type-Options: nosniff"), "{body}");
    // Twice more: the cached check answers the same.
    for _ in 0..2 {
        let again = curl(&["--cacert", &cacert, "-u", "prometheus:s3cret", &https]).unwrap();
        assert_eq!(status_line(&again), "HTTP/1.1 200 OK", "{again:?}");
    }

    // Wrong password, unknown user, no credentials: 401 asking for Basic.
    for creds in [
        &["-u", "prometheus:wrong"][..],
        &["-u", "nobody:s3cret"][..],
        &[][..],
    ] {
        let mut args = vec!["--cacert", cacert.as_str()];
        args.extend_from_slice(creds);
        args.push(&https);
        let out = curl(&args).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            status_line(&out),
            "HTTP/1.1 401 Unauthorized",
            "{creds:?}: {text}"
        );
        assert!(text.contains("WWW-Authenticate: Basic"), "{text}");
        assert!(!text.contains("isotune_build_info"), "{text}");
    }
    // Every route asks, not only /metrics.
    let healthy = format!("https://localhost:{port}/-/healthy");
    let out = curl(&["--cacert", &cacert, &healthy]).unwrap();
    assert_eq!(status_line(&out), "HTTP/1.1 401 Unauthorized", "{out:?}");

    // Two requests on one kept-alive connection through the TLS front.
    let out = curl(&[
        "--cacert",
        &cacert,
        "-u",
        "prometheus:s3cret",
        &https,
        &healthy,
    ])
    .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 2, "{out:?}");
    assert!(text.contains("Healthy"), "{text}");

    // Without the CA the certificate is not trusted; plain HTTP gets a 400
    // saying why, and no metrics.
    let out = curl(&["-u", "prometheus:s3cret", &https]).unwrap();
    assert!(!out.status.success(), "{out:?}");
    let plain = format!("http://{addr}/metrics");
    let out = curl(&["-u", "prometheus:s3cret", &plain]).unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status_line(&out), "HTTP/1.0 400 Bad Request", "{out:?}");
    assert!(text.contains("HTTPS server"), "{text}");
    assert!(!text.contains("isotune_build_info"), "{text}");

    // A client that connects and says nothing does not stall the others.
    let _idle = TcpStream::connect(&addr).unwrap();
    let out = curl(&["--cacert", &cacert, "-u", "prometheus:s3cret", &https]).unwrap();
    assert_eq!(status_line(&out), "HTTP/1.1 200 OK", "{out:?}");
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

#[test]
fn client_certificates_are_required_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let Some(()) = self_signed(dir.path()) else {
        return;
    };
    let d = dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    // A CA, and a client certificate it signs; a second, unrelated CA signs
    // a client certificate that must be refused.
    for name in ["ca", "other-ca"] {
        let subj = format!("/CN=isotune test {name}");
        let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subj];
        args.extend_from_slice(&ec);
        args.extend_from_slice(&["-keyout", &key, "-out", &cert]);
        openssl(d, &args);
    }
    std::fs::write(
        d.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for (client, ca) in [("client", "ca"), ("stranger", "other-ca")] {
        let subj = format!("/CN={client}");
        let (key, csr, cert) = (
            format!("{client}.key"),
            format!("{client}.csr"),
            format!("{client}.pem"),
        );
        let mut args = vec!["req", "-subj", &subj];
        args.extend_from_slice(&ec);
        args.extend_from_slice(&["-keyout", &key, "-out", &csr]);
        openssl(d, &args);
        let (ca_cert, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_cert,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "client.ext",
                "-out",
                &cert,
            ],
        );
    }
    let config = d.join("web.yml");
    std::fs::write(
        &config,
        "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n\
         \x20 client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n",
    )
    .unwrap();
    let (_exporter, addr) = exporter(&config);
    let port = addr.rsplit_once(':').unwrap().1;
    let url = format!("https://localhost:{port}/metrics");
    let cacert = d.join("cert.pem").display().to_string();
    let with = |name: &str| {
        let (cert, key) = (
            d.join(format!("{name}.pem")).display().to_string(),
            d.join(format!("{name}.key")).display().to_string(),
        );
        curl(&["--cacert", &cacert, "--cert", &cert, "--key", &key, &url])
    };
    let Some(ok) = with("client") else {
        return;
    };
    assert_eq!(status_line(&ok), "HTTP/1.1 200 OK", "{ok:?}");
    let stranger = with("stranger").unwrap();
    assert!(!stranger.status.success(), "{stranger:?}");
    let none = curl(&["--cacert", &cacert, &url]).unwrap();
    assert!(!none.status.success(), "{none:?}");
    assert!(
        !String::from_utf8_lossy(&none.stdout).contains("isotune_build_info"),
        "{none:?}"
    );
}

fn get(addr: &str, path: &str) -> String {
    use std::io::Write as _;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

/// `up` of each job, once Prometheus has scraped both.
fn up_by_job(prom: &str) -> Vec<(String, f64)> {
    let until = Instant::now() + Duration::from_secs(40);
    loop {
        let body = get(prom, "/api/v1/query?query=up");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let mut jobs: Vec<(String, f64)> = v["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        (
                            s["metric"]["job"].as_str().unwrap_or("").to_string(),
                            s["value"][1].as_str().unwrap_or("").parse().unwrap_or(-1.0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        jobs.sort_by(|a, b| a.0.cmp(&b.0));
        if jobs.len() == 2 {
            return jobs;
        }
        assert!(Instant::now() < until, "no up for both jobs: {body}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    let dir = tempfile::tempdir().unwrap();
    let Some(prometheus) = common::tool("prometheus") else {
        return;
    };
    let (Some(()), Some(hash)) = (self_signed(dir.path()), bcrypt_hash("prometheus", "s3cret"))
    else {
        return;
    };
    let config = web_config(dir.path(), &hash);
    let (_exporter, addr) = exporter(&config);
    let port = addr.rsplit_once(':').unwrap().1;
    let ca = dir.path().join("cert.pem");
    // Two jobs against the same exporter: the right password (up 1) and a
    // wrong one (up 0), so `up == 1` is not just "Prometheus is running".
    let job = |name: &str, password: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n\
             \x20   basic_auth:\n      username: prometheus\n      password: {password}\n\
             \x20   tls_config:\n      ca_file: {}\n\
             \x20   static_configs:\n      - targets: ['localhost:{port}']\n",
            ca.display()
        )
    };
    let prom_config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n{}{}",
        job("isotune", "s3cret"),
        job("wrong-password", "nope")
    );
    std::fs::write(dir.path().join("prometheus.yml"), prom_config).unwrap();
    let prom = free_addr();
    let mut child = Command::new(prometheus)
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_listening(&prom, "prometheus", &mut child);
    let _prometheus = Killed(child);

    let up = up_by_job(&prom);
    assert_eq!(
        up,
        [
            ("isotune".to_string(), 1.0),
            ("wrong-password".to_string(), 0.0)
        ]
    );
}

/// Runs the exporter on a config and returns (exit code, stderr).
fn start_fails(dir: &Path, config: &str) -> (Option<i32>, String) {
    let path = dir.join("web.yml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(assert_cmd::cargo::cargo_bin("isotune"))
        .args(["exporter", "--listen", "127.0.0.1:0", "--web.config.file"])
        .arg(&path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_web_configs_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let Some(()) = self_signed(dir.path()) else {
        return;
    };
    let file = dir.path().join("web.yml").display().to_string();
    let good_hash = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";
    let cases = [
        // Bad YAML: a key indented under a scalar.
        (
            "tls_server_config:\n  cert_file: cert.pem\n   key_file: key.pem\n".to_string(),
            ":3:",
            "mapping values are not allowed",
        ),
        // A key the toolkit does not have.
        (
            "tls_server_config:\n  cert_file: cert.pem\n  keyfile: key.pem\n".to_string(),
            ":3:3:",
            "unknown field `keyfile`",
        ),
        (
            format!("basic_auth_users:\n  a: {good_hash}\nweb_config: 1\n"),
            ":3:1:",
            "unknown field `web_config`",
        ),
        // A certificate file that is not there (relative to web.yml's dir).
        (
            "\ntls_server_config:\n  cert_file: missing.pem\n  key_file: key.pem\n".to_string(),
            ":3:3:",
            "missing.pem",
        ),
        // A key file that holds no key.
        (
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: cert.pem\n".to_string(),
            ":3:3:",
            "key_file",
        ),
        // A bcrypt hash that is not one.
        (
            format!("basic_auth_users:\n  alice: {good_hash}\n  bob: $2y$10$tooshort\n"),
            ":3:3:",
            "bob: not a bcrypt hash",
        ),
        // A toolkit key isotune does not implement is refused, not ignored.
        (
            "tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n  client_auth_type: RequireAnyClientCert\n".to_string(),
            ":4:3:",
            "not supported",
        ),
    ];
    for (config, position, problem) in cases {
        let (code, stderr) = start_fails(dir.path(), &config);
        assert_eq!(code, Some(2), "{config}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{config}: {stderr}");
        let at = format!("{file}{position}");
        assert!(stderr.contains(&at), "{config}: want {at} in {stderr}");
        assert!(
            stderr.contains(problem),
            "{config}: want {problem} in {stderr}"
        );
    }
}
