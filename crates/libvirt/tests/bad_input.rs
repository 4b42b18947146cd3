//! libvirt that cannot be read: a missing socket, a daemon that accepts and
//! never answers (hung), one that hangs up. The scan returns warnings, in
//! bounded time, and never panics.

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use isotune_libvirt::{scan, LibvirtWarning, ScanOptions};

fn uri(sock: &std::path::Path) -> String {
    format!("qemu+unix:///system?socket={}", sock.display())
}

#[test]
fn missing_socket_is_an_unreachable_warning() {
    let dir = tempfile::tempdir().unwrap();
    let s = scan(&uri(&dir.path().join("nope.sock")), &ScanOptions::default());
    assert!(s.domains.is_empty());
    match &s.warnings[..] {
        [LibvirtWarning::Unreachable { reason, .. }] => {
            assert!(reason.contains("nope.sock"), "{reason}")
        }
        w => panic!("{w:?}"),
    }
}

#[test]
fn hung_daemon_times_out_naming_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("hung.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // Accepts and reads, never answers: a libvirtd stuck mid-call.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming().flatten() {
            held.push(c);
        }
    });
    let opts = ScanOptions {
        call_timeout: Duration::from_secs(1),
    };
    let t = Instant::now();
    let s = scan(&uri(&sock), &opts);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert_eq!(
        s.warnings,
        [LibvirtWarning::Timeout {
            call: "virConnectOpenReadOnly".into(),
            timeout_seconds: 1
        }]
    );
    assert!(s.warnings[0].to_string().contains("virConnectOpenReadOnly"));
}

#[test]
fn daemon_hanging_up_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("gone.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // Reads the first request and hangs up: a libvirtd stopped mid-run.
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let mut buf = [0u8; 64];
            let _ = c.read(&mut buf);
        }
    });
    let s = scan(&uri(&sock), &ScanOptions::default());
    assert!(s.domains.is_empty());
    assert!(
        matches!(s.warnings[..], [LibvirtWarning::Unreachable { .. }]),
        "{:?}",
        s.warnings
    );
}
