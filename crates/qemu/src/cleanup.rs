//! Making sure no QEMU outlives its run.
//!
//! [`ChildGuard`] starts a command as the leader of a new process group and,
//! when dropped (normal end, error or panic), sends SIGKILL to the whole
//! group and reaps the leader. The group is killed *before* the leader is
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
    /// Spawns `cmd` as the leader of a new process group.
    pub fn spawn(cmd: &mut Command) -> io::Result<ChildGuard> {
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

    #[test]
    fn finish_reports_the_exit_status() {
        let mut g = ChildGuard::spawn(Command::new("sh").args(["-c", "exit 3"])).unwrap();
        let st = g.finish(Duration::from_secs(5)).unwrap();
        assert_eq!(st.code(), Some(3));
        assert!(g.has_exited());
    }
}
