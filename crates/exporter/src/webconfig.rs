//! `--web.config.file`: TLS and basic auth in the format of Prometheus'
//! exporter-toolkit (`tls_server_config`, `http_server_config`,
//! `basic_auth_users`), the file Prometheus operators already write for
//! node_exporter and friends.
//!
//! [`load`] reads and checks the whole file at start: unknown keys, keys of
//! the toolkit that isotune does not implement, unreadable certificates and
//! malformed bcrypt hashes are all errors naming the file, line and column,
//! so a typo never silently serves metrics without TLS or auth. Relative
//! paths are resolved against the config file's directory, as the toolkit
//! does. The server ([`crate::server`]) uses the result: [`WebConfig::tls`]
//! for its TLS front (`tls.rs`), [`Auth`] for basic auth.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::Error;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawWebConfig {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

/// The toolkit's keys; those isotune does not implement are refused in
/// [`load`] rather than ignored.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
    // rustls chooses the cipher suite by the server's order anyway.
    prefer_server_cipher_suites: Option<bool>,
    cert: Option<serde_norway::Value>,
    key: Option<serde_norway::Value>,
    client_ca: Option<serde_norway::Value>,
    cipher_suites: Option<serde_norway::Value>,
    curve_preferences: Option<serde_norway::Value>,
    client_allowed_sans: Option<serde_norway::Value>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    // isotune serves HTTP/1.1 only; `http2` is accepted so that a file
    // written for another exporter loads, and has no effect.
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Which client certificates the TLS front asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuth {
    /// `NoClientCert` (the default).
    None,
    /// `VerifyClientCertIfGiven`: a certificate is optional, but verified
    /// against `client_ca_file` when given.
    VerifyIfGiven,
    /// `RequireAndVerifyClientCert`.
    RequireAndVerify,
}

/// A TLS protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TlsVersion {
    /// TLS 1.2 (`TLS12`, the toolkit's default `min_version`).
    Tls12,
    /// TLS 1.3 (`TLS13`).
    Tls13,
}

/// The checked TLS settings.
#[derive(Clone)]
pub struct Tls {
    /// The certificate chain file (PEM), absolute or relative to the cwd.
    pub cert_file: PathBuf,
    /// The private key file (PEM).
    pub key_file: PathBuf,
    /// Client certificates asked for.
    pub client_auth: ClientAuth,
    /// The CA bundle client certificates are verified against.
    pub client_ca_file: Option<PathBuf>,
    /// Oldest protocol version served.
    pub min_version: TlsVersion,
    /// Newest protocol version served.
    pub max_version: TlsVersion,
    /// The rustls configuration built from the above (files already read).
    pub server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_auth", &self.client_auth)
            .field("client_ca_file", &self.client_ca_file)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .finish_non_exhaustive()
    }
}

/// A loaded and checked `--web.config.file`.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// TLS, when `tls_server_config` is given.
    pub tls: Option<Tls>,
    /// `basic_auth_users`: user name to bcrypt hash. Empty: no auth.
    pub users: BTreeMap<String, String>,
    /// `http_server_config.headers`, added to every response.
    pub headers: Vec<(String, String)>,
}

/// Headers the toolkit allows in `http_server_config.headers`.
const ALLOWED_HEADERS: [&str; 5] = [
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "X-XSS-Protection",
    "Content-Security-Policy",
];

/// Where a key is first written in the file: `(line, column)`, 1-based.
/// serde reports positions only for syntax and shape errors; the checks
/// after parsing (files, hashes) find their key's line by its text.
fn position_of(text: &str, key: &str) -> Option<(usize, usize)> {
    text.lines().enumerate().find_map(|(i, line)| {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let unquoted = trimmed.strip_prefix(key).map(str::trim_start);
        let quoted = ['"', '\''].iter().find_map(|q| {
            trimmed
                .strip_prefix(*q)?
                .strip_prefix(key)?
                .strip_prefix(*q)
                .map(str::trim_start)
        });
        match unquoted.or(quoted) {
            Some(rest) if rest.starts_with(':') => Some((i + 1, indent + 1)),
            _ => None,
        }
    })
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
    dir: PathBuf,
}

impl Ctx<'_> {
    fn err_at(&self, key: &str, problem: String) -> Error {
        let (line, column) =
            position_of(self.text, key).map_or((None, None), |(l, c)| (Some(l), Some(c)));
        Error::WebConfig {
            path: self.path.to_path_buf(),
            line,
            column,
            problem,
        }
    }

    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.dir.join(p)
        }
    }
}

/// Reads, parses and checks `path`; reads the certificate, key and CA files
/// it names.
pub fn load(path: &Path) -> Result<WebConfig, Error> {
    let whole = |problem: String| Error::WebConfig {
        path: path.to_path_buf(),
        line: None,
        column: None,
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    let raw: Option<RawWebConfig> = serde_norway::from_str(&text).map_err(|e| {
        let loc = e.location();
        let mut problem = e.to_string();
        // The position goes in front (`file:line:col:`), not twice.
        if let Some(l) = &loc {
            let tail = format!(" at line {} column {}", l.line(), l.column());
            if let Some(p) = problem.strip_suffix(&tail) {
                problem = p.to_string();
            }
        }
        Error::WebConfig {
            path: path.to_path_buf(),
            line: loc.as_ref().map(|l| l.line()),
            column: loc.as_ref().map(|l| l.column()),
            problem,
        }
    })?;
    let raw = raw.unwrap_or_default();
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let ctx = Ctx {
        path,
        text: &text,
        dir,
    };

    let mut users = BTreeMap::new();
    for (user, hash) in raw.basic_auth_users.unwrap_or_default() {
        if let Err(e) = bcrypt::HashParts::from_str(&hash) {
            return Err(ctx.err_at(
                &user,
                format!("basic_auth_users: {user}: not a bcrypt hash ({e})"),
            ));
        }
        if user.contains(':') {
            return Err(ctx.err_at(
                &user,
                format!("basic_auth_users: {user}: a user name cannot contain ':'"),
            ));
        }
        users.insert(user, hash);
    }

    let mut headers = Vec::new();
    if let Some(http) = raw.http_server_config {
        let _ = http.http2;
        for (name, value) in http.headers.unwrap_or_default() {
            let Some(canon) = ALLOWED_HEADERS
                .iter()
                .find(|h| h.eq_ignore_ascii_case(&name))
            else {
                return Err(ctx.err_at(
                    &name,
                    format!(
                        "http_server_config.headers: {name} is not one of {}",
                        ALLOWED_HEADERS.join(", ")
                    ),
                ));
            };
            if tiny_http::Header::from_bytes(canon.as_bytes(), value.as_bytes()).is_err() {
                return Err(ctx.err_at(
                    &name,
                    format!("http_server_config.headers: {name}: value is not ASCII"),
                ));
            }
            headers.push(((*canon).to_string(), value));
        }
    }

    let tls = raw.tls_server_config.map(|t| tls(&ctx, t)).transpose()?;
    Ok(WebConfig {
        tls,
        users,
        headers,
    })
}

fn version(ctx: &Ctx<'_>, key: &str, v: &str) -> Result<TlsVersion, Error> {
    match v {
        "TLS12" => Ok(TlsVersion::Tls12),
        "TLS13" => Ok(TlsVersion::Tls13),
        "TLS10" | "TLS11" => Err(ctx.err_at(
            key,
            format!("tls_server_config.{key}: {v} is not served (rustls speaks TLS12 and TLS13)"),
        )),
        _ => Err(ctx.err_at(
            key,
            format!("tls_server_config.{key}: {v:?}: expected TLS12 or TLS13"),
        )),
    }
}

fn tls(ctx: &Ctx<'_>, t: RawTls) -> Result<Tls, Error> {
    let _ = t.prefer_server_cipher_suites;
    for (key, given) in [
        ("cert", t.cert.is_some()),
        ("key", t.key.is_some()),
        ("client_ca", t.client_ca.is_some()),
        ("cipher_suites", t.cipher_suites.is_some()),
        ("curve_preferences", t.curve_preferences.is_some()),
        ("client_allowed_sans", t.client_allowed_sans.is_some()),
    ] {
        if given {
            return Err(ctx.err_at(key, format!("tls_server_config.{key}: not supported by isotune (use cert_file, key_file, client_ca_file)")));
        }
    }
    let need = |key: &str, v: Option<String>| {
        v.filter(|s| !s.is_empty())
            .map(|s| ctx.resolve(&s))
            .ok_or_else(|| {
                ctx.err_at(
                    "tls_server_config",
                    format!("tls_server_config: {key} is required"),
                )
            })
    };
    let cert_file = need("cert_file", t.cert_file)?;
    let key_file = need("key_file", t.key_file)?;
    let min_version = t
        .min_version
        .as_deref()
        .map(|v| version(ctx, "min_version", v))
        .transpose()?
        .unwrap_or(TlsVersion::Tls12);
    let max_version = t
        .max_version
        .as_deref()
        .map(|v| version(ctx, "max_version", v))
        .transpose()?
        .unwrap_or(TlsVersion::Tls13);
    if min_version > max_version {
        return Err(ctx.err_at(
            "min_version",
            "tls_server_config: min_version is above max_version".into(),
        ));
    }
    let client_auth = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => ClientAuth::None,
        "VerifyClientCertIfGiven" => ClientAuth::VerifyIfGiven,
        "RequireAndVerifyClientCert" => ClientAuth::RequireAndVerify,
        v @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(ctx.err_at("client_auth_type", format!("tls_server_config.client_auth_type: {v} (an unverified client certificate) is not supported; use VerifyClientCertIfGiven or RequireAndVerifyClientCert")));
        }
        v => {
            return Err(ctx.err_at(
                "client_auth_type",
                format!("tls_server_config.client_auth_type: unknown value {v:?}"),
            ))
        }
    };
    let client_ca_file = t
        .client_ca_file
        .filter(|s| !s.is_empty())
        .map(|s| ctx.resolve(&s));
    if client_auth != ClientAuth::None && client_ca_file.is_none() {
        return Err(ctx.err_at("client_auth_type", "tls_server_config: client_auth_type verifies client certificates: client_ca_file is required".into()));
    }
    if client_auth == ClientAuth::None && client_ca_file.is_some() {
        return Err(ctx.err_at("client_ca_file", "tls_server_config: client_ca_file needs client_auth_type VerifyClientCertIfGiven or RequireAndVerifyClientCert".into()));
    }

    let certs = read_certs(ctx, "cert_file", &cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&key_file).map_err(|e| {
        ctx.err_at(
            "key_file",
            format!(
                "tls_server_config.key_file {}: {}",
                key_file.display(),
                pem_problem(&e)
            ),
        )
    })?;

    // rustls 0.23.48 deprecates the ring provider because it lacks the
    // post-quantum key exchange; the aws-lc-rs provider has it but builds a
    // large C library (cmake-sized) into every isotune build. Scrape traffic
    // is short-lived metrics, so classical ECDHE is the trade taken here.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (min_version..=max_version).contains(v))
    .map(|(_, p)| p)
    .collect();
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| ctx.err_at("min_version", format!("tls_server_config: {e}")))?;
    let builder = match (&client_ca_file, client_auth) {
        (Some(ca), auth) if auth != ClientAuth::None => {
            let mut roots = rustls::RootCertStore::empty();
            for c in read_certs(ctx, "client_ca_file", ca)? {
                roots.add(c).map_err(|e| {
                    ctx.err_at(
                        "client_ca_file",
                        format!("tls_server_config.client_ca_file {}: {e}", ca.display()),
                    )
                })?;
            }
            let v = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&provider),
            );
            let v = if auth == ClientAuth::VerifyIfGiven {
                v.allow_unauthenticated()
            } else {
                v
            };
            let v = v.build().map_err(|e| {
                ctx.err_at(
                    "client_ca_file",
                    format!("tls_server_config.client_ca_file {}: {e}", ca.display()),
                )
            })?;
            builder.with_client_cert_verifier(v)
        }
        _ => builder.with_no_client_auth(),
    };
    let server_config = builder.with_single_cert(certs, key).map_err(|e| {
        ctx.err_at(
            "key_file",
            format!("tls_server_config: certificate and key: {e}"),
        )
    })?;
    Ok(Tls {
        cert_file,
        key_file,
        client_auth,
        client_ca_file,
        min_version,
        max_version,
        server_config: Arc::new(server_config),
    })
}

fn pem_problem(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the expected kind".into(),
        other => format!("{other:?}"),
    }
}

fn read_certs(
    ctx: &Ctx<'_>,
    key: &str,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |p: String| {
        ctx.err_at(
            key,
            format!("tls_server_config.{key} {}: {p}", file.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| bad(pem_problem(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_problem(&e)))?;
    if certs.is_empty() {
        return Err(bad("no CERTIFICATE in the file".into()));
    }
    Ok(certs)
}

/// How many successful (user, password) checks are remembered. A bcrypt
/// check costs ~50-100 ms at cost 10; a Prometheus scraping every second
/// would otherwise spend a tenth of a core on it. When full, the cache is
/// emptied (the next scrape of each user pays one bcrypt again).
const AUTH_CACHE_ENTRIES: usize = 64;

/// Basic auth against `basic_auth_users`, with a bounded cache of
/// successful checks.
#[derive(Debug)]
pub struct Auth {
    users: BTreeMap<String, String>,
    // SHA-256 of user, hash and password: the password itself is never kept.
    ok: Mutex<HashSet<[u8; 32]>>,
}

/// A valid hash for unknown users, so that an unknown user costs the same
/// time as a wrong password (the toolkit does the same).
const DUMMY_HASH: &str = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi";

impl Auth {
    /// `None` when no users are configured (no auth).
    pub fn new(users: &BTreeMap<String, String>) -> Option<Self> {
        (!users.is_empty()).then(|| Self {
            users: users.clone(),
            ok: Mutex::new(HashSet::new()),
        })
    }

    /// Whether an `Authorization` header value carries a configured user
    /// and their password.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some((user, password)) = authorization.and_then(decode_basic) else {
            return false;
        };
        let Some(hash) = self.users.get(&user) else {
            let _ = bcrypt::verify(&password, DUMMY_HASH);
            return false;
        };
        let mut h = Sha256::new();
        for part in [user.as_bytes(), hash.as_bytes(), password.as_bytes()] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let key: [u8; 32] = h.finalize().into();
        let cached = self.ok.lock().map(|s| s.contains(&key)).unwrap_or(false);
        if cached {
            return true;
        }
        let good = bcrypt::verify(&password, hash).unwrap_or(false);
        if good {
            if let Ok(mut s) = self.ok.lock() {
                if s.len() >= AUTH_CACHE_ENTRIES {
                    s.clear();
                }
                s.insert(key);
            }
        }
        good
    }

    /// Entries in the cache (for tests).
    pub fn cached(&self) -> usize {
        self.ok.lock().map(|s| s.len()).unwrap_or(0)
    }
}

fn decode_basic(value: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(bytes).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("web.yml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn problem(text: &str) -> (Option<usize>, String) {
        let dir = tempfile::tempdir().unwrap();
        match load(&write(dir.path(), text)) {
            Err(Error::WebConfig { line, problem, .. }) => (line, problem),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_file_means_no_tls_and_no_auth() {
        let dir = tempfile::tempdir().unwrap();
        let c = load(&write(dir.path(), "# nothing\n")).unwrap();
        assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
    }

    #[test]
    fn unknown_key_names_its_line() {
        let (line, p) = problem("basic_auth_users: {}\ntls_server_config:\n  cert_fil: x\n");
        assert_eq!(line, Some(3), "{p}");
        assert!(p.contains("cert_fil"), "{p}");
    }

    #[test]
    fn unsupported_toolkit_key_is_refused() {
        let (line, p) = problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n");
        assert_eq!(line, Some(4), "{p}");
        assert!(p.contains("not supported"), "{p}");
    }

    #[test]
    fn bad_hash_and_header_name_their_line() {
        let (line, p) = problem("basic_auth_users:\n  alice: $2y$10$short\n");
        assert_eq!(line, Some(2), "{p}");
        assert!(p.contains("alice"), "{p}");
        let (line, p) = problem("http_server_config:\n  headers:\n    X-Powered-By: me\n");
        assert_eq!(line, Some(3), "{p}");
    }

    #[test]
    fn old_tls_versions_are_refused() {
        let (line, p) =
            problem("tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n");
        assert_eq!(line, Some(4), "{p}");
    }

    #[test]
    fn basic_auth_caches_successes_only() {
        let hash = bcrypt::hash("pw", 4).unwrap();
        let auth = Auth::new(&BTreeMap::from([("u".to_string(), hash)])).unwrap();
        let header = |u: &str, p: &str| {
            use base64::Engine as _;
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )
        };
        assert!(!auth.check(None));
        assert!(!auth.check(Some(&header("u", "wrong"))));
        assert!(!auth.check(Some(&header("nobody", "pw"))));
        assert_eq!(auth.cached(), 0);
        assert!(auth.check(Some(&header("u", "pw"))));
        assert!(auth.check(Some(&header("u", "pw"))));
        assert_eq!(auth.cached(), 1);
        assert!(!auth.check(Some("Bearer x")));
    }
}
