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
        ..ScanOptions::default()
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

#[test]
fn libvirt_test_driver_domain_is_read() {
    // libvirt's built-in test driver: no daemon, one running domain "test".
    let s = scan("test:///default", &ScanOptions::default());
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    let d = s
        .domains
        .iter()
        .find(|d| d.name == "test")
        .expect("domain test");
    assert_eq!(d.state, isotune_libvirt::DomainState::Running);
    let live = d.live.as_ref().unwrap();
    assert_eq!(live.name.as_deref(), Some("test"));
    assert!(matches!(
        &live.origin,
        isotune_vmconfig::Origin::Libvirt { domain, .. } if domain == "test"
    ));
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["domains"][0]["state"], "running");
}
