//! Workloads on a network source: the same request lists, runs, latency
//! histograms and statistics as for a file ([`crate::runner`]), read over
//! HTTP Range requests or NBD through `isotune-net`.
//!
//! [`NetEngine`] holds one connection per request in flight: at depth 1 the
//! requests are read in the calling thread with one reused buffer; at depth
//! N, N scoped threads each own a connection and take the next request in
//! order, so N requests are in flight as with N parallel connections of a
//! hypervisor's network driver. Latency is request sent to last byte read.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use isotune_net::{Conn, NetSource, Scheme};

use crate::result::{TargetInfo, WorkloadResult};
use crate::runner::{prepare_requests, run_loop, CacheMode, Progress, RunConfig};
use crate::target::{Alignment, TargetKind};
use crate::workload::{total_bytes, WorkloadSpec};
use crate::{Completion, EngineKind, Error, ErrorKind, Request, Result};

/// The bench error for a network error (its message names the URL).
pub fn net_error(e: &isotune_net::Error) -> Error {
    Error::new(ErrorKind::Network, e.to_string())
}

/// Connections to one source, one per request in flight.
pub struct NetEngine {
    kind: EngineKind,
    conns: Vec<Box<dyn Conn>>,
    size_bytes: u64,
}

impl std::fmt::Debug for NetEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetEngine")
            .field("kind", &self.kind)
            .field("connections", &self.conns.len())
            .finish()
    }
}

impl NetEngine {
    /// Opens `connections` connections (at least 1) to `source`.
    pub fn open(source: &NetSource, connections: u32) -> Result<NetEngine> {
        let kind = if source.url().scheme.is_http() {
            EngineKind::Http
        } else {
            EngineKind::Nbd
        };
        let conns = (0..connections.max(1))
            .map(|_| source.connect().map_err(|e| net_error(&e)))
            .collect::<Result<Vec<_>>>()?;
        Ok(NetEngine {
            kind,
            conns,
            size_bytes: source.size_bytes(),
        })
    }

    /// HTTP or NBD.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// Connections open (the deepest queue a run can use).
    pub fn connections(&self) -> u32 {
        u32::try_from(self.conns.len()).unwrap_or(u32::MAX)
    }

    /// Reads `requests` in order with `depth` in flight (at most the number
    /// of connections) until `deadline`; returns how many completed.
    pub fn run_until(
        &mut self,
        requests: &[Request],
        depth: u32,
        deadline: Option<Instant>,
        on_done: &mut dyn FnMut(Completion<'_>),
    ) -> Result<usize> {
        let depth = depth as usize;
        if depth == 0 || depth > self.conns.len() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "queue depth {depth} needs as many connections; {} are open",
                    self.conns.len()
                ),
            ));
        }
        if let Some((i, r)) = requests
            .iter()
            .enumerate()
            .find(|(_, r)| r.len == 0 || r.offset >= self.size_bytes)
        {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "request {i} (offset {}, {} bytes) is empty or past the end ({} bytes)",
                    r.offset, r.len, self.size_bytes
                ),
            ));
        }
        let size = self.size_bytes;
        // The last request may run past the end of the image; read what exists.
        let clip = move |r: &Request| -> usize {
            usize::try_from(u64::from(r.len).min(size - r.offset)).unwrap_or(0)
        };
        if depth == 1 {
            let conn = &mut self.conns[0];
            let mut buf = vec![0u8; requests.iter().map(&clip).max().unwrap_or(0)];
            let mut done = 0;
            for (index, r) in requests.iter().enumerate() {
                if done > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let n = clip(r);
                let start = Instant::now();
                conn.read_exact_at(r.offset, &mut buf[..n])
                    .map_err(|e| net_error(&e))?;
                let latency_ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                on_done(Completion {
                    index,
                    bytes: n as u32,
                    latency_ns,
                    data: &buf[..n],
                });
                done += 1;
            }
            return Ok(done);
        }
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel::<(usize, u64, Result<Vec<u8>>)>();
        let mut done = 0;
        let mut first_error = None;
        std::thread::scope(|s| {
            for conn in self.conns.iter_mut().take(depth) {
                let (tx, next, stop) = (tx.clone(), &next, &stop);
                s.spawn(move || loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = requests.get(index) else { break };
                    if index > 0 && deadline.is_some_and(|d| Instant::now() >= d) {
                        break;
                    }
                    let mut buf = vec![0u8; clip(r)];
                    let start = Instant::now();
                    let result = conn.read_exact_at(r.offset, &mut buf);
                    let latency = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
                    let failed = result.is_err();
                    let msg = result.map(|()| buf).map_err(|e| net_error(&e));
                    if tx.send((index, latency, msg)).is_err() || failed {
                        stop.store(true, Ordering::Relaxed);
                        break;
                    }
                });
            }
            drop(tx);
            for (index, latency_ns, result) in rx {
                match result {
                    Ok(data) => {
                        on_done(Completion {
                            index,
                            bytes: data.len() as u32,
                            latency_ns,
                            data: &data,
                        });
                        done += 1;
                    }
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
        });
        match first_error {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }
}

/// Runs `requests` of workload `name` on `engine` as `config` says (its
/// cache mode must be [`CacheMode::Server`]; its queue depth is the number
/// of connections used) and returns every run with the summary.
pub fn run_net_workload(
    engine: &mut NetEngine,
    name: &str,
    spec: &WorkloadSpec,
    requests: &[Request],
    config: &RunConfig,
    progress: &dyn Progress,
) -> Result<WorkloadResult> {
    let requests = prepare_requests(name, requests, config)?;
    if config.cache != CacheMode::Server {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "a network source has no local page cache: use the server cache mode",
        ));
    }
    let kind = engine.kind();
    let (warmup_runs, runs, summary) = run_loop(
        name,
        &requests,
        config,
        progress,
        || Ok(None),
        |requests, deadline, on_done| {
            engine.run_until(requests, config.queue_depth, deadline, on_done)
        },
    )?;
    Ok(WorkloadResult {
        name: name.to_owned(),
        spec: spec.clone(),
        engine: kind,
        queue_depth: config.queue_depth,
        direct: false,
        cache_mode: CacheMode::Server,
        request_count: requests.len() as u64,
        request_bytes: total_bytes(&requests),
        warmup_runs,
        runs,
        summary,
    })
}

impl TargetInfo {
    /// The facts of a network source (its URL without credentials).
    pub fn of_source(source: &NetSource) -> TargetInfo {
        TargetInfo {
            path: source.url().redacted(),
            size_bytes: source.size_bytes(),
            kind: match source.url().scheme {
                Scheme::Http | Scheme::Https => TargetKind::Http,
                Scheme::Nbd | Scheme::NbdUnix => TargetKind::Nbd,
            },
            direct: false,
            alignment: Alignment::NONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::NoProgress;
    use isotune_net::NetOptions;
    use isotune_testutil::rangeserver::{Config, RangeServer};
    use std::sync::atomic::Ordering;

    #[test]
    fn every_request_is_read_once_at_any_depth_with_the_right_bytes() {
        let image = isotune_testutil::Rng::new(11).bytes(1 << 20);
        let server = RangeServer::start(image.clone(), Config::default());
        let source = NetSource::open(&server.url(false), &NetOptions::default()).unwrap();
        let mut engine = NetEngine::open(&source, 4).unwrap();
        assert_eq!((engine.kind(), engine.connections()), (EngineKind::Http, 4));
        let requests = crate::workload::rand(
            1 << 20,
            4096,
            3,
            crate::workload::RandAmount::Requests(200),
            1,
        )
        .unwrap();
        for depth in [1, 4] {
            let before = server.counters.gets.load(Ordering::Relaxed);
            let mut seen = vec![0u32; requests.len()];
            let done = engine
                .run_until(&requests, depth, None, &mut |c| {
                    let r = requests[c.index];
                    assert_eq!(c.data, &image[r.offset as usize..][..r.len as usize]);
                    seen[c.index] += 1;
                })
                .unwrap();
            assert_eq!(done, requests.len());
            assert!(seen.iter().all(|&n| n == 1), "depth {depth}");
            let served = server.counters.gets.load(Ordering::Relaxed) - before;
            assert_eq!(served, requests.len() as u64, "depth {depth}");
        }
        assert!(engine.run_until(&requests, 5, None, &mut |_| {}).is_err());

        let config = RunConfig {
            runs: 2,
            warmup: 0,
            cache: CacheMode::Server,
            queue_depth: 2,
            ..RunConfig::default()
        };
        let spec = WorkloadSpec::rand(4096, 3);
        let r = run_net_workload(
            &mut engine,
            "rand-4k",
            &spec,
            &requests,
            &config,
            &NoProgress,
        )
        .unwrap();
        assert_eq!((r.runs.len(), r.request_count, r.queue_depth), (2, 200, 2));
        assert!(r
            .runs
            .iter()
            .all(|run| run.requests == 200 && run.bytes == 200 * 4096));
        let cold = RunConfig {
            cache: CacheMode::Cold,
            ..config
        };
        assert!(run_net_workload(&mut engine, "x", &spec, &requests, &cold, &NoProgress).is_err());
    }
}
