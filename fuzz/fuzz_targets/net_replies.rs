//! Fuzz target: what a network server sends back, on arbitrary bytes. The
//! first byte chooses the parser: `h` an HTTP/1.1 response head (status
//! line, headers, Content-Length, Content-Range, keep-alive), anything else
//! the NBD greeting, option replies, NBD_INFO data and simple replies read
//! from the rest in order, as the client reads them off a socket.
#![no_main]

use isotune_net::http_wire;
use isotune_net::nbd_wire;
use libfuzzer_sys::fuzz_target;

fn take<const N: usize>(data: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = data.split_first_chunk::<N>()?;
    *data = rest;
    Some(*head)
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, mut rest)) = data.split_first() else {
        return;
    };
    if which == b'h' {
        if let Some(len) = http_wire::head_len(rest) {
            if let Ok(head) = http_wire::parse_head(&rest[..len]) {
                let _ = head.content_length();
                let _ = head.content_range();
                let _ = (head.keep_alive(), head.accepts_byte_ranges(), head.chunked());
            }
        }
        let _ = http_wire::parse_head(rest);
        if let Ok(text) = std::str::from_utf8(rest) {
            let _ = http_wire::parse_content_range(text);
        }
        return;
    }
    let Some(greeting) = take::<18>(&mut rest) else {
        return;
    };
    let _ = nbd_wire::parse_greeting(&greeting);
    while let Some(head) = take::<20>(&mut rest) {
        let Ok(reply) = nbd_wire::parse_option_reply(&head, nbd_wire::OPT_GO) else {
            break;
        };
        let n = (reply.len as usize).min(rest.len());
        let _ = nbd_wire::parse_info(&rest[..n]);
        rest = &rest[n..];
    }
    if let Some(b) = take::<10>(&mut rest) {
        let _ = nbd_wire::parse_export_name_reply(&b);
    }
    while let Some(b) = take::<16>(&mut rest) {
        let _ = nbd_wire::parse_simple_reply(&b, 1);
    }
});
