//! Applies [`DomainEdit`]s to a libvirt domain's XML text.
//!
//! Each edit parses the current text, finds the element it is about and
//! splices the change into the text at that element's byte range, so
//! everything the edit does not touch (comments, namespaces, elements
//! isotune does not model) stays as it was.

use roxmltree::{Document, Node};

use super::{Attr, DomainEdit, FixError};

/// Applies `edits` in order to the domain XML `xml`.
pub fn apply_to_domain(xml: &str, edits: &[DomainEdit]) -> Result<String, FixError> {
    let mut text = xml.to_string();
    for edit in edits {
        text = apply_one(&text, edit)?;
    }
    Ok(text)
}

fn apply_one(text: &str, edit: &DomainEdit) -> Result<String, FixError> {
    let doc = Document::parse(text).map_err(|e| FixError::Xml(e.to_string()))?;
    let root = doc.root_element();
    let devices = element(root, "devices");
    match edit {
        DomainEdit::DomainType { value } => {
            let start = root.range().start;
            let end = start_tag_end(text, start);
            let tag = set_attrs(&text[start..end], &[Attr::new("type", value)], &[]);
            Ok(splice(text, start..end, &tag))
        }
        DomainEdit::EnsureScsiController { model, xml } => {
            let devices = devices.ok_or(FixError::NoDevices)?;
            let exists = elements(devices, "controller").any(|c| {
                c.attribute("type") == Some("scsi") && c.attribute("model") == Some(model)
            });
            if exists {
                return Ok(text.to_string());
            }
            Ok(insert_child(text, devices, xml))
        }
        DomainEdit::ReplaceDisk { target, xml } => {
            let disk = disk(devices, target)?;
            Ok(splice(text, disk.range(), xml))
        }
        DomainEdit::SetDriver {
            target,
            set,
            remove,
        } => {
            let disk = disk(devices, target)?;
            match element(disk, "driver") {
                Some(driver) => {
                    let start = driver.range().start;
                    let end = start_tag_end(text, start);
                    let tag = set_attrs(&text[start..end], set, remove);
                    Ok(splice(text, start..end, &tag))
                }
                None => {
                    let tag = set_attrs("<driver name='qemu'/>", set, remove);
                    Ok(insert_first_child(text, disk, &tag))
                }
            }
        }
        DomainEdit::SetSourceChild { target, name, xml } => {
            let disk = disk(devices, target)?;
            let source =
                element(disk, "source").ok_or_else(|| FixError::NoSource(target.clone()))?;
            match element(source, name) {
                Some(old) => Ok(splice(text, old.range(), xml)),
                None => Ok(insert_child(text, source, xml)),
            }
        }
        DomainEdit::RemoveDiskChild { target, name } => {
            let disk = disk(devices, target)?;
            let mut out = text.to_string();
            // Last first, so earlier ranges stay valid.
            let ranges: Vec<_> = elements(disk, name).map(|c| c.range()).collect();
            for r in ranges.into_iter().rev() {
                out = splice(&out, r, "");
            }
            Ok(out)
        }
        DomainEdit::AddDiskChild { target, name } => {
            let disk = disk(devices, target)?;
            if element(disk, name).is_some() {
                return Ok(text.to_string());
            }
            Ok(insert_child(text, disk, &format!("<{name}/>")))
        }
    }
}

fn element<'a, 'i: 'a>(n: Node<'a, 'i>, name: &'a str) -> Option<Node<'a, 'i>> {
    elements(n, name).next()
}

fn elements<'a, 'i: 'a>(n: Node<'a, 'i>, name: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    n.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn disk<'a, 'i>(devices: Option<Node<'a, 'i>>, target: &str) -> Result<Node<'a, 'i>, FixError> {
    let devices = devices.ok_or(FixError::NoDevices)?;
    elements(devices, "disk")
        .find(|d| element(*d, "target").and_then(|t| t.attribute("dev")) == Some(target))
        .ok_or_else(|| FixError::NoDisk(target.to_string()))
}

fn splice(text: &str, range: std::ops::Range<usize>, with: &str) -> String {
    format!("{}{with}{}", &text[..range.start], &text[range.end..])
}

/// The byte just after the `>` closing the start tag that begins at `start`.
fn start_tag_end(text: &str, start: usize) -> usize {
    let mut quote = None;
    for (i, c) in text[start..].char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '>') => return start + i + 1,
            _ => {}
        }
    }
    text.len()
}

/// Adds `xml` as the last child of `parent` (turning `<x/>` into `<x>...</x>`).
fn insert_child(text: &str, parent: Node<'_, '_>, xml: &str) -> String {
    let range = parent.range();
    let start_end = start_tag_end(text, range.start);
    if start_end == range.end && text[..start_end].ends_with("/>") {
        let open = format!("{}>", text[range.start..start_end - 2].trim_end());
        let name = parent.tag_name().name();
        return splice(text, range, &format!("{open}{xml}</{name}>"));
    }
    // Before the closing tag, indented like the closing tag plus two.
    let close = text[..range.end].rfind("</").unwrap_or(range.end);
    let line_start = text[..close].rfind('\n').map_or(0, |i| i + 1);
    let indent = &text[line_start..close];
    if indent.chars().all(char::is_whitespace) {
        splice(text, close..close, &format!("  {xml}\n{indent}"))
    } else {
        splice(text, close..close, xml)
    }
}

/// Adds `xml` as the first child of `parent`.
fn insert_first_child(text: &str, parent: Node<'_, '_>, xml: &str) -> String {
    let range = parent.range();
    let start_end = start_tag_end(text, range.start);
    if start_end == range.end {
        return insert_child(text, parent, xml);
    }
    splice(text, start_end..start_end, xml)
}

/// Escapes a value for a single-quoted attribute.
pub(crate) fn escape(v: &str) -> String {
    v.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('\'', "&apos;")
}

/// A start tag with `set` attributes set (replaced in place, or appended)
/// and `remove` attributes removed; the rest of the text is kept.
fn set_attrs(tag: &str, set: &[Attr], remove: &[String]) -> String {
    let (name_end, attrs, tail) = tokenize(tag);
    let mut out = tag[..name_end].to_string();
    let mut done = vec![false; set.len()];
    for (name, raw) in attrs {
        if remove.iter().any(|r| r == name) {
            continue;
        }
        match set.iter().position(|a| a.name == name) {
            Some(k) => {
                done[k] = true;
                out += &format!(" {name}='{}'", escape(&set[k].value));
            }
            None => out += &format!(" {raw}"),
        }
    }
    for (a, done) in set.iter().zip(done) {
        if !done {
            out += &format!(" {}='{}'", a.name, escape(&a.value));
        }
    }
    out + tail
}

/// `<name a='1' b="2"/>` as (end of `<name`, [(attr name, attr text)], `/>`).
fn tokenize(tag: &str) -> (usize, Vec<(&str, &str)>, &str) {
    let bytes = tag.as_bytes();
    let mut i = 1;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'/' && bytes[i] != b'>'
    {
        i += 1;
    }
    let name_end = i;
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'/' || bytes[i] == b'>' {
            break;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let name = &tag[start..i];
        while i < bytes.len() && bytes[i] != b'\'' && bytes[i] != b'"' {
            i += 1;
        }
        let Some(&q) = bytes.get(i) else { break };
        i += 1;
        while i < bytes.len() && bytes[i] != q {
            i += 1;
        }
        i = (i + 1).min(bytes.len());
        attrs.push((name, &tag[start..i]));
    }
    (name_end, attrs, &tag[i.min(tag.len())..])
}

#[cfg(test)]
mod tests {
    use super::*;

    const XML: &str = "<domain type='kvm' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>w</name>
  <devices>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type=\"qcow2\" cache='none'/>
      <source file='/isos/a.iso'/>
      <target dev='hdc' bus='ide'/>
    </disk>
    <disk type='file' device='disk'><source file='/isos/b.iso'/><target dev='vda' bus='virtio'/></disk>
  </devices>
</domain>";

    #[test]
    fn attributes_are_set_in_place_and_namespaces_kept() {
        let out = apply_to_domain(
            XML,
            &[
                DomainEdit::DomainType {
                    value: "qemu".into(),
                },
                DomainEdit::SetDriver {
                    target: "hdc".into(),
                    set: vec![Attr::new("type", "raw"), Attr::new("io", "threads")],
                    remove: vec!["cache".into()],
                },
            ],
        )
        .unwrap();
        assert!(out.starts_with(
            "<domain type='qemu' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
        ));
        assert!(
            out.contains("<driver name='qemu' type='raw' io='threads'/>"),
            "{out}"
        );
    }

    #[test]
    fn children_are_added_once_and_disks_replaced() {
        let add = DomainEdit::AddDiskChild {
            target: "vda".into(),
            name: "readonly".into(),
        };
        let ctl = DomainEdit::EnsureScsiController {
            model: "virtio-scsi".into(),
            xml: "<controller type='scsi' index='0' model='virtio-scsi'/>".into(),
        };
        let out = apply_to_domain(XML, &[add.clone(), add, ctl.clone(), ctl]).unwrap();
        assert_eq!(out.matches("<readonly/>").count(), 1, "{out}");
        assert_eq!(out.matches("model='virtio-scsi'").count(), 1, "{out}");
        let out = apply_to_domain(
            &out,
            &[DomainEdit::ReplaceDisk {
                target: "hdc".into(),
                xml: "<disk type='file' device='cdrom'><target dev='sda' bus='scsi'/></disk>"
                    .into(),
            }],
        )
        .unwrap();
        assert!(!out.contains("hdc"));
        Document::parse(&out).unwrap();
        assert_eq!(
            apply_to_domain(
                XML,
                &[DomainEdit::AddDiskChild {
                    target: "sdz".into(),
                    name: "readonly".into()
                }]
            ),
            Err(FixError::NoDisk("sdz".into()))
        );
    }

    #[test]
    fn a_missing_driver_is_added() {
        let out = apply_to_domain(
            XML,
            &[DomainEdit::SetDriver {
                target: "vda".into(),
                set: vec![Attr::new("type", "raw")],
                remove: vec![],
            }],
        )
        .unwrap();
        assert!(
            out.contains("<disk type='file' device='disk'><driver name='qemu' type='raw'/><source"),
            "{out}"
        );
    }
}
