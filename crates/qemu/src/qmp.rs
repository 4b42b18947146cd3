//! A small synchronous QMP client.
//!
//! [`Qmp`] works over any `Read + Write` (a `UnixStream` to QEMU's
//! `-qmp unix:...` socket in practice, an in-memory transcript in tests).
//! It sends one command at a time with an increasing `id`, queues the
//! events that arrive before the reply, and matches the reply by `id`, so a
//! late reply to a command that timed out is skipped rather than taken for
//! the next one.
//!
//! Timeouts belong to the stream: the caller sets `set_read_timeout` on it
//! (see [`connect_unix`]) and a read that times out surfaces as
//! [`ErrorKind::Timeout`]; the partial line read so far is kept, so the
//! client can be used again afterwards. [`Qmp::wait_event`] checks its
//! deadline between reads, so its precision is the stream's read timeout.

pub mod types;

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use types::*;

use crate::error::{Error, ErrorKind, QmpError, Result};

/// A QMP connection past the capabilities negotiation.
#[derive(Debug)]
pub struct Qmp<S> {
    stream: S,
    buf: Vec<u8>,
    next_id: u64,
    events: VecDeque<Event>,
}

/// One message from QEMU.
enum Message {
    Greeting(Value),
    Reply {
        id: Option<Value>,
        result: std::result::Result<Value, QmpError>,
    },
    Event(Event),
}

impl<S: Read + Write> Qmp<S> {
    /// Reads QEMU's greeting and enters command mode (`qmp_capabilities`).
    pub fn handshake(stream: S) -> Result<(Qmp<S>, Greeting)> {
        let mut qmp = Qmp {
            stream,
            buf: Vec::new(),
            next_id: 1,
            events: VecDeque::new(),
        };
        let greeting = loop {
            match qmp.read_message()? {
                Message::Greeting(v) => {
                    break serde_json::from_value::<Greeting>(v).map_err(|e| {
                        Error::new(ErrorKind::Protocol, format!("Malformed QMP greeting: {e}"))
                    })?
                }
                Message::Event(ev) => qmp.events.push_back(ev),
                Message::Reply { .. } => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "QMP sent a reply before its greeting",
                    ))
                }
            }
        };
        qmp.execute("qmp_capabilities", None)?;
        Ok((qmp, greeting))
    }

    /// Runs `command` and returns its `return` value. Events that arrive
    /// before the reply are queued for [`Qmp::events`].
    pub fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "execute": command, "id": id });
        if let Some(args) = arguments {
            msg["arguments"] = args;
        }
        let mut line = msg.to_string().into_bytes();
        line.push(b'\n');
        self.stream
            .write_all(&line)
            .and_then(|()| self.stream.flush())
            .map_err(|e| match e.kind() {
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset => {
                    Error::new(ErrorKind::Disconnected, "QMP closed the connection")
                }
                _ => Error::io(format!("Cannot send QMP command {command}"), e),
            })?;
        loop {
            match self.read_message()? {
                Message::Event(ev) => self.events.push_back(ev),
                Message::Reply {
                    id: Some(got),
                    result,
                } if got == json!(id) => {
                    return result.map_err(|e| Error::command(command, e));
                }
                // QEMU answers a command it cannot parse without an id.
                Message::Reply {
                    id: None,
                    result: Err(e),
                } => {
                    return Err(Error::command(command, e));
                }
                // A late reply to an earlier command that timed out.
                Message::Reply { .. } => {}
                Message::Greeting(_) => {
                    return Err(Error::new(
                        ErrorKind::Protocol,
                        "QMP sent a second greeting",
                    ))
                }
            }
        }
    }

    /// The events received so far, oldest first; the queue is emptied.
    pub fn events(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Waits for the event `name` (a queued one counts), queueing the other
    /// events. Fails with [`ErrorKind::Timeout`] once `deadline` has passed
    /// (checked between reads), [`ErrorKind::Disconnected`] when QEMU closes
    /// the connection first.
    pub fn wait_event(&mut self, name: &str, deadline: Instant) -> Result<Event> {
        if let Some(pos) = self.events.iter().position(|e| e.event == name) {
            return Ok(self.events.remove(pos).expect("position is in range"));
        }
        loop {
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("No QMP event {name} before the deadline"),
                ));
            }
            match self.read_message() {
                Ok(Message::Event(ev)) if ev.event == name => return Ok(ev),
                Ok(Message::Event(ev)) => self.events.push_back(ev),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Timeout => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// `query-status`: whether the guest runs, and QEMU's run state.
    pub fn query_status(&mut self) -> Result<StatusInfo> {
        self.typed("query-status")
    }

    /// `query-kvm`: whether KVM is present and in use.
    pub fn query_kvm(&mut self) -> Result<KvmInfo> {
        self.typed("query-kvm")
    }

    /// `query-blockstats`: the I/O counters of every block device.
    pub fn query_blockstats(&mut self) -> Result<Vec<BlockStats>> {
        self.typed("query-blockstats")
    }

    /// `query-version`.
    pub fn query_version(&mut self) -> Result<VersionInfo> {
        self.typed("query-version")
    }

    /// `cont`: starts or resumes the guest CPUs.
    pub fn cont(&mut self) -> Result<()> {
        self.execute("cont", None).map(drop)
    }

    /// `stop`: pauses the guest CPUs.
    pub fn stop(&mut self) -> Result<()> {
        self.execute("stop", None).map(drop)
    }

    /// `quit`: asks QEMU to exit. A connection closed before the reply
    /// counts as success: QEMU did what was asked.
    pub fn quit(&mut self) -> Result<()> {
        match self.execute("quit", None) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::Disconnected => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The stream, e.g. to change its timeouts.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    fn typed<T: serde::de::DeserializeOwned>(&mut self, command: &str) -> Result<T> {
        let v = self.execute(command, None)?;
        serde_json::from_value(v).map_err(|e| {
            Error::new(
                ErrorKind::Protocol,
                format!("Unexpected reply to QMP command {command}: {e}"),
            )
        })
    }

    fn read_message(&mut self) -> Result<Message> {
        loop {
            let line = self.read_line()?;
            let text = line.trim_ascii();
            if text.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_slice(text).map_err(|e| {
                let shown: String = String::from_utf8_lossy(text).chars().take(80).collect();
                Error::new(
                    ErrorKind::Protocol,
                    format!("QMP sent a line that is not JSON ({e}): {shown}"),
                )
            })?;
            return classify(v);
        }
    }

    fn read_line(&mut self) -> Result<Vec<u8>> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(pos) = self.buf.iter().position(|&b| b == b'\n') {
                let rest = self.buf.split_off(pos + 1);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            match self.stream.read(&mut chunk) {
                Ok(0) if self.buf.iter().all(u8::is_ascii_whitespace) => {
                    return Err(Error::new(
                        ErrorKind::Disconnected,
                        "QMP closed the connection",
                    ))
                }
                Ok(0) => {
                    return Err(Error::new(
                        ErrorKind::Disconnected,
                        "QMP closed the connection in the middle of a message",
                    ))
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                    return Err(Error::new(
                        ErrorKind::Disconnected,
                        "QMP closed the connection",
                    ))
                }
                Err(e) => return Err(Error::io("Cannot read from QMP", e)),
            }
        }
    }
}

fn classify(mut v: Value) -> Result<Message> {
    let Some(obj) = v.as_object_mut() else {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("QMP sent a message that is not an object: {v}"),
        ));
    };
    if let Some(g) = obj.remove("QMP") {
        return Ok(Message::Greeting(g));
    }
    if obj.contains_key("event") {
        let ev: Event = serde_json::from_value(v)
            .map_err(|e| Error::new(ErrorKind::Protocol, format!("Malformed QMP event: {e}")))?;
        return Ok(Message::Event(ev));
    }
    let id = obj.remove("id");
    if let Some(r) = obj.remove("return") {
        return Ok(Message::Reply { id, result: Ok(r) });
    }
    if let Some(err) = obj.remove("error") {
        let text = |k: &str| {
            err.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let e = QmpError {
            class: text("class"),
            desc: text("desc"),
        };
        return Ok(Message::Reply { id, result: Err(e) });
    }
    Err(Error::new(
        ErrorKind::Protocol,
        format!("QMP sent an unknown message: {v}"),
    ))
}

/// Connects to a QMP unix socket, sets `io_timeout` as its read and write
/// timeouts, and does the handshake.
pub fn connect_unix(path: &Path, io_timeout: Duration) -> Result<(Qmp<UnixStream>, Greeting)> {
    let stream = UnixStream::connect(path)
        .map_err(|e| Error::io("Cannot connect to the QMP socket", e).with_path(path))?;
    set_timeouts(&stream, io_timeout).map_err(|e| e.with_path(path))?;
    Qmp::handshake(stream).map_err(|e| e.with_path(path))
}

/// Sets the read and write timeouts of a QMP socket.
pub fn set_timeouts(stream: &UnixStream, timeout: Duration) -> Result<()> {
    let t = Some(timeout.max(Duration::from_millis(1)));
    stream
        .set_read_timeout(t)
        .and_then(|()| stream.set_write_timeout(t))
        .map_err(|e| Error::io("Cannot set the QMP socket timeouts", e))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    /// A scripted QEMU: reads come from `input`, writes go to `output`.
    /// When `input` runs out it reports EOF, or a read timeout when
    /// `then_timeout` is set.
    #[derive(Debug)]
    struct Transcript {
        input: Cursor<Vec<u8>>,
        output: Vec<u8>,
        then_timeout: bool,
    }

    impl Transcript {
        fn new(input: &[u8]) -> Self {
            Transcript {
                input: Cursor::new(input.to_vec()),
                output: Vec::new(),
                then_timeout: false,
            }
        }

        fn sent(&self) -> Vec<Value> {
            self.output
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect()
        }
    }

    impl Read for Transcript {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            // Small reads exercise the line reassembly.
            let n = buf.len().min(7);
            let got = self.input.read(&mut buf[..n])?;
            if got == 0 && self.then_timeout {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            Ok(got)
        }
    }

    impl Write for Transcript {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.output.write(buf)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    const GREETING: &[u8] = br#"{"QMP": {"version": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": "Debian 1:10.0.2+ds-1"}, "capabilities": ["oob"], "future": 1}}
{"return": {}, "id": 1}
"#;

    fn with(rest: &[u8]) -> Transcript {
        let mut all = GREETING.to_vec();
        all.extend_from_slice(rest);
        Transcript::new(&all)
    }

    #[test]
    fn handshake_reads_greeting_and_negotiates() {
        let (qmp, g) = Qmp::handshake(with(b"")).unwrap();
        assert_eq!(g.version.qemu.to_string(), "10.0.2");
        assert_eq!(g.version.package, "Debian 1:10.0.2+ds-1");
        assert_eq!(g.capabilities, ["oob"]);
        assert_eq!(
            qmp.get_ref().sent(),
            [json!({"execute": "qmp_capabilities", "id": 1})]
        );
    }

    #[test]
    fn typed_replies_ignore_unknown_fields() {
        let t = with(
            br#"{"return": {"status": "prelaunch", "singlestep": false, "running": false, "x": [1]}, "id": 2}
{"return": {"enabled": false, "present": true, "extra": "y"}, "id": 3}
{"return": [{"device": "cd0", "qdev": "/machine/peripheral-anon/device[0]", "stats": {"rd_bytes": 1048576, "rd_operations": 512, "rd_total_time_ns": 123456, "rd_merged": 0, "timed_stats": [], "unknown": 5}}, {"device": "", "node-name": "n1", "stats": {}}], "id": 4}
{"return": {"qemu": {"micro": 2, "minor": 0, "major": 10}, "package": ""}, "id": 5}
"#,
        );
        let (mut qmp, _) = Qmp::handshake(t).unwrap();
        let st = qmp.query_status().unwrap();
        assert!(!st.running);
        assert_eq!(st.status, "prelaunch");
        assert_eq!(
            qmp.query_kvm().unwrap(),
            KvmInfo {
                enabled: false,
                present: true
            }
        );
        let bs = qmp.query_blockstats().unwrap();
        assert_eq!(bs.len(), 2);
        assert!(bs[0].matches("cd0"));
        assert_eq!(bs[0].stats.rd_bytes, 1 << 20);
        assert_eq!(bs[0].stats.rd_operations, 512);
        assert_eq!(bs[0].stats.rd_total_time_ns, 123456);
        assert!(bs[1].matches("n1"));
        assert_eq!(bs[1].stats, BlockCounters::default());
        assert_eq!(qmp.query_version().unwrap().qemu.major, 10);
        let sent = qmp.get_ref().sent();
        assert_eq!(sent[1], json!({"execute": "query-status", "id": 2}));
        assert_eq!(sent[4], json!({"execute": "query-version", "id": 5}));
    }

    #[test]
    fn events_before_a_reply_are_queued() {
        let t = with(
            br#"{"timestamp": {"seconds": 1700000000, "microseconds": 5}, "event": "RESUME"}
{"return": {}, "id": 2}
{"timestamp": {"seconds": 1700000001, "microseconds": 6}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-shutdown"}}
{"timestamp": {"seconds": 1700000001, "microseconds": 7}, "event": "STOP"}
"#,
        );
        let (mut qmp, _) = Qmp::handshake(t).unwrap();
        qmp.cont().unwrap();
        let evs = qmp.events();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].event, "RESUME");
        assert_eq!(evs[0].timestamp.microseconds, 5);
        assert!(qmp.events().is_empty());
        let far = Instant::now() + Duration::from_secs(5);
        let stop = qmp.wait_event("STOP", far).unwrap();
        assert_eq!(stop.timestamp.microseconds, 7);
        // SHUTDOWN came first and was queued while waiting for STOP.
        let sd = qmp.wait_event("SHUTDOWN", far).unwrap();
        assert_eq!(sd.data["reason"], "guest-shutdown");
        let e = qmp.wait_event("RESET", far).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Disconnected);
    }

    #[test]
    fn replies_are_matched_by_id() {
        // A late reply to command 2 (which the caller gave up on) precedes
        // the reply to command 3.
        let t = with(
            br#"{"return": {"running": true, "status": "running"}, "id": 2}
{"return": {"running": false, "status": "paused"}, "id": 3}
"#,
        );
        let (mut qmp, _) = Qmp::handshake(t).unwrap();
        qmp.next_id = 3;
        assert_eq!(qmp.query_status().unwrap().status, "paused");
    }

    #[test]
    fn error_replies_become_command_errors() {
        let t = with(
            br#"{"id": 2, "error": {"class": "CommandNotFound", "desc": "The command query-nope has not been found"}}
{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}
"#,
        );
        let (mut qmp, _) = Qmp::handshake(t).unwrap();
        let e = qmp.execute("query-nope", None).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Command);
        let q = e.qmp_error().unwrap();
        assert_eq!(q.class, "CommandNotFound");
        assert_eq!(q.desc, "The command query-nope has not been found");
        let e = qmp.execute("x", Some(json!({"a": 1}))).unwrap_err();
        assert_eq!(e.qmp_error().unwrap().class, "GenericError");
        assert_eq!(
            qmp.get_ref().sent()[2],
            json!({"execute": "x", "id": 3, "arguments": {"a": 1}})
        );
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let (mut qmp, _) = Qmp::handshake(with(b"this is not json\n")).unwrap();
        let e = qmp.query_status().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
        assert!(e.to_string().contains("this is not json"), "{e}");
        let (mut qmp, _) = Qmp::handshake(with(b"[1, 2]\n")).unwrap();
        assert_eq!(qmp.query_status().unwrap_err().kind(), ErrorKind::Protocol);
        let e = Qmp::handshake(Transcript::new(b"{\"return\": {}, \"id\": 1}\n")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Protocol);
    }

    #[test]
    fn eof_mid_reply_is_a_disconnect() {
        let (mut qmp, _) = Qmp::handshake(with(br#"{"return": {"running": tr"#)).unwrap();
        let e = qmp.query_status().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Disconnected);
        assert!(e.to_string().contains("middle"), "{e}");
        let e = Qmp::handshake(Transcript::new(b"")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Disconnected);
    }

    #[test]
    fn quit_tolerates_the_connection_closing() {
        let (mut qmp, _) = Qmp::handshake(with(b"")).unwrap();
        qmp.quit().unwrap();
    }

    #[test]
    fn read_timeout_is_a_timeout_and_keeps_partial_data() {
        let mut t = with(br#"{"return": {"running": true, "#);
        t.then_timeout = true;
        let (mut qmp, _) = Qmp::handshake(t).unwrap();
        let e = qmp.query_status().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
        // The rest of the line arrives later: the client resumes.
        qmp.get_mut().input = Cursor::new(
            br#""status": "running"}, "id": 2}
"#
            .to_vec(),
        );
        let line = qmp.read_line().unwrap();
        let v: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["return"]["status"], "running");
        let e = qmp
            .wait_event("STOP", Instant::now() + Duration::from_millis(30))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }
}
