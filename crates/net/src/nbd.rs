//! The NBD client: connect (TCP with TCP_NODELAY, or a Unix socket),
//! the newstyle fixed handshake (`NBD_OPT_GO`, falling back to
//! `NBD_OPT_EXPORT_NAME` for a server that does not know it), then one
//! `NBD_CMD_READ` at a time with simple replies, and `NBD_CMD_DISC` when
//! the connection is dropped. Structured replies are never negotiated.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::nbd_wire as w;
use crate::{
    measure_link, ns, Conn, Error, ErrorKind, NbdFacts, NetOptions, NetUrl, Result, Scheme,
    SourceInfo, RTT_SAMPLES,
};

/// The largest read sent as one request: the NBD protocol document lets
/// servers refuse more than 32 MiB.
const MAX_READ_BYTES: usize = 32 << 20;

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// One NBD session.
pub(crate) struct NbdConn {
    stream: Box<dyn Stream>,
    url: NetUrl,
    size_bytes: u64,
    handle: u64,
    broken: bool,
}

fn io_err(what: &str, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return Error::new(
            ErrorKind::Protocol,
            format!("the server closed the connection during {what}"),
        );
    }
    Error::io(format!("{what} failed"), e)
}

impl NbdConn {
    /// Connects and negotiates; returns the session, its facts and the
    /// connect and handshake times.
    pub(crate) fn connect(
        url: &NetUrl,
        options: &NetOptions,
    ) -> Result<(NbdConn, (NbdFacts, Duration, Duration))> {
        let start = Instant::now();
        let stream: Box<dyn Stream> = match url.scheme {
            Scheme::NbdUnix => {
                let path = url.socket.as_deref().unwrap_or("");
                let s = UnixStream::connect(path).map_err(|e| {
                    Error::io(format!("cannot connect to the socket {path}"), e)
                        .with_kind(ErrorKind::Connect)
                        .with_url(url)
                })?;
                s.set_read_timeout(Some(options.io_timeout))
                    .and_then(|()| s.set_write_timeout(Some(options.io_timeout)))
                    .map_err(|e| Error::io("cannot set socket timeouts", e).with_url(url))?;
                Box::new(s)
            }
            _ => Box::new(crate::http::tcp_connect(url, options)?.0),
        };
        let connect = start.elapsed();
        let mut conn = NbdConn {
            stream,
            url: url.clone(),
            size_bytes: 0,
            handle: 0,
            broken: true,
        };
        let start = Instant::now();
        let facts = conn.handshake().map_err(|e| e.with_url(url))?;
        conn.broken = false;
        Ok((conn, (facts, connect, start.elapsed())))
    }

    fn read_n(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.stream.read_exact(buf).map_err(|e| io_err(what, e))
    }

    fn write(&mut self, buf: &[u8], what: &str) -> Result<()> {
        self.stream
            .write_all(buf)
            .and_then(|()| self.stream.flush())
            .map_err(|e| io_err(what, e))
    }

    fn handshake(&mut self) -> Result<NbdFacts> {
        let mut greeting = [0u8; 18];
        self.read_n(&mut greeting, "the NBD greeting")?;
        let flags = w::parse_greeting(&greeting)?;
        let no_zeroes = flags & w::FLAG_NO_ZEROES != 0;
        let client = u32::from(w::FLAG_FIXED_NEWSTYLE | (flags & w::FLAG_NO_ZEROES));
        self.write(&client.to_be_bytes(), "the handshake")?;
        let export = self.url.path.clone();
        self.write(
            &w::encode_option(w::OPT_GO, &w::go_data(&export)),
            "NBD_OPT_GO",
        )?;
        let mut export_info = None;
        loop {
            let mut head = [0u8; 20];
            self.read_n(&mut head, "the answer to NBD_OPT_GO")?;
            let reply = w::parse_option_reply(&head, w::OPT_GO)?;
            let mut data = vec![0u8; reply.len as usize];
            self.read_n(&mut data, "the answer to NBD_OPT_GO")?;
            match reply.kind {
                w::REP_INFO => {
                    if let Some(info) = w::parse_info(&data)? {
                        export_info = Some(info);
                    }
                }
                w::REP_ACK => {
                    let (size, tflags) = export_info.ok_or_else(|| {
                        Error::new(
                            ErrorKind::Protocol,
                            "the NBD server acknowledged NBD_OPT_GO without the export size",
                        )
                    })?;
                    return Ok(self.opened(export, "go", size, tflags));
                }
                w::REP_ERR_UNSUP => break,
                kind if kind & (1 << 31) != 0 => {
                    let text = String::from_utf8_lossy(&data);
                    return Err(Error::new(
                        ErrorKind::Connect,
                        format!(
                            "the NBD server refused export `{export}` (error {:#x}{}{})",
                            kind,
                            if text.is_empty() { "" } else { ": " },
                            crate::http_wire::clip(&text)
                        ),
                    ));
                }
                other => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        format!("unexpected NBD option reply type {other:#x}"),
                    ))
                }
            }
        }
        // An older server: NBD_OPT_EXPORT_NAME, which has no error reply
        // (an unknown export closes the connection).
        self.write(
            &w::encode_option(w::OPT_EXPORT_NAME, export.as_bytes()),
            "NBD_OPT_EXPORT_NAME",
        )?;
        let mut reply = [0u8; 10];
        self.read_n(
            &mut reply,
            "the answer to NBD_OPT_EXPORT_NAME (unknown export?)",
        )?;
        let (size, tflags) = w::parse_export_name_reply(&reply);
        if !no_zeroes {
            let mut zeroes = [0u8; 124];
            self.read_n(&mut zeroes, "the answer to NBD_OPT_EXPORT_NAME")?;
        }
        Ok(self.opened(export, "export_name", size, tflags))
    }

    fn opened(&mut self, export: String, negotiation: &str, size: u64, tflags: u16) -> NbdFacts {
        self.size_bytes = size;
        NbdFacts {
            export,
            negotiation: negotiation.to_owned(),
            transmission_flags: tflags,
            read_only: tflags & w::TFLAG_READ_ONLY != 0,
            multi_conn: tflags & w::TFLAG_CAN_MULTI_CONN != 0,
        }
    }

    fn read_one(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let what = format!("a read of {} bytes at offset {offset}", buf.len());
        self.handle = self.handle.wrapping_add(1);
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        self.write(
            &w::encode_request(w::CMD_READ, self.handle, offset, len),
            &what,
        )?;
        let mut head = [0u8; 16];
        self.read_n(&mut head, &what)?;
        let code = w::parse_simple_reply(&head, self.handle)?;
        if code != 0 {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "the NBD server failed {what}: {} ({code})",
                    w::error_name(code)
                ),
            ));
        }
        self.read_n(buf, &what)
    }
}

impl Conn for NbdConn {
    fn read_exact_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        if self.broken {
            return Err(
                Error::new(ErrorKind::Io, "the connection failed earlier").with_url(&self.url)
            );
        }
        if offset.saturating_add(buf.len() as u64) > self.size_bytes {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a read of {} bytes at offset {offset} goes past the end of the export ({} bytes)",
                    buf.len(),
                    self.size_bytes
                ),
            )
            .with_url(&self.url));
        }
        let mut at = offset;
        for piece in buf.chunks_mut(MAX_READ_BYTES) {
            if let Err(e) = self.read_one(at, piece) {
                // A reply cut short leaves the stream out of step.
                self.broken = true;
                return Err(e.with_url(&self.url));
            }
            at += piece.len() as u64;
        }
        Ok(())
    }
}

impl Drop for NbdConn {
    fn drop(&mut self) {
        if !self.broken {
            self.handle = self.handle.wrapping_add(1);
            let _ = self
                .stream
                .write_all(&w::encode_request(w::CMD_DISC, self.handle, 0, 0));
            let _ = self.stream.flush();
        }
    }
}

/// Connects, measures and returns the facts (NBD has no redirects: the
/// final URL is the URL).
pub(crate) fn probe(url: &NetUrl, options: &NetOptions) -> Result<(NetUrl, SourceInfo)> {
    let (mut conn, (facts, _, _)) = NbdConn::connect(url, options)?;
    if conn.size_bytes == 0 {
        return Err(Error::new(ErrorKind::Protocol, "the export is empty (0 bytes)").with_url(url));
    }
    let mut connects = Vec::new();
    let mut handshakes = Vec::new();
    for _ in 0..RTT_SAMPLES {
        let (_c, (_, connect, handshake)) = NbdConn::connect(url, options)?;
        connects.push(ns(connect));
        handshakes.push(ns(handshake));
    }
    let size_bytes = conn.size_bytes;
    let (round_trip, throughput_bytes_per_s, throughput_sample_bytes) =
        measure_link(&mut conn, size_bytes, connects, handshakes)?;
    let info = SourceInfo {
        url: url.redacted(),
        scheme: url.scheme,
        final_url: url.redacted(),
        redirects: 0,
        size_bytes,
        tls: false,
        server: None,
        nbd: Some(facts),
        round_trip,
        throughput_bytes_per_s,
        throughput_sample_bytes,
    };
    Ok((url.clone(), info))
}

#[cfg(test)]
mod tests {
    //! The fallback to `NBD_OPT_EXPORT_NAME` and `NBD_CMD_DISC` against a
    //! scripted server on a real Unix socket (nbdkit and qemu-nbd both
    //! know `NBD_OPT_GO`, so they never take this path; the integration
    //! tests cover them).
    use super::*;
    use std::os::unix::net::UnixListener;

    fn read_exact<const N: usize>(s: &mut UnixStream) -> [u8; N] {
        let mut b = [0u8; N];
        s.read_exact(&mut b).unwrap();
        b
    }

    #[test]
    fn falls_back_to_export_name_reads_and_disconnects() {
        let dir = std::env::temp_dir().join(format!("isotune-nbd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut greeting = Vec::new();
            greeting.extend_from_slice(&w::INIT_MAGIC.to_be_bytes());
            greeting.extend_from_slice(&w::OPTS_MAGIC.to_be_bytes());
            greeting.extend_from_slice(&(w::FLAG_FIXED_NEWSTYLE | w::FLAG_NO_ZEROES).to_be_bytes());
            s.write_all(&greeting).unwrap();
            let client_flags = u32::from_be_bytes(read_exact::<4>(&mut s));
            assert_eq!(client_flags, 3);
            let head = read_exact::<16>(&mut s);
            assert_eq!(
                u32::from_be_bytes(head[8..12].try_into().unwrap()),
                w::OPT_GO
            );
            let len = u32::from_be_bytes(head[12..16].try_into().unwrap()) as usize;
            let mut data = vec![0u8; len];
            s.read_exact(&mut data).unwrap();
            let mut reply = Vec::new();
            reply.extend_from_slice(&w::REP_MAGIC.to_be_bytes());
            reply.extend_from_slice(&w::OPT_GO.to_be_bytes());
            reply.extend_from_slice(&w::REP_ERR_UNSUP.to_be_bytes());
            reply.extend_from_slice(&0u32.to_be_bytes());
            s.write_all(&reply).unwrap();
            let head = read_exact::<16>(&mut s);
            assert_eq!(
                u32::from_be_bytes(head[8..12].try_into().unwrap()),
                w::OPT_EXPORT_NAME
            );
            let len = u32::from_be_bytes(head[12..16].try_into().unwrap()) as usize;
            let mut name = vec![0u8; len];
            s.read_exact(&mut name).unwrap();
            assert_eq!(name, b"exp");
            let mut answer = 4096u64.to_be_bytes().to_vec();
            answer.extend_from_slice(&w::TFLAG_READ_ONLY.to_be_bytes());
            s.write_all(&answer).unwrap();
            // One read of 10 bytes at offset 100.
            let req = read_exact::<28>(&mut s);
            assert_eq!(u16::from_be_bytes([req[6], req[7]]), w::CMD_READ);
            let handle = &req[8..16];
            let mut rep = w::SIMPLE_REPLY_MAGIC.to_be_bytes().to_vec();
            rep.extend_from_slice(&[0; 4]);
            rep.extend_from_slice(handle);
            rep.extend_from_slice(b"0123456789");
            s.write_all(&rep).unwrap();
            let disc = read_exact::<28>(&mut s);
            u16::from_be_bytes([disc[6], disc[7]])
        });
        let url = NetUrl::parse(&format!("nbd+unix:///exp?socket={}", sock.display())).unwrap();
        let (mut conn, (facts, _, _)) = NbdConn::connect(&url, &NetOptions::default()).unwrap();
        assert_eq!(facts.negotiation, "export_name");
        assert!(facts.read_only && !facts.multi_conn);
        let mut buf = [0u8; 10];
        conn.read_exact_at(100, &mut buf).unwrap();
        assert_eq!(&buf, b"0123456789");
        let past = conn.read_exact_at(4090, &mut buf).unwrap_err();
        assert_eq!(past.kind(), ErrorKind::InvalidInput);
        drop(conn);
        assert_eq!(server.join().unwrap(), w::CMD_DISC);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
