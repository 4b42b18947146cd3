//! The TLS front of the server: terminates TLS (rustls) on the public TCP
//! socket and relays the plaintext to the `tiny_http` server, which then
//! listens on a private abstract unix socket.
//!
//! Why not `tiny_http`'s own TLS features: its `ssl-openssl` does the TLS
//! handshake on the accept thread (one client that connects and sends
//! nothing stalls every other client), and its `ssl-rustls` pins rustls
//! 0.20, which no longer gets fixes (RUSTSEC-2024-0336, a remote busy loop).
//! Here each connection gets its own threads, the handshake has a deadline,
//! and rustls is current.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::{ServerConfig, ServerConnection};

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A kept-alive connection idle this long is closed (Prometheus reconnects).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Writes to a client that does not read fail after this long.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// TLS connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 512;

/// Binds a fresh abstract unix socket for the plaintext side. Its name has
/// 128 random bits, but an abstract socket has no file permissions: a local
/// user who finds the name in `/proc/net/unix` can reach it without TLS
/// (basic auth still applies; docs/monitor.md says so).
pub(crate) fn backend() -> io::Result<(UnixListener, UnixAddr)> {
    let mut random = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut random)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("isotune-exporter-{}-{hex}", std::process::id());
    let addr = UnixAddr::from_abstract_name(name.as_bytes())?;
    let listener = UnixListener::bind_addr(&addr)?;
    Ok((listener, addr))
}

/// Accepts TLS connections on `listener` forever, each relayed to `backend`
/// on threads of its own.
pub(crate) fn serve(listener: TcpListener, config: Arc<ServerConfig>, backend: UnixAddr) {
    let backend = Arc::new(backend);
    let live = Arc::new(AtomicUsize::new(0));
    for tcp in listener.incoming() {
        let Ok(tcp) = tcp else { continue };
        if live.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
            live.fetch_sub(1, Ordering::AcqRel);
            continue;
        }
        let (config, backend, live2) =
            (Arc::clone(&config), Arc::clone(&backend), Arc::clone(&live));
        let spawned = std::thread::Builder::new()
            .name("tls".into())
            .spawn(move || {
                let _ = relay(tcp, config, &backend);
                live2.fetch_sub(1, Ordering::AcqRel);
            });
        if spawned.is_err() {
            live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\n\
Connection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

struct Side {
    conn: ServerConnection,
    tcp: TcpStream,
}

impl Side {
    /// Sends whatever rustls has queued (records, alerts).
    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.tcp)?;
        }
        Ok(())
    }
}

fn relay(tcp: TcpStream, config: Arc<ServerConfig>, backend: &UnixAddr) -> io::Result<()> {
    tcp.set_write_timeout(Some(WRITE_TIMEOUT))?;
    tcp.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    // A TLS connection opens with a handshake record (0x16); a letter is a
    // plain-HTTP request line. Tell that client what is wrong, as the
    // exporter-toolkit does, instead of answering with a TLS alert.
    let mut first = [0u8; 1];
    if tcp.peek(&mut first)? == 1 && first[0].is_ascii_alphabetic() {
        let mut tcp = tcp;
        let _ = tcp.write_all(PLAIN_HTTP_ANSWER);
        let _ = tcp.shutdown(Shutdown::Both);
        return Ok(());
    }
    let mut conn = ServerConnection::new(config).map_err(io::Error::other)?;
    let mut reader = tcp.try_clone()?;
    let mut tcp = tcp;
    while conn.is_handshaking() {
        match conn.complete_io(&mut tcp) {
            Ok((0, 0)) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(e) => {
                // Tell the client why (a plain-HTTP request gets an alert).
                let _ = conn.write_tls(&mut tcp);
                return Err(e);
            }
        }
    }
    tcp.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let upstream = UnixStream::connect_addr(backend)?;
    let mut up_reader = upstream.try_clone()?;
    let mut upstream = upstream;
    let side = Arc::new(Mutex::new(Side { conn, tcp }));

    // Backend -> client.
    let out = Arc::clone(&side);
    let writer = std::thread::Builder::new()
        .name("tls-out".into())
        .spawn(move || {
            let mut buf = vec![0u8; 16 << 10];
            loop {
                let n = up_reader.read(&mut buf).unwrap_or(0);
                let Ok(mut s) = out.lock() else { return };
                if n == 0 {
                    s.conn.send_close_notify();
                    let _ = s.flush_tls();
                    let _ = s.tcp.shutdown(Shutdown::Both);
                    return;
                }
                let sent = s
                    .conn
                    .writer()
                    .write_all(&buf[..n])
                    .and_then(|()| s.flush_tls());
                if sent.is_err() {
                    let _ = s.tcp.shutdown(Shutdown::Both);
                    return;
                }
            }
        })?;

    // Client -> backend, on this thread.
    let mut buf = vec![0u8; 16 << 10];
    let mut plain = Vec::new();
    let result = loop {
        plain.clear();
        let eof = {
            let Ok(mut s) = side.lock() else { break Ok(()) };
            let mut eof = false;
            loop {
                let mut chunk = [0u8; 8192];
                match s.conn.reader().read(&mut chunk) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => plain.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
            eof
        };
        if !plain.is_empty() {
            if let Err(e) = upstream.write_all(&plain) {
                break Err(e);
            }
        }
        if eof {
            break Ok(());
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        let Ok(mut s) = side.lock() else { break Ok(()) };
        let mut input = &buf[..n];
        let mut failed = None;
        while !input.is_empty() {
            if let Err(e) = s.conn.read_tls(&mut input) {
                failed = Some(e);
                break;
            }
            if let Err(e) = s.conn.process_new_packets() {
                let _ = s.flush_tls();
                failed = Some(io::Error::other(e));
                break;
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        if let Err(e) = s.flush_tls() {
            break Err(e);
        }
    };
    // The client is done (or broken): let the backend finish its answer to
    // what it has, then the writer thread closes the TLS side.
    let _ = upstream.shutdown(Shutdown::Write);
    if result.is_err() {
        let _ = upstream.shutdown(Shutdown::Both);
        if let Ok(s) = side.lock() {
            let _ = s.tcp.shutdown(Shutdown::Both);
        }
    }
    let _ = writer.join();
    result
}
