//! The rustls client configuration: the ring provider (as the exporter's
//! server side), TLS 1.2 and 1.3, and either the system's certificate
//! authorities (`SSL_CERT_FILE`, else Debian's bundle) or a `--cacert` file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::{Error, ErrorKind, Result};

/// Where Debian (and most distributions) keep the system bundle.
const SYSTEM_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

pub(crate) fn client_config(cacert: Option<&Path>) -> Result<Arc<rustls::ClientConfig>> {
    let env_bundle = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let path = cacert
        .map(Path::to_path_buf)
        .or(env_bundle)
        .unwrap_or_else(|| SYSTEM_BUNDLE.into());
    let bad = |why: String| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("{}: {why}", path.display()),
        )
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
        .map_err(|e| bad(format!("cannot read certificates: {e}")))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| bad(format!("not a PEM certificate file: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad("no usable certificate in it".to_owned()));
    }
    // The ring provider, as the exporter's server side: rustls deprecates it
    // for lacking post-quantum key exchange, but aws-lc-rs would build a
    // large C library into every isotune build for a benchmark client.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(ErrorKind::Tls, format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
