//! A self-signed TLS certificate for loopback servers in tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `cert.pem` and `key.pem` in `dir`: a self-signed certificate for
/// `127.0.0.1` (CN localhost, not a CA: webpki refuses a CA certificate as
/// the server's own). `None` (after [`crate::skip`]) without openssl.
pub fn self_signed(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let openssl = crate::tool("openssl")?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    crate::run(
        Command::new(openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args([
                "-subj",
                "/CN=localhost",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ])
            .args(["-addext", "basicConstraints=critical,CA:FALSE"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stderr(Stdio::null()),
    );
    Some((cert, key))
}
