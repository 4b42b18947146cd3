//! Finding a QEMU's QMP socket on its command line.

use std::path::PathBuf;

/// The unix QMP socket named on a QEMU command line: `-qmp unix:PATH,...`
/// (also `-qmp-pretty`), or `-chardev socket,id=X,path=PATH` used by
/// `-mon chardev=X,mode=control`. `None` when there is none (or it is TCP).
pub fn qmp_socket_from_argv(argv: &[String]) -> Option<PathBuf> {
    let mut control_chardevs = Vec::new();
    let mut chardev_paths = Vec::new();
    let mut it = argv.iter().skip(1);
    while let Some(arg) = it.next() {
        let opt = arg.trim_start_matches('-');
        if !arg.starts_with('-') {
            continue;
        }
        let value = match opt.split_once('=') {
            Some((_, v)) => v.to_string(),
            None => match it.next() {
                Some(v) => v.clone(),
                None => break,
            },
        };
        let opt = opt.split_once('=').map_or(opt, |(o, _)| o);
        match opt {
            "qmp" | "qmp-pretty" => {
                if let Some(rest) = value.strip_prefix("unix:") {
                    let path = rest.split(',').next().unwrap_or("");
                    let path = path.strip_prefix("path=").unwrap_or(path);
                    if !path.is_empty() {
                        return Some(PathBuf::from(path));
                    }
                }
            }
            "chardev" => {
                let mut parts = value.split(',');
                if parts.next() == Some("socket") {
                    let (mut id, mut path) = (None, None);
                    for p in parts {
                        match p.split_once('=') {
                            Some(("id", v)) => id = Some(v.to_string()),
                            Some(("path", v)) => path = Some(PathBuf::from(v)),
                            _ => {}
                        }
                    }
                    if let (Some(id), Some(path)) = (id, path) {
                        chardev_paths.push((id, path));
                    }
                }
            }
            "mon" => {
                let parts: Vec<&str> = value.split(',').collect();
                if parts.contains(&"mode=control") {
                    if let Some(c) = parts.iter().find_map(|p| p.strip_prefix("chardev=")) {
                        control_chardevs.push(c.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    chardev_paths
        .into_iter()
        .find(|(id, _)| control_chardevs.contains(id))
        .map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn qmp_unix_forms() {
        assert_eq!(
            qmp_socket_from_argv(&argv("qemu -m 1G -qmp unix:/run/a.sock,server,nowait")),
            Some(PathBuf::from("/run/a.sock"))
        );
        assert_eq!(
            qmp_socket_from_argv(&argv("qemu -qmp unix:path=/run/b.sock,server=on,wait=off")),
            Some(PathBuf::from("/run/b.sock"))
        );
        assert_eq!(
            qmp_socket_from_argv(&argv("qemu -qmp tcp:127.0.0.1:4444")),
            None
        );
        assert_eq!(qmp_socket_from_argv(&argv("qemu -m 1G")), None);
    }

    #[test]
    fn chardev_with_control_monitor() {
        let a = argv(
            "qemu -chardev socket,id=serial,path=/run/s.sock,server=on \
             -chardev socket,id=mon0,path=/run/m.sock,server=on,wait=off \
             -mon chardev=mon0,mode=control",
        );
        assert_eq!(qmp_socket_from_argv(&a), Some(PathBuf::from("/run/m.sock")));
        // A human monitor on a chardev is not QMP.
        let a = argv("qemu -chardev socket,id=m,path=/run/h.sock -mon chardev=m,mode=readline");
        assert_eq!(qmp_socket_from_argv(&a), None);
    }
}
