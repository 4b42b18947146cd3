//! The HTTP server: `/metrics`, `/` and `/-/healthy`.
//!
//! `tiny_http` reads each connection's request on its own pooled thread,
//! so a slow client that holds a connection open does not block others.
//! Each request is then answered on a thread of its own; at most
//! [`ServerConfig::max_scrapes`] `/metrics` requests run at once, more get
//! `503 Service Unavailable` at once rather than queueing behind a slow
//! collector.
//!
//! With a [`WebConfig`] (`--web.config.file`), every route asks for basic
//! auth when users are configured (`401` with `WWW-Authenticate: Basic`
//! otherwise), the configured headers go on every response, and with TLS
//! the public socket is served by the TLS front (`tls.rs`), which
//! relays to `tiny_http` on a private unix socket.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tiny_http::{Header, Request, Response, Server};

use crate::metrics::{render, Format};
use crate::scrape::Scraper;
use crate::webconfig::{Auth, WebConfig};
use crate::Error;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `ADDR:PORT` to listen on.
    pub listen: String,
    /// `/metrics` requests served at once.
    pub max_scrapes: usize,
    /// TLS, basic auth and headers (`--web.config.file`); the default is
    /// plain HTTP for everyone.
    pub web: WebConfig,
}

/// A bound server, ready to [`Listening::run`].
pub struct Listening {
    server: Server,
    scraper: Arc<Scraper>,
    max_scrapes: usize,
    shared: Arc<Shared>,
    /// The TLS front: the public socket, its rustls config and the private
    /// socket `server` listens on.
    tls: Option<(
        std::net::TcpListener,
        Arc<rustls::ServerConfig>,
        std::os::unix::net::SocketAddr,
    )>,
}

/// What every request handler needs besides the scraper.
#[derive(Debug)]
struct Shared {
    auth: Option<Auth>,
    headers: Vec<Header>,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("addr", &self.local_addr())
            .field("max_scrapes", &self.max_scrapes)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// Binds `config.listen`.
pub fn serve(config: &ServerConfig, scraper: Scraper) -> Result<Listening, Error> {
    let listen_err = |source: Box<dyn std::error::Error + Send + Sync>| Error::Listen {
        addr: config.listen.clone(),
        source,
    };
    let (server, tls) = match &config.web.tls {
        None => (Server::http(&config.listen).map_err(listen_err)?, None),
        Some(tls) => {
            let public =
                std::net::TcpListener::bind(&config.listen).map_err(|e| listen_err(Box::new(e)))?;
            let (private, addr) = crate::tls::backend().map_err(|e| listen_err(Box::new(e)))?;
            let server = Server::from_listener(private, None).map_err(listen_err)?;
            (server, Some((public, Arc::clone(&tls.server_config), addr)))
        }
    };
    let headers = config
        .web
        .headers
        .iter()
        .filter_map(|(k, v)| Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
        .collect();
    Ok(Listening {
        server,
        scraper: Arc::new(scraper),
        max_scrapes: config.max_scrapes.max(1),
        shared: Arc::new(Shared {
            auth: Auth::new(&config.web.users),
            headers,
        }),
        tls,
    })
}

impl Listening {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match &self.tls {
            Some((public, ..)) => public.local_addr().ok(),
            None => self.server.server_addr().to_ip(),
        }
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Serves until the process ends.
    pub fn run(mut self) {
        if let Some((public, config, backend)) = self.tls.take() {
            // Without its accept thread the TLS server serves nothing: a
            // failure to start it ends `run` (the command then exits).
            if std::thread::Builder::new()
                .name("tls-accept".into())
                .spawn(move || crate::tls::serve(public, config, backend))
                .is_err()
            {
                return;
            }
        }
        let active = Arc::new(AtomicUsize::new(0));
        for request in self.server.incoming_requests() {
            let scraper = Arc::clone(&self.scraper);
            let active = Arc::clone(&active);
            let shared = Arc::clone(&self.shared);
            let max = self.max_scrapes;
            // If no thread can be made, the request is dropped (its
            // connection closes) and the server goes on.
            let _ = std::thread::Builder::new()
                .name("http".into())
                .spawn(move || handle(request, &scraper, &shared, &active, max));
        }
    }
}

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>isotune exporter</title></head>\n\
<body><h1>isotune exporter</h1>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

type Body = Response<std::io::Cursor<Vec<u8>>>;

fn typed(response: Body, content_type: &str) -> Body {
    // Our content types are ASCII: from_bytes cannot refuse them.
    match Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        Ok(h) => response.with_header(h),
        Err(()) => response,
    }
}

fn header<'r>(request: &'r Request, name: &'static str) -> Option<&'r str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

fn handle(request: Request, scraper: &Scraper, shared: &Shared, active: &AtomicUsize, max: usize) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let authorized = shared
        .auth
        .as_ref()
        .is_none_or(|a| a.check(header(&request, "Authorization")));
    let response = match path.as_str() {
        _ if !authorized => {
            let r = Response::from_string("Unauthorized\n").with_status_code(401);
            match Header::from_bytes(&b"WWW-Authenticate"[..], &b"Basic"[..]) {
                Ok(h) => r.with_header(h),
                Err(()) => r,
            }
        }
        "/metrics" => {
            if active.fetch_add(1, Ordering::AcqRel) >= max {
                active.fetch_sub(1, Ordering::AcqRel);
                Response::from_string("too many concurrent scrapes\n").with_status_code(503)
            } else {
                let format = Format::negotiate(header(&request, "Accept"));
                let body = render(&scraper.scrape(), format);
                active.fetch_sub(1, Ordering::AcqRel);
                typed(Response::from_string(body), format.content_type())
            }
        }
        "/" => typed(Response::from_string(INDEX), "text/html; charset=utf-8"),
        "/-/healthy" => Response::from_string("Healthy\n"),
        _ => Response::from_string("not found\n").with_status_code(404),
    };
    let response = shared
        .headers
        .iter()
        .fold(response, |r, h| r.with_header(h.clone()));
    // The client may have gone; nothing to do about it.
    let _ = request.respond(response);
}
