//! The NBD wire format (the newstyle fixed handshake and simple replies, as
//! in the protocol document of the NBD project, `doc/proto.md`): constants,
//! encoders and fixed-size parsers. Pure functions, so the fuzz target
//! drives them directly; a wrong magic or an impossible length is an
//! [`ErrorKind::Protocol`] error.

use crate::{Error, ErrorKind, Result};

/// `NBDMAGIC`: the first 8 bytes a server sends.
pub const INIT_MAGIC: u64 = 0x4e42_444d_4147_4943;
/// `IHAVEOPT`: newstyle negotiation (also prefixes each client option).
pub const OPTS_MAGIC: u64 = 0x4948_4156_454f_5054;
/// Magic of an option reply.
pub const REP_MAGIC: u64 = 0x0003_e889_0455_65a9;
/// Magic of a transmission request.
pub const REQUEST_MAGIC: u32 = 0x2560_9513;
/// Magic of a simple reply.
pub const SIMPLE_REPLY_MAGIC: u32 = 0x6744_6698;
/// Magic of a structured reply (never negotiated by isotune).
pub const STRUCTURED_REPLY_MAGIC: u32 = 0x668e_33ef;

/// Handshake flag: the server speaks fixed newstyle.
pub const FLAG_FIXED_NEWSTYLE: u16 = 1;
/// Handshake flag: no 124 zero bytes after `NBD_OPT_EXPORT_NAME`.
pub const FLAG_NO_ZEROES: u16 = 2;

/// `NBD_OPT_EXPORT_NAME`.
pub const OPT_EXPORT_NAME: u32 = 1;
/// `NBD_OPT_GO`.
pub const OPT_GO: u32 = 7;
/// `NBD_REP_ACK`.
pub const REP_ACK: u32 = 1;
/// `NBD_REP_INFO`.
pub const REP_INFO: u32 = 3;
/// `NBD_REP_ERR_UNSUP`: the server does not know the option.
pub const REP_ERR_UNSUP: u32 = (1 << 31) | 1;
/// `NBD_INFO_EXPORT`.
pub const INFO_EXPORT: u16 = 0;
/// `NBD_CMD_READ`.
pub const CMD_READ: u16 = 0;
/// `NBD_CMD_DISC`.
pub const CMD_DISC: u16 = 2;
/// Transmission flag: the export is read-only.
pub const TFLAG_READ_ONLY: u16 = 1 << 1;
/// Transmission flag: several connections see the same data (multi-conn).
pub const TFLAG_CAN_MULTI_CONN: u16 = 1 << 8;

/// The largest option reply payload accepted.
pub const MAX_OPTION_REPLY_BYTES: u32 = 64 << 10;

fn garbage(what: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, what)
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// The server's greeting (18 bytes): returns its handshake flags.
pub fn parse_greeting(b: &[u8; 18]) -> Result<u16> {
    if be64(b) != INIT_MAGIC {
        return Err(garbage("not an NBD server (no NBDMAGIC greeting)"));
    }
    if be64(&b[8..]) != OPTS_MAGIC {
        return Err(garbage(
            "the server speaks the old NBD handshake (oldstyle), not newstyle",
        ));
    }
    let flags = be16(&b[16..]);
    if flags & FLAG_FIXED_NEWSTYLE == 0 {
        return Err(garbage(
            "the server does not speak the fixed newstyle handshake",
        ));
    }
    Ok(flags)
}

/// An option request: magic, option, length, data.
pub fn encode_option(option: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(16 + data.len());
    v.extend_from_slice(&OPTS_MAGIC.to_be_bytes());
    v.extend_from_slice(&option.to_be_bytes());
    v.extend_from_slice(&(data.len() as u32).to_be_bytes());
    v.extend_from_slice(data);
    v
}

/// The data of `NBD_OPT_GO` for `export`, asking for no extra information.
pub fn go_data(export: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(6 + export.len());
    v.extend_from_slice(&(export.len() as u32).to_be_bytes());
    v.extend_from_slice(export.as_bytes());
    v.extend_from_slice(&0u16.to_be_bytes());
    v
}

/// The header of an option reply (20 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OptionReply {
    /// The option it answers.
    pub option: u32,
    /// `NBD_REP_*` (errors have bit 31 set).
    pub kind: u32,
    /// Bytes of data that follow.
    pub len: u32,
}

/// Parses an option reply header, checking it answers `option`.
pub fn parse_option_reply(b: &[u8; 20], option: u32) -> Result<OptionReply> {
    if be64(b) != REP_MAGIC {
        return Err(garbage("invalid NBD option reply magic"));
    }
    let r = OptionReply {
        option: be32(&b[8..]),
        kind: be32(&b[12..]),
        len: be32(&b[16..]),
    };
    if r.option != option {
        return Err(garbage(format!(
            "the NBD server answered option {} to option {option}",
            r.option
        )));
    }
    if r.len > MAX_OPTION_REPLY_BYTES {
        return Err(garbage(format!(
            "NBD option reply of {} bytes (more than {MAX_OPTION_REPLY_BYTES})",
            r.len
        )));
    }
    Ok(r)
}

/// `NBD_INFO_EXPORT` data of an `NBD_REP_INFO` reply: `(size, flags)`;
/// `None` for another information type.
pub fn parse_info(data: &[u8]) -> Result<Option<(u64, u16)>> {
    if data.len() < 2 {
        return Err(garbage("NBD_REP_INFO shorter than its type"));
    }
    if be16(data) != INFO_EXPORT {
        return Ok(None);
    }
    if data.len() != 12 {
        return Err(garbage("NBD_INFO_EXPORT of the wrong length"));
    }
    Ok(Some((be64(&data[2..]), be16(&data[10..]))))
}

/// The answer to `NBD_OPT_EXPORT_NAME` (its first 10 bytes): `(size, flags)`.
pub fn parse_export_name_reply(b: &[u8; 10]) -> (u64, u16) {
    (be64(b), be16(&b[8..]))
}

/// A transmission request (28 bytes).
pub fn encode_request(command: u16, handle: u64, offset: u64, len: u32) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    b[6..8].copy_from_slice(&command.to_be_bytes());
    b[8..16].copy_from_slice(&handle.to_be_bytes());
    b[16..24].copy_from_slice(&offset.to_be_bytes());
    b[24..28].copy_from_slice(&len.to_be_bytes());
    b
}

/// A simple reply header (16 bytes): returns the error code (0 = success)
/// after checking the magic and that it answers `handle`.
pub fn parse_simple_reply(b: &[u8; 16], handle: u64) -> Result<u32> {
    match be32(b) {
        SIMPLE_REPLY_MAGIC => {}
        STRUCTURED_REPLY_MAGIC => {
            return Err(garbage(
                "the NBD server sent a structured reply, which was not negotiated",
            ))
        }
        _ => return Err(garbage("invalid NBD reply magic")),
    }
    let got = be64(&b[8..]);
    if got != handle {
        return Err(garbage(format!(
            "NBD reply for request {got} while waiting for {handle}"
        )));
    }
    Ok(be32(&b[4..]))
}

/// The name of an NBD error code (errno values, as the protocol defines).
pub fn error_name(code: u32) -> &'static str {
    match code {
        1 => "EPERM",
        5 => "EIO",
        12 => "ENOMEM",
        22 => "EINVAL",
        28 => "ENOSPC",
        75 => "EOVERFLOW",
        95 => "ENOTSUP",
        108 => "ESHUTDOWN",
        _ => "unknown error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trip() {
        let mut g = [0u8; 18];
        g[..8].copy_from_slice(&INIT_MAGIC.to_be_bytes());
        g[8..16].copy_from_slice(&OPTS_MAGIC.to_be_bytes());
        g[16..].copy_from_slice(&3u16.to_be_bytes());
        assert_eq!(parse_greeting(&g).unwrap(), 3);
        g[17] = 0;
        assert!(parse_greeting(&g).is_err());
        g[0] = b'H';
        assert_eq!(parse_greeting(&g).unwrap_err().kind(), ErrorKind::Protocol);
    }

    #[test]
    fn replies() {
        let mut r = [0u8; 20];
        r[..8].copy_from_slice(&REP_MAGIC.to_be_bytes());
        r[8..12].copy_from_slice(&OPT_GO.to_be_bytes());
        r[12..16].copy_from_slice(&REP_INFO.to_be_bytes());
        r[16..].copy_from_slice(&12u32.to_be_bytes());
        let h = parse_option_reply(&r, OPT_GO).unwrap();
        assert_eq!((h.kind, h.len), (REP_INFO, 12));
        assert!(parse_option_reply(&r, OPT_EXPORT_NAME).is_err());
        let mut info = vec![0, 0];
        info.extend_from_slice(&4096u64.to_be_bytes());
        info.extend_from_slice(&TFLAG_READ_ONLY.to_be_bytes());
        assert_eq!(parse_info(&info).unwrap(), Some((4096, TFLAG_READ_ONLY)));
        assert!(parse_info(&info[..5]).is_err());

        let req = encode_request(CMD_READ, 7, 4096, 2048);
        assert_eq!(&req[..4], &REQUEST_MAGIC.to_be_bytes());
        let mut s = [0u8; 16];
        s[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
        s[8..].copy_from_slice(&7u64.to_be_bytes());
        assert_eq!(parse_simple_reply(&s, 7).unwrap(), 0);
        assert!(parse_simple_reply(&s, 8).is_err());
        s[..4].copy_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
        assert!(parse_simple_reply(&s, 7).is_err());
        assert_eq!(error_name(5), "EIO");
    }
}
