//! Servers that lie about their lengths: a `HEAD` that claims a larger
//! image than the server has, and `206` answers whose `Content-Length` or
//! `Content-Range` disagree with the range asked for or with the bytes that
//! follow. Each is a one-line protocol error naming the URL and the offset,
//! never a wrong byte handed to the caller and never a hang.
//!
//! The server is a raw TCP loop written here (not the shared test server)
//! so that each lie is spelled out byte for byte.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use isotune_net::{ErrorKind, NetOptions, NetSource};

/// The real image: 1 MiB.
const REAL: u64 = 1 << 20;

/// How the server lies.
#[derive(Debug, Clone, Copy)]
enum Lie {
    /// `HEAD` says 4 MiB; a range past the real 1 MiB gets `416`.
    LargerThanItIs,
    /// `206` with a `Content-Length` smaller than the range, and that many bytes.
    ShortLength,
    /// `206` with a `Content-Length` larger than the range, and that many bytes.
    LongLength,
    /// `206` for a different range than the one asked for.
    OtherRange,
    /// `206` with the right headers and fewer bytes, then the connection closes.
    ClosesEarly,
}

fn byte(i: u64) -> u8 {
    (i * 31 % 251) as u8
}

/// Parses `Range: bytes=A-B` from a request head.
fn requested(head: &[String]) -> Option<(u64, u64)> {
    head.iter().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        if !n.eq_ignore_ascii_case("range") {
            return None;
        }
        let (a, b) = v.trim().strip_prefix("bytes=")?.split_once('-')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })
}

fn answer(sock: &mut TcpStream, lie: Lie, method: &str, range: Option<(u64, u64)>) -> bool {
    let claimed = match lie {
        Lie::LargerThanItIs => 4 * REAL,
        _ => REAL,
    };
    if method == "HEAD" {
        let _ = write!(
            sock,
            "HTTP/1.1 200 OK\r\nAccept-Ranges: bytes\r\nContent-Length: {claimed}\r\n\r\n"
        );
        return true;
    }
    let (a, b) = range.unwrap_or((0, REAL - 1));
    if b >= REAL {
        let _ = write!(
            sock,
            "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{REAL}\r\nContent-Length: 0\r\n\r\n"
        );
        return true;
    }
    let len = b - a + 1;
    let (first, last, header_len, body_len) = match lie {
        Lie::LargerThanItIs => (a, b, len, len),
        Lie::ShortLength => (a, b, len / 2, len / 2),
        Lie::LongLength => (a, b, len * 2, len * 2),
        Lie::OtherRange => (a + 1, b + 1, len, len),
        Lie::ClosesEarly => (a, b, len, len / 3),
    };
    let body: Vec<u8> = (first..first + body_len).map(byte).collect();
    let _ = write!(
        sock,
        "HTTP/1.1 206 Partial Content\r\nAccept-Ranges: bytes\r\nContent-Range: bytes {first}-{last}/{claimed}\r\nContent-Length: {header_len}\r\n\r\n"
    );
    let _ = sock.write_all(&body);
    !matches!(lie, Lie::ClosesEarly)
}

/// Serves `lie` until the listener's port is dropped with the test process;
/// each connection in its own thread.
fn serve(lie: Lie) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/image.iso", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(sock) = sock else { return };
            std::thread::spawn(move || {
                let _ = sock.set_nodelay(true);
                let mut r = BufReader::new(sock);
                loop {
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        match r.read_line(&mut line) {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let line = line.trim_end().to_owned();
                        if line.is_empty() {
                            break;
                        }
                        head.push(line);
                    }
                    let method = head
                        .first()
                        .and_then(|l| l.split_whitespace().next())
                        .unwrap_or("")
                        .to_owned();
                    let range = requested(&head);
                    if !answer(r.get_mut(), lie, &method, range) {
                        return;
                    }
                }
            });
        }
    });
    url
}

fn options() -> NetOptions {
    NetOptions {
        io_timeout: Duration::from_secs(5),
        ..NetOptions::default()
    }
}

#[test]
fn a_head_larger_than_the_image_is_caught_by_the_first_read_past_its_end() {
    // The probe streams from offset 0 for the throughput: with a HEAD that
    // claims 4 MiB its read runs past the real 1 MiB, and the 416 is an
    // error naming the read, before any workload starts.
    let url = serve(Lie::LargerThanItIs);
    let e = NetSource::open(&url, &options()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Status, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("416") && msg.contains("at offset 0"), "{msg}");
    assert!(msg.starts_with(&url) && !msg.contains('\n'), "{msg}");
}

#[test]
fn lengths_and_ranges_that_disagree_with_the_request_are_protocol_errors() {
    for (lie, text) in [
        (Lie::ShortLength, "Content-Length "),
        (Lie::LongLength, "Content-Length "),
        (Lie::OtherRange, "the server sent bytes 1-"),
        (Lie::ClosesEarly, "truncated"),
    ] {
        let url = serve(lie);
        // The probe's first read (offset 0) meets the lie.
        let e = NetSource::open(&url, &options()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol, "{lie:?}: {e}");
        let msg = e.to_string();
        assert!(
            msg.contains(text) && msg.contains("at offset 0"),
            "{lie:?}: {msg}"
        );
        assert!(
            msg.starts_with(&url) && !msg.contains('\n'),
            "{lie:?}: {msg}"
        );
    }
}
