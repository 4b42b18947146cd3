//! The HTTP server: `/metrics`, `/` and `/-/healthy`.
//!
//! `tiny_http` reads each connection's request on its own pooled thread,
//! so a slow client that holds a connection open does not block others.
//! Each request is then answered on a thread of its own; at most
//! [`ServerConfig::max_scrapes`] `/metrics` requests run at once, more get
//! `503 Service Unavailable` at once rather than queueing behind a slow
//! collector.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tiny_http::{Header, Request, Response, Server};

use crate::metrics::{render, Format};
use crate::scrape::Scraper;
use crate::Error;

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `ADDR:PORT` to listen on.
    pub listen: String,
    /// `/metrics` requests served at once.
    pub max_scrapes: usize,
}

/// A bound server, ready to [`Listening::run`].
pub struct Listening {
    server: Server,
    scraper: Arc<Scraper>,
    max_scrapes: usize,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening")
            .field("addr", &self.local_addr())
            .field("max_scrapes", &self.max_scrapes)
            .finish_non_exhaustive()
    }
}

/// Binds `config.listen`.
pub fn serve(config: &ServerConfig, scraper: Scraper) -> Result<Listening, Error> {
    let server = Server::http(&config.listen).map_err(|source| Error::Listen {
        addr: config.listen.clone(),
        source,
    })?;
    Ok(Listening {
        server,
        scraper: Arc::new(scraper),
        max_scrapes: config.max_scrapes.max(1),
    })
}

impl Listening {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Serves until the process ends.
    pub fn run(self) {
        let active = Arc::new(AtomicUsize::new(0));
        for request in self.server.incoming_requests() {
            let scraper = Arc::clone(&self.scraper);
            let active = Arc::clone(&active);
            let max = self.max_scrapes;
            // If no thread can be made, the request is dropped (its
            // connection closes) and the server goes on.
            let _ = std::thread::Builder::new()
                .name("http".into())
                .spawn(move || handle(request, &scraper, &active, max));
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

fn handle(request: Request, scraper: &Scraper, active: &AtomicUsize, max: usize) {
    let path = request.url().split('?').next().unwrap_or("").to_string();
    let response = match path.as_str() {
        "/metrics" => {
            if active.fetch_add(1, Ordering::AcqRel) >= max {
                active.fetch_sub(1, Ordering::AcqRel);
                Response::from_string("too many concurrent scrapes\n").with_status_code(503)
            } else {
                let accept = request
                    .headers()
                    .iter()
                    .find(|h| h.field.equiv("Accept"))
                    .map(|h| h.value.as_str().to_string());
                let format = Format::negotiate(accept.as_deref());
                let body = render(&scraper.scrape(), format);
                active.fetch_sub(1, Ordering::AcqRel);
                typed(Response::from_string(body), format.content_type())
            }
        }
        "/" => typed(Response::from_string(INDEX), "text/html; charset=utf-8"),
        "/-/healthy" => Response::from_string("Healthy\n"),
        _ => Response::from_string("not found\n").with_status_code(404),
    };
    // The client may have gone; nothing to do about it.
    let _ = request.respond(response);
}
