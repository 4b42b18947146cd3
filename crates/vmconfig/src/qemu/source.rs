//! From QEMU block options to a [`Source`]: protocol drivers (`file`,
//! `host_device`, `http`, `nbd`, ...), `file=` strings with protocol prefixes
//! (`http://`, `nbd:`), and the walk down a `-blockdev` chain from the node a
//! device uses (format and filter nodes) to the protocol node at the bottom.

use std::collections::HashMap;
use std::path::PathBuf;

use super::opts::{parse_bool, parse_size, Opts};
use crate::model::Source;

/// Format drivers: a layer that interprets the bytes below it.
pub(crate) fn is_format_driver(d: &str) -> bool {
    matches!(
        d,
        "raw"
            | "qcow2"
            | "qcow"
            | "qed"
            | "vmdk"
            | "vdi"
            | "vpc"
            | "vhdx"
            | "luks"
            | "parallels"
            | "bochs"
            | "cloop"
            | "dmg"
    )
}

/// Filter drivers: pass-through layers with a `file` child.
fn is_filter_driver(d: &str) -> bool {
    matches!(
        d,
        "copy-on-read"
            | "throttle"
            | "preallocate"
            | "blkdebug"
            | "blkverify"
            | "compress"
            | "blklogwrites"
            | "copy-before-write"
            | "snapshot-access"
            | "replication"
    )
}

/// The source of a protocol layer, from its driver and its options (the
/// keys of that layer only, without a `file.` prefix).
pub(crate) fn protocol_source(driver: &str, o: &Opts) -> Source {
    let filename = o.get("filename").unwrap_or_default();
    match driver {
        "file" => Source::File {
            path: PathBuf::from(filename),
        },
        "host_device" | "host_cdrom" => Source::Block {
            path: PathBuf::from(filename),
        },
        "http" | "https" | "ftp" | "ftps" => Source::Http {
            url: o
                .get("url")
                .map(str::to_string)
                .unwrap_or_else(|| filename.to_string()),
            readahead_bytes: o.get("readahead").and_then(|v| parse_size(v, 1)),
            timeout_seconds: o.get("timeout").and_then(|v| v.parse().ok()),
            sslverify: o.get("sslverify").and_then(parse_bool),
        },
        "nbd" => Source::Nbd { url: nbd_url(o) },
        other => Source::Network {
            protocol: other.to_string(),
            url: o
                .get("url")
                .or(o.get("filename"))
                .or(o.get("path"))
                .or(o.get("dir"))
                .unwrap_or_default()
                .to_string(),
        },
    }
}

/// Renders NBD options (`server.*` or the legacy `host`/`port`/`path`, and
/// `export`) as a URL; a `filename` such as `nbd:host:port` is kept.
fn nbd_url(o: &Opts) -> String {
    if let Some(f) = o.get("filename") {
        return f.to_string();
    }
    let export = o.get("export").unwrap_or_default();
    let socket = o.get("server.path").or(o.get("path"));
    if let Some(sock) = socket {
        return format!("nbd+unix:///{export}?socket={sock}");
    }
    let host = o
        .get("server.host")
        .or(o.get("host"))
        .unwrap_or("localhost");
    let port = o.get("server.port").or(o.get("port"));
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    match port {
        Some(p) => format!("nbd://{host}:{p}/{export}"),
        None => format!("nbd://{host}/{export}"),
    }
}

/// The source named by a `-drive file=` string: a path, or a URL or
/// `protocol:` prefix QEMU recognises there.
pub(crate) fn source_from_filename(name: &str) -> Source {
    let lower = name.to_ascii_lowercase();
    for scheme in ["http", "https", "ftp", "ftps"] {
        if lower.starts_with(&format!("{scheme}://")) {
            return Source::Http {
                url: name.to_string(),
                readahead_bytes: None,
                timeout_seconds: None,
                sslverify: None,
            };
        }
    }
    if lower.starts_with("nbd:") || lower.starts_with("nbd+") {
        return Source::Nbd {
            url: name.to_string(),
        };
    }
    // QEMU treats `proto:` (before any `/`) as a protocol prefix.
    if let Some(colon) = name.find(':') {
        let proto = &name[..colon];
        if !proto.is_empty()
            && !proto.contains('/')
            && proto
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '_')
        {
            let protocol = proto.split('+').next().unwrap_or(proto);
            return Source::Network {
                protocol: protocol.to_ascii_lowercase(),
                url: name.to_string(),
            };
        }
    }
    if name.starts_with("/dev/") {
        return Source::Block {
            path: PathBuf::from(name),
        };
    }
    Source::File {
        path: PathBuf::from(name),
    }
}

/// What a walk down a block graph found.
#[derive(Debug, Default)]
pub(crate) struct Chain {
    /// The top-most format driver.
    pub(crate) format: Option<String>,
    /// The protocol layer's source (`None`: no protocol layer found).
    pub(crate) source: Option<Source>,
    /// The top-most explicit `cache.direct`.
    pub(crate) cache_direct: Option<bool>,
    /// The top-most explicit `aio`.
    pub(crate) aio: Option<String>,
    /// The top-most explicit `read-only`.
    pub(crate) readonly: Option<bool>,
    /// Node names the walk went through (so they are not reported unused).
    pub(crate) visited: Vec<String>,
    /// A `file` reference naming no node.
    pub(crate) dangling: Option<String>,
}

/// Walks from the node `o` down `file` children (named nodes from `nodes`,
/// or nested `file.*` options) to the protocol layer.
pub(crate) fn walk(o: &Opts, nodes: &HashMap<String, Opts>, chain: &mut Chain, depth: u32) {
    if depth > 16 {
        return;
    }
    if let Some(n) = o.get("node-name") {
        chain.visited.push(n.to_string());
    }
    let driver = o.get("driver").unwrap_or_default();
    if chain.cache_direct.is_none() {
        chain.cache_direct = o.get("cache.direct").and_then(parse_bool);
    }
    if chain.aio.is_none() {
        chain.aio = o.get("aio").map(str::to_string);
    }
    if chain.readonly.is_none() {
        chain.readonly = o.get("read-only").and_then(parse_bool);
    }
    if is_format_driver(driver) || is_filter_driver(driver) {
        if is_format_driver(driver) && chain.format.is_none() {
            chain.format = Some(driver.to_string());
        }
        if o.pairs.iter().any(|(k, _)| k.starts_with("file.")) {
            walk(&o.sub("file"), nodes, chain, depth + 1);
        } else if let Some(name) = o.get("file") {
            match nodes.get(name) {
                Some(child) if !chain.visited.iter().any(|v| v == name) => {
                    walk(child, nodes, chain, depth + 1)
                }
                Some(_) => {}
                None => chain.dangling = Some(name.to_string()),
            }
        }
    } else if !driver.is_empty() {
        if chain.format.is_none() && depth == 0 {
            // A device on a protocol node reads the bytes as they are.
            chain.format = Some("raw".to_string());
        }
        chain.source = Some(protocol_source(driver, o));
    }
}

/// The model's name for an `aio=` value; `None` for an invalid one.
#[cfg(test)]
mod tests {
    use super::super::opts::{parse_json, parse_opts};
    use super::*;

    #[test]
    fn file_strings() {
        assert!(matches!(
            source_from_filename("/isos/a.iso"),
            Source::File { .. }
        ));
        assert!(matches!(
            source_from_filename("/dev/sr0"),
            Source::Block { .. }
        ));
        assert!(matches!(
            source_from_filename("https://example.org/a.iso"),
            Source::Http { .. }
        ));
        assert_eq!(
            source_from_filename("nbd:localhost:10809"),
            Source::Nbd {
                url: "nbd:localhost:10809".into()
            }
        );
        assert_eq!(
            source_from_filename("iscsi://t/iqn.x/1"),
            Source::Network {
                protocol: "iscsi".into(),
                url: "iscsi://t/iqn.x/1".into()
            }
        );
        assert!(matches!(
            source_from_filename("./a:b/c.iso"),
            Source::File { .. }
        ));
    }

    #[test]
    fn nbd_urls() {
        let o = parse_opts(
            "server.type=inet,server.host=h,server.port=10809,export=iso",
            None,
        );
        assert_eq!(nbd_url(&o), "nbd://h:10809/iso");
        let o = parse_opts("server.type=unix,server.path=/run/n.sock", None);
        assert_eq!(nbd_url(&o), "nbd+unix:///?socket=/run/n.sock");
    }

    #[test]
    fn chains_by_name_and_nested() {
        let mut nodes = HashMap::new();
        let storage = parse_json(r#"{"driver":"file","filename":"/x.iso","node-name":"s","aio":"io_uring","cache":{"direct":true}}"#).unwrap();
        nodes.insert("s".to_string(), storage);
        let top = parse_opts("driver=raw,file=s,node-name=f,read-only=on", None);
        let mut c = Chain::default();
        walk(&top, &nodes, &mut c, 0);
        assert_eq!(c.format.as_deref(), Some("raw"));
        assert_eq!(
            c.source,
            Some(Source::File {
                path: "/x.iso".into()
            })
        );
        assert_eq!(
            (c.cache_direct, c.aio.as_deref(), c.readonly),
            (Some(true), Some("io_uring"), Some(true))
        );
        assert_eq!(c.visited, ["f", "s"]);

        let nested = parse_opts(
            "driver=qcow2,file.driver=http,file.url=http://h/a,file.readahead=1M",
            None,
        );
        let mut c = Chain::default();
        walk(&nested, &nodes, &mut c, 0);
        assert_eq!(c.format.as_deref(), Some("qcow2"));
        assert!(matches!(
            c.source,
            Some(Source::Http {
                readahead_bytes: Some(1048576),
                ..
            })
        ));

        // A cycle ends.
        nodes.insert(
            "a".into(),
            parse_opts("driver=raw,node-name=a,file=a", None),
        );
        let mut c = Chain::default();
        walk(&nodes["a"].clone(), &nodes, &mut c, 0);
        assert!(c.source.is_none());
    }
}
