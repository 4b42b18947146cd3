//! Helpers shared by the `isotune exporter` tests: a free loopback port, a
//! child killed on drop, a value read from Prometheus text, and an ISO
//! that SeaBIOS boots into an idle loop.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Child;

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `127.0.0.1:PORT` on a [`free_port`].
pub fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// A child process killed and reaped when dropped (also when a test fails).
#[derive(Debug)]
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The value of the first sample of metric `name` in Prometheus text whose
/// labels include every `want` pair.
pub fn metric_value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, v) = l.rsplit_once(' ')?;
        let (n, labels) = series.split_once('{').unwrap_or((series, ""));
        let ok = n == name
            && want
                .iter()
                .all(|(k, val)| labels.contains(&format!("{k}=\"{val}\"")));
        ok.then(|| v.parse().ok()).flatten()
    })
}

/// An ISO whose El Torito image is `hlt; jmp $-1`: SeaBIOS loads it from
/// the cdrom (one 2 KiB sector per request on IDE) and the guest idles.
/// `None` (after [`crate::skip`]) without xorriso.
pub fn halting_iso(dir: &Path) -> Option<PathBuf> {
    let mut code = vec![0xf4, 0xeb, 0xfd];
    code.resize(16 << 10, 0);
    crate::put(&dir.join("tree"), "boot/hlt.bin", &code);
    let iso = dir.join("hlt.iso");
    let args = [
        "-b",
        "boot/hlt.bin",
        "-no-emul-boot",
        "-boot-load-size",
        "32",
    ];
    crate::mkisofs(&dir.join("tree"), &iso, &args)?;
    Some(iso)
}
