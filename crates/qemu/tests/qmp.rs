//! The QMP client against a real QEMU (TCG, paused, no devices).

use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use isotune_qemu::cleanup::ChildGuard;
use isotune_qemu::qmp::{self, Qmp};
use isotune_qemu::ErrorKind;

fn start_qemu(dir: &std::path::Path) -> Option<(ChildGuard, Qmp<UnixStream>, qmp::Greeting)> {
    let qemu = isotune_testutil::tool("qemu-system-x86_64")?;
    let sock = dir.join("qmp.sock");
    let guard = ChildGuard::spawn(
        Command::new(qemu)
            .args(["-S", "-display", "none", "-nodefaults", "-no-user-config"])
            .args(["-accel", "tcg", "-qmp"])
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    )
    .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match qmp::connect_unix(&sock, Duration::from_secs(5)) {
            Ok((q, g)) => return Some((guard, q, g)),
            Err(_) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("cannot connect to QMP: {e}"),
        }
    }
}

#[test]
fn qmp_against_real_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let Some((mut guard, mut q, greeting)) = start_qemu(dir.path()) else {
        return;
    };
    assert!(greeting.version.qemu.major >= 6, "{greeting:?}");
    let st = q.query_status().unwrap();
    assert!(!st.running);
    assert_eq!(st.status, "prelaunch");
    let kvm = q.query_kvm().unwrap();
    assert!(!kvm.enabled);
    assert_eq!(q.query_version().unwrap().qemu, greeting.version.qemu);
    assert!(q.query_blockstats().unwrap().is_empty());

    let e = q.execute("query-no-such-thing", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Command);
    assert_eq!(e.qmp_error().unwrap().class, "CommandNotFound");

    q.cont().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let resume = q.wait_event("RESUME", deadline).unwrap();
    assert!(resume.timestamp.seconds > 0);
    assert!(q.query_status().unwrap().running);
    q.stop().unwrap();
    q.wait_event("STOP", deadline).unwrap();

    q.quit().unwrap();
    // QEMU announces the shutdown, then closes the socket.
    match q.wait_event("SHUTDOWN", deadline) {
        Ok(ev) => assert_eq!(ev.data["reason"], "host-qmp-quit"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::Disconnected),
    }
    let e = q.wait_event("NEVER", deadline).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Disconnected);
    assert!(guard.finish(Duration::from_secs(5)).unwrap().success());
}

#[test]
fn qmp_read_timeout_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let Some((_guard, mut q, _)) = start_qemu(dir.path()) else {
        return;
    };
    q.get_ref()
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let t = Instant::now();
    // No event comes while the guest is paused.
    let e = q
        .wait_event("RESUME", Instant::now() + Duration::from_millis(300))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(t.elapsed() < Duration::from_secs(2));
    // The connection is still usable.
    assert_eq!(q.query_status().unwrap().status, "prelaunch");
}
