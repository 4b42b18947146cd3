//! `busybox httpd` serving a directory on a free loopback port, for tests
//! that download: QEMU's curl driver reading an HTTP ISO (it needs the Range
//! requests busybox answers), Ansible's `get_url` installing the binary.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::exporter::{free_port, Killed};

/// The server, killed when dropped.
#[derive(Debug)]
pub struct Httpd {
    _child: Killed,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Httpd {
    /// Serves `dir`; `None` (after [`crate::skip`]) without busybox.
    pub fn start(dir: &Path) -> Option<Httpd> {
        let busybox = crate::tool("busybox")?;
        let port = free_port();
        let child = Command::new(busybox)
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
            .arg(dir)
            .spawn()
            .expect("cannot start busybox httpd");
        let server = Httpd {
            _child: Killed(child),
            port,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("busybox httpd did not listen on port {port}");
    }
}
