//! Making sure no QEMU outlives its run.
//!
//! [`ChildGuard`] starts a command as the leader of a new process group and,
//! when dropped (normal end, error or panic), sends SIGKILL to the whole
//! group and reaps the leader. When isotune itself is killed with SIGKILL
//! no destructor runs, so the child is also started with a parent-death
//! signal (`PR_SET_PDEATHSIG` = SIGKILL): the kernel kills it when the
//! *thread* that spawned it exits, which for the CLI is the main thread,
//! i.e. the whole process. (QEMU 10.0 has no `-run-with exit-with-parent`.) The group is killed *before* the leader is
//! reaped: while the leader is an unreaped zombie its pid, and so the group
//! id, cannot be reused, so the signal can never reach an unrelated process.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};

/// A child process in its own process group, killed with its group on drop.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    pid: Pid,
    reaped: Option<ExitStatus>,
}

impl ChildGuard {
    /// Spawns `cmd` as the leader of a new process group that the kernel
    /// kills when the calling thread exits. Call it from a thread that
    /// outlives the child (the guard's owner).
    pub fn spawn(cmd: &mut Command) -> io::Result<ChildGuard> {
        let parent = rustix::process::getpid();
        die_with_parent(cmd, parent);
        let child = cmd.process_group(0).spawn()?;
        let pid = Pid::from_child(&child);
        Ok(ChildGuard {
            child,
            pid,
            reaped: None,
        })
    }

    /// The process id (also the process group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The child, e.g. to take its pipes.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Whether the leader has exited, without reaping it (so the group id
    /// stays reserved until [`ChildGuard::finish`] or drop).
    pub fn has_exited(&self) -> bool {
        if self.reaped.is_some() {
            return true;
        }
        let opts = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        matches!(
            rustix::process::waitid(WaitId::Pid(self.pid), opts),
            Ok(Some(_)) | Err(_)
        )
    }

    /// Waits up to `grace` for the leader to exit by itself, then kills the
    /// group and reaps the leader. Returns its exit status.
    pub fn finish(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        let until = Instant::now() + grace;
        while !self.has_exited() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.kill_and_reap()
    }

    fn kill_and_reap(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.reaped {
            return Ok(status);
        }
        // ESRCH (the whole group already gone) is fine.
        let _ = rustix::process::kill_process_group(self.pid, Signal::KILL);
        let status = self.child.wait()?;
        self.reaped = Some(status);
        Ok(status)
    }
}

/// Sets SIGKILL as the child's parent-death signal between fork and exec.
#[allow(unsafe_code)] // pre_exec: the only way to run prctl in the child
fn die_with_parent(cmd: &mut Command, parent: Pid) {
    // SAFETY: the closure runs in the forked child before exec, where only
    // async-signal-safe work is allowed: it makes two system calls
    // (prctl(PR_SET_PDEATHSIG) and getppid) through rustix, which neither
    // allocates nor takes locks, and builds an io::Error from an errno.
    unsafe {
        cmd.pre_exec(move || {
            rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
            // The parent may have died between fork and prctl: then the
            // signal will never come, so do not start at all.
            if rustix::process::getppid() != Some(parent) {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            Ok(())
        });
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.kill_and_reap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
    }

    #[test]
    fn drop_kills_the_whole_group() {
        // The shell starts a grandchild in the same group, then waits.
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & echo $!; wait"])
            .stdout(std::process::Stdio::piped());
        let mut g = ChildGuard::spawn(&mut cmd).unwrap();
        let mut out = g.child_mut().stdout.take().unwrap();
        let mut buf = [0u8; 32];
        let n = io::Read::read(&mut out, &mut buf).unwrap();
        let grandchild: u32 = std::str::from_utf8(&buf[..n])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let leader = g.id();
        assert!(alive(leader) && alive(grandchild));
        assert!(!g.has_exited());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _g = g;
            panic!("boom");
        }));
        assert!(r.is_err());
        assert!(!alive(leader));
        // The grandchild was reparented to init (or a subreaper) once killed;
        // give the reaper a moment.
        let until = Instant::now() + Duration::from_secs(2);
        while alive(grandchild) && Instant::now() < until {
            if std::fs::read_to_string(format!("/proc/{grandchild}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let stat = std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
        assert!(stat.is_empty() || stat.contains(") Z "), "{stat}");
    }

    /// The child dies with the thread that spawned it, even when the guard
    /// is leaked (as after a SIGKILL, where no destructor runs).
    #[test]
    fn child_dies_with_its_spawning_thread() {
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let g = ChildGuard::spawn(Command::new("sleep").arg("30")).unwrap();
            tx.send(g.id()).unwrap();
            std::mem::forget(g);
        });
        let pid = rx.recv().unwrap();
        t.join().unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Dead: gone, or a zombie waiting for us (its parent) to reap.
            if stat.is_empty() || stat.contains(") Z ") {
                break;
            }
            assert!(Instant::now() < until, "child {pid} survived: {stat}");
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = rustix::process::waitpid(
            Pid::from_raw(pid as i32),
            rustix::process::WaitOptions::NOHANG,
        );
    }

    #[test]
    fn finish_reports_the_exit_status() {
        let mut g = ChildGuard::spawn(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        let st = g.finish(Duration::from_secs(5)).unwrap();
        assert_eq!(st.code(), Some(3));
        assert!(g.has_exited());
    }
}
