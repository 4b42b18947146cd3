//! Network image URLs: `http://`, `https://`, `nbd://host[:port]/export` and
//! `nbd+unix:///export?socket=PATH`.
//!
//! The parser is deliberately small (no percent-decoding beyond what the
//! request line needs, no IPv6 zone ids) and keeps credentials apart so that
//! [`NetUrl::redacted`] can print the URL without them everywhere: in
//! errors, in the human report and in JSON.

use std::fmt;

use crate::{Error, ErrorKind, Result};

/// The default NBD port (IANA).
pub const NBD_PORT: u16 = 10809;

/// Which protocol a URL speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// Plain HTTP/1.1.
    Http,
    /// HTTP/1.1 over TLS.
    Https,
    /// NBD over TCP.
    Nbd,
    /// NBD over a Unix socket.
    NbdUnix,
}

impl Scheme {
    /// Whether the scheme is HTTP or HTTPS.
    pub fn is_http(self) -> bool {
        matches!(self, Scheme::Http | Scheme::Https)
    }
}

/// A parsed URL.
#[derive(Clone, PartialEq, Eq)]
pub struct NetUrl {
    /// The protocol.
    pub scheme: Scheme,
    /// Host name or address (empty for `nbd+unix`).
    pub host: String,
    /// Port (the scheme's default when not given).
    pub port: u16,
    /// HTTP: path and query as sent in the request line (starts with `/`).
    /// NBD: the export name (without the leading `/`).
    pub path: String,
    /// `nbd+unix`: the socket path.
    pub socket: Option<String>,
    /// `user:password` from the URL, sent as HTTP Basic auth; never printed.
    userinfo: Option<String>,
}

impl fmt::Debug for NetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for NetUrl {
    /// The redacted form: credentials are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Whether `s` looks like a network URL isotune reads (so a CLI can tell a
/// URL from a path before parsing).
pub fn is_url(s: &str) -> bool {
    ["http://", "https://", "nbd://", "nbd+unix://"]
        .iter()
        .any(|p| s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p))
}

impl NetUrl {
    /// Parses `s`. Errors name the problem and show the URL without credentials.
    pub fn parse(s: &str) -> Result<NetUrl> {
        let bad =
            |why: &str| Error::new(ErrorKind::InvalidUrl, format!("{}: {why}", redact_url(s)));
        if s.chars().any(|c| c.is_control() || c == ' ') {
            return Err(bad("contains spaces or control characters"));
        }
        let (scheme_text, rest) = s.split_once("://").ok_or_else(|| bad("not a URL"))?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "nbd" => Scheme::Nbd,
            "nbd+unix" => Scheme::NbdUnix,
            _ => return Err(bad("unsupported scheme (use http, https, nbd or nbd+unix)")),
        };
        let (authority, path_query) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_owned()), h),
            None => (None, authority),
        };
        let default_port = match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
            Scheme::Nbd | Scheme::NbdUnix => NBD_PORT,
        };
        let (host, port) = split_host_port(hostport, default_port).map_err(|w| bad(&w))?;
        let mut url = NetUrl {
            scheme,
            host,
            port,
            path: path_query.to_owned(),
            socket: None,
            userinfo,
        };
        match scheme {
            Scheme::Http | Scheme::Https => {
                if url.host.is_empty() {
                    return Err(bad("no host"));
                }
                // A fragment is never sent.
                if let Some(i) = url.path.find('#') {
                    url.path.truncate(i);
                }
            }
            Scheme::Nbd => {
                if url.host.is_empty() {
                    return Err(bad("no host"));
                }
                if url.path.contains('?') {
                    return Err(bad("nbd:// takes no query (did you mean nbd+unix://?)"));
                }
                url.path = url.path.trim_start_matches('/').to_owned();
            }
            Scheme::NbdUnix => {
                if !url.host.is_empty() {
                    return Err(bad(
                        "nbd+unix:// takes no host: nbd+unix:///EXPORT?socket=PATH",
                    ));
                }
                let (export, query) = url.path.split_once('?').unwrap_or((&url.path, ""));
                let socket = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("socket="))
                    .filter(|p| !p.is_empty())
                    .ok_or_else(|| bad("nbd+unix:// needs ?socket=PATH"))?;
                url.socket = Some(socket.to_owned());
                url.path = export.trim_start_matches('/').to_owned();
            }
        }
        if url.path.len() > 4096 {
            return Err(bad("the path is longer than 4096 bytes"));
        }
        Ok(url)
    }

    /// The URL with any `user:password@` replaced by `***@`.
    pub fn redacted(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::Nbd => "nbd",
            Scheme::NbdUnix => "nbd+unix",
        };
        let creds = if self.userinfo.is_some() { "***@" } else { "" };
        match self.scheme {
            Scheme::NbdUnix => format!(
                "{scheme}:///{}?socket={}",
                self.path,
                self.socket.as_deref().unwrap_or("")
            ),
            Scheme::Nbd => format!("{scheme}://{creds}{}/{}", self.host_port(), self.path),
            _ => format!("{scheme}://{creds}{}{}", self.host_port(), self.path),
        }
    }

    /// `host:port` (IPv6 addresses in brackets), or `host` on the default port.
    pub fn host_port(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = match self.scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
            _ => NBD_PORT,
        };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// `user:password` as given in the URL.
    pub(crate) fn userinfo(&self) -> Option<&str> {
        self.userinfo.as_deref()
    }

    /// The URL a `Location` header points to, relative to this one; the
    /// credentials carry over only to the same host.
    pub(crate) fn join(&self, location: &str) -> Result<NetUrl> {
        if is_url(location) {
            let mut next = NetUrl::parse(location)?;
            if next.userinfo.is_none() && next.host == self.host && next.port == self.port {
                next.userinfo.clone_from(&self.userinfo);
            }
            return Ok(next);
        }
        let mut next = self.clone();
        if location.starts_with('/') {
            next.path = location.to_owned();
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            next.path = format!("{dir}{location}");
        }
        if next.path.chars().any(|c| c.is_control() || c == ' ') || next.path.is_empty() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{}: redirect to an invalid location", self.redacted()),
            ));
        }
        Ok(next)
    }
}

fn split_host_port(s: &str, default: u16) -> std::result::Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [ in the host".to_owned())?;
        (h, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("invalid port `{p}`"))?,
        None => default,
    };
    Ok((host.to_owned(), port))
}

/// `s` with any `user:password@` in its authority (between `://` and the
/// first `/`, `?` or `#`) replaced by `***@`, the form [`NetUrl::redacted`]
/// prints; for any scheme and for URLs that do not parse. Text without
/// `://` comes back as it is.
pub fn redact_url(s: &str) -> String {
    let Some((scheme, rest)) = s.split_once("://") else {
        return s.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_schemes() {
        let u = NetUrl::parse("http://127.0.0.1:8080/a/b.iso?x=1#frag").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Http, "127.0.0.1", 8080)
        );
        assert_eq!(u.path, "/a/b.iso?x=1");
        let u = NetUrl::parse("https://example.org").unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/"));
        let u = NetUrl::parse("nbd://[::1]/exp").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("::1", NBD_PORT, "exp")
        );
        assert_eq!(u.redacted(), "nbd://[::1]/exp");
        let u = NetUrl::parse("nbd+unix:///e?socket=/tmp/s.sock").unwrap();
        assert_eq!(
            (u.path.as_str(), u.socket.as_deref()),
            ("e", Some("/tmp/s.sock"))
        );
        assert_eq!(u.redacted(), "nbd+unix:///e?socket=/tmp/s.sock");
    }

    #[test]
    fn credentials_are_never_printed() {
        let u = NetUrl::parse("http://user:s3cret@h:81/x.iso").unwrap();
        assert_eq!(u.userinfo(), Some("user:s3cret"));
        for text in [u.redacted(), format!("{u}"), format!("{u:?}")] {
            assert!(!text.contains("s3cret"), "{text}");
            assert_eq!(text, "http://***@h:81/x.iso");
        }
        let err = NetUrl::parse("ftp://user:s3cret@h/x")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("s3cret") && err.contains("unsupported scheme"),
            "{err}"
        );
    }

    #[test]
    fn refuses_bad_urls() {
        for bad in [
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "nbd+unix:///e",
            "nbd+unix://host/e?socket=/s",
            "nbd://h/e?x",
            "gopher://h/",
            "http://h/a b",
            "/path/to.iso",
        ] {
            let e = NetUrl::parse(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidUrl, "{bad}: {e}");
        }
        assert!(is_url("HTTP://x/") && is_url("nbd+unix:///x?socket=s") && !is_url("x.iso"));
    }

    #[test]
    fn joins_redirect_locations() {
        let u = NetUrl::parse("http://a:b@h:81/dir/x.iso").unwrap();
        assert_eq!(u.join("/y.iso").unwrap().path, "/y.iso");
        assert_eq!(u.join("z.iso").unwrap().path, "/dir/z.iso");
        let same = u.join("http://h:81/w.iso").unwrap();
        assert_eq!(same.userinfo(), Some("a:b"));
        let other = u.join("http://other/w.iso").unwrap();
        assert_eq!(other.userinfo(), None);
    }
}
