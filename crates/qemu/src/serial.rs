//! The guest's serial console, line by line with the time each line arrived.
//!
//! QEMU runs with `-serial stdio`; a thread reads the pipe and sends every
//! line with the `Instant` it was read, so marker times do not depend on
//! how often the runner looks. QEMU's stderr is collected by another thread
//! for error messages.

use std::io::{BufRead, BufReader, Read};
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// One line from the serial console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimedLine {
    pub at: Instant,
    pub text: String,
}

/// Reads `pipe` line by line on a thread; the channel closes at EOF.
pub(crate) fn spawn_line_reader(pipe: impl Read + Send + 'static) -> Receiver<TimedLine> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let at = Instant::now();
                    let text = clean(&buf);
                    if tx.send(TimedLine { at, text }).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// The line without its end and without carriage returns or terminal
/// escape sequences, which firmware and kernels sprinkle on a console.
fn clean(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI: ESC [ params final-byte; other escapes: ESC + one char.
                if chars.next_if_eq(&'[').is_some() {
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' | '\n' => {}
            c => out.push(c),
        }
    }
    out
}

/// Collects at most `cap` bytes of `pipe` on a thread (the rest is read
/// and dropped, so QEMU never blocks on a full pipe).
pub(crate) fn spawn_collector(pipe: impl Read + Send + 'static, cap: usize) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut pipe = pipe;
        let mut kept = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let room = cap.saturating_sub(kept.len());
                    kept.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
        String::from_utf8_lossy(&kept).into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cleaned_and_timed() {
        let input = b"\x1b[2J\x1b[1;1Hisotune: start\r\nplain\nno end".to_vec();
        let rx = spawn_line_reader(std::io::Cursor::new(input));
        let lines: Vec<String> = rx.iter().map(|l| l.text).collect();
        assert_eq!(lines, ["isotune: start", "plain", "no end"]);
    }

    #[test]
    fn collector_caps_its_output() {
        let h = spawn_collector(std::io::Cursor::new(vec![b'x'; 10_000]), 100);
        assert_eq!(h.join().unwrap().len(), 100);
    }
}
