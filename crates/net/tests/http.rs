//! The HTTP client against the test Range server of isotune-testutil (a
//! real TCP server on loopback): keep-alive, exact ranges, redirects,
//! servers without ranges, garbage, truncation and credentials.

use std::sync::atomic::Ordering;

use isotune_net::{ErrorKind, NetOptions, NetSource};
use isotune_testutil::rangeserver::{Config, Mode, RangeServer};
use isotune_testutil::Rng;

fn image(len: usize) -> Vec<u8> {
    Rng::new(7).bytes(len)
}

fn server(mode: Mode) -> (Vec<u8>, RangeServer) {
    let data = image(3 << 20);
    let s = RangeServer::start(
        data.clone(),
        Config {
            mode,
            ..Config::default()
        },
    );
    (data, s)
}

#[test]
fn reads_exact_ranges_over_one_kept_alive_connection() {
    let (data, s) = server(Mode::Ranges);
    let source = NetSource::open(&s.url(false), &NetOptions::default()).unwrap();
    let info = source.info();
    assert_eq!(info.size_bytes, data.len() as u64);
    assert_eq!((info.redirects, info.tls), (0, false));
    assert!(info.round_trip.request_ns > 0 && info.throughput_bytes_per_s > 0.0);
    // The server accepts in a polling thread: let the probe's connections land.
    let settled = |s: &RangeServer| {
        let mut last = s.counters.connections.load(Ordering::Relaxed);
        loop {
            std::thread::sleep(std::time::Duration::from_millis(50));
            let now = s.counters.connections.load(Ordering::Relaxed);
            if now == last {
                return now;
            }
            last = now;
        }
    };
    let before = settled(&s);
    let mut conn = source.connect().unwrap();
    let mut rng = Rng::new(3);
    for _ in 0..50 {
        let len = 1 + rng.below(70_000) as usize;
        let offset = rng.below(data.len() as u64 - len as u64);
        let mut buf = vec![0u8; len];
        conn.read_exact_at(offset, &mut buf).unwrap();
        assert!(buf == data[offset as usize..offset as usize + len]);
    }
    // The last byte of the image.
    let mut last = [0u8; 1];
    conn.read_exact_at(data.len() as u64 - 1, &mut last)
        .unwrap();
    assert_eq!(last[0], *data.last().unwrap());
    assert_eq!(settled(&s) - before, 1);
}

#[test]
fn redirects_are_followed_and_counted() {
    let (_, s) = server(Mode::Redirect);
    let source = NetSource::open(&s.url(false), &NetOptions::default()).unwrap();
    assert_eq!(source.info().redirects, 1);
    assert!(source.info().final_url.ends_with("/real/image.iso"));
    let (_, s) = server(Mode::RedirectLoop);
    let e = NetSource::open(&s.url(false), &NetOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.to_string().contains("redirects"), "{e}");
}

#[test]
fn misbehaving_servers_are_errors() {
    for (mode, kind, text) in [
        (
            Mode::NoRanges,
            ErrorKind::NoRange,
            "QEMU's curl driver refuses",
        ),
        (Mode::Garbage, ErrorKind::Protocol, "not an HTTP"),
        (Mode::Truncate, ErrorKind::Protocol, "truncated"),
    ] {
        let (_, s) = server(mode);
        let e = NetSource::open(&s.url(false), &NetOptions::default()).unwrap_err();
        assert_eq!(e.kind(), kind, "{mode:?}: {e}");
        let msg = e.to_string();
        assert!(msg.contains(text) && !msg.contains('\n'), "{mode:?}: {msg}");
        assert!(msg.starts_with("http://127.0.0.1:"), "{msg}");
    }
    let port = isotune_testutil::exporter::free_port();
    let e = NetSource::open(
        &format!("http://127.0.0.1:{port}/x.iso"),
        &NetOptions::default(),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Connect, "{e}");
}

#[test]
fn credentials_are_never_shown() {
    let (_, s) = server(Mode::Ranges);
    let url = s.url(false).replace("http://", "http://alice:s3cret@");
    let source = NetSource::open(&url, &NetOptions::default()).unwrap();
    let json = serde_json::to_string(source.info()).unwrap();
    assert!(!json.contains("s3cret") && json.contains("***@"), "{json}");
    assert!(!format!("{source:?}").contains("s3cret"));
    let (_, s) = server(Mode::NoRanges);
    let url = s.url(false).replace("http://", "http://alice:s3cret@");
    let e = NetSource::open(&url, &NetOptions::default()).unwrap_err();
    assert!(!e.to_string().contains("s3cret"), "{e}");
}
