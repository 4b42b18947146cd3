//! The guest's serial console, line by line with the time each line arrived.
//!
//! QEMU runs with `-serial stdio`; a thread reads the pipe and sends every
//! line with the `Instant` it was read, so marker times do not depend on
//! how often the runner looks. QEMU's stderr is collected by another thread
//! for error messages.

use std::io::Read;
use std::sync::mpsc::{self, Receiver};
use std::thread::{self, JoinHandle};
use std::time::Instant;

/// One line from the serial console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimedLine {
    pub at: Instant,
    pub text: String,
    /// Text not yet ended by a line break (a prompt, a menu being drawn):
    /// shown to the key triggers and menu detection, never recorded; the
    /// same text comes again as a whole line once it ends.
    pub partial: bool,
}

/// Reads `pipe` on a thread and sends every line; the channel closes at
/// EOF. A line ends at a newline or at a cursor-positioning escape
/// (`ESC [ row ; col H`), with which full-screen menus (GRUB over serial)
/// draw their rows without a single newline. Text still unended when the
/// pipe goes quiet is sent as a partial line.
pub(crate) fn spawn_line_reader(pipe: impl Read + Send + 'static) -> Receiver<TimedLine> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut pipe = pipe;
        let mut pending: Vec<u8> = Vec::new();
        let mut chunk = [0u8; 4096];
        let send = |raw: &[u8], partial: bool, keep_blank: bool| {
            let text = clean(raw);
            if !keep_blank && text.trim().is_empty() {
                return true;
            }
            tx.send(TimedLine {
                at: Instant::now(),
                text,
                partial,
            })
            .is_ok()
        };
        loop {
            let n = match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            pending.extend_from_slice(&chunk[..n]);
            let (lines, rest) = split_lines(&pending);
            for (line, is_newline) in lines {
                if !send(line, false, is_newline) {
                    return;
                }
            }
            pending = rest.to_vec();
            if !send(&pending, true, false) {
                return;
            }
        }
        if !pending.is_empty() {
            send(&pending, false, false);
        }
    });
    rx
}

/// Splits `buf` into ended lines (each with whether a newline ended it,
/// rather than a cursor move) and the unended rest, which may hold an
/// incomplete escape sequence.
fn split_lines(buf: &[u8]) -> (Vec<(&[u8], bool)>, &[u8]) {
    let mut lines = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < buf.len() {
        match buf[i] {
            b'\n' => {
                lines.push((&buf[start..i], true));
                i += 1;
                start = i;
            }
            0x1b => {
                if i + 1 >= buf.len() {
                    break;
                }
                if buf[i + 1] != b'[' {
                    i += 2;
                    continue;
                }
                let mut j = i + 2;
                while j < buf.len() && !(0x40..=0x7e).contains(&buf[j]) {
                    j += 1;
                }
                if j >= buf.len() {
                    break;
                }
                if buf[j] == b'H' || buf[j] == b'f' {
                    lines.push((&buf[start..i], false));
                    start = j + 1;
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    (lines, &buf[start..])
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
        let input = b"\x1b[2J\x1b[1;1Hisotune: start\r\nplain\n\nno end".to_vec();
        let rx = spawn_line_reader(std::io::Cursor::new(input));
        let lines: Vec<(String, bool)> = rx.iter().map(|l| (l.text, l.partial)).collect();
        let whole: Vec<&str> = lines
            .iter()
            .filter(|l| !l.1)
            .map(|l| l.0.as_str())
            .collect();
        assert_eq!(whole, ["isotune: start", "plain", "", "no end"]);
        assert!(lines.contains(&("no end".to_owned(), true)), "{lines:?}");
    }

    /// GRUB draws its menu over serial with cursor moves and no newline.
    #[test]
    fn cursor_moves_end_lines() {
        let input = b"\x1b[5;3H*isotune install   \x1b[m\x1b[5;78H\x1b[6;3H other\x1b[6;7".to_vec();
        let (lines, rest) = split_lines(&input);
        let text: Vec<String> = lines.iter().map(|(l, _)| clean(l)).collect();
        assert_eq!(text, ["", "*isotune install   ", ""]);
        assert_eq!(clean(rest), " other");
        assert_eq!(rest, b" other\x1b[6;7");
        let rx = spawn_line_reader(std::io::Cursor::new(input));
        let got: Vec<TimedLine> = rx.iter().collect();
        assert!(got
            .iter()
            .any(|l| !l.partial && l.text.trim() == "*isotune install"));
        assert!(got.iter().any(|l| l.partial && l.text == " other"));
    }

    #[test]
    fn collector_caps_its_output() {
        let h = spawn_collector(std::io::Cursor::new(vec![b'x'; 10_000]), 100);
        assert_eq!(h.join().unwrap().len(), 100);
    }
}
