//! QemuOpts syntax (`key=value,key2=value2`, `,,` escaping, an implied first
//! key, bare `key` meaning `key=on`) and JSON option arguments, both turned
//! into the same flat list of dotted keys so `-blockdev` JSON and dotted
//! forms, and `-device` JSON (as libvirt writes it), share one code path.

/// A flat list of `key=value` pairs in the order written (dotted keys for
/// nested JSON objects: `file.filename`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Opts {
    pub(crate) pairs: Vec<(String, String)>,
}

impl Opts {
    /// The last value given for `key` (QEMU keeps the last one too).
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The pairs under `prefix.` with the prefix removed.
    pub(crate) fn sub(&self, prefix: &str) -> Opts {
        let dotted = format!("{prefix}.");
        Opts {
            pairs: self
                .pairs
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&dotted).map(|k| (k.to_string(), v.clone())))
                .collect(),
        }
    }
}

/// Parses QemuOpts text. `implied` names the key of a first element written
/// without `=` (`-machine q35` is `type=q35`); other bare keys mean `on`.
pub(crate) fn parse_opts(text: &str, implied: Option<&str>) -> Opts {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    let mut first = true;
    loop {
        // One element: up to an unescaped comma.
        let mut elem = String::new();
        let mut eq_at = None;
        let mut ended = true;
        while let Some(c) = chars.next() {
            if c == ',' {
                if chars.peek() == Some(&',') {
                    chars.next();
                    elem.push(',');
                    continue;
                }
                ended = false;
                break;
            }
            if c == '=' && eq_at.is_none() {
                eq_at = Some(elem.len());
            }
            elem.push(c);
        }
        match eq_at {
            Some(i) => pairs.push((elem[..i].to_string(), elem[i + 1..].to_string())),
            None if first && implied.is_some() => {
                if let (false, Some(key)) = (elem.is_empty(), implied) {
                    pairs.push((key.to_string(), elem));
                }
            }
            None if !elem.is_empty() => pairs.push((elem, "on".to_string())),
            None => {}
        }
        first = false;
        if ended {
            break;
        }
    }
    Opts { pairs }
}

/// Parses a JSON object argument into flat dotted pairs; `None` when the
/// text is not a JSON object.
pub(crate) fn parse_json(text: &str) -> Option<Opts> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if !value.is_object() {
        return None;
    }
    let mut pairs = Vec::new();
    flatten("", &value, &mut pairs, 0);
    Some(Opts { pairs })
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>, depth: u32) {
    use serde_json::Value;
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    if depth > 32 {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(&join(k), v, out, depth + 1);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&join(&i.to_string()), v, out, depth + 1);
            }
        }
        Value::Null => {}
        Value::Bool(b) => out.push((prefix.to_string(), if *b { "on" } else { "off" }.into())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
    }
}

/// Parses an option argument that may be JSON (`{...}`) or QemuOpts.
/// `Err(())` when it looks like JSON but does not parse.
pub(crate) fn parse_any(text: &str, implied: Option<&str>) -> Result<Opts, ()> {
    if text.trim_start().starts_with('{') {
        parse_json(text).ok_or(())
    } else {
        Ok(parse_opts(text, implied))
    }
}

/// QEMU's boolean spellings.
pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "on" | "yes" | "true" | "y" => Some(true),
        "off" | "no" | "false" | "n" => Some(false),
        _ => None,
    }
}

/// A size with an optional suffix as QEMU's `qemu_strtosz` reads it
/// (`b`, `k`, `M`, `G`, `T`, `P`, `E`, powers of 1024, case-insensitive,
/// decimal fractions allowed); `default_unit` applies without a suffix.
pub(crate) fn parse_size(v: &str, default_unit: u64) -> Option<u64> {
    let v = v.trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(split);
    if num.is_empty() {
        return None;
    }
    let unit: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" => default_unit,
        "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        "e" => 1 << 60,
        _ => return None,
    };
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(unit);
    }
    let f: f64 = num.parse().ok()?;
    let bytes = f * unit as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Escapes a value for QemuOpts (`,` becomes `,,`).
pub(crate) fn escape(v: &str) -> String {
    v.replace(',', ",,")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(o: &Opts) -> Vec<(&str, &str)> {
        o.pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn implied_key_escaped_commas_and_bare_booleans() {
        let o = parse_opts("q35,accel=kvm:tcg", Some("type"));
        assert_eq!(pairs(&o), [("type", "q35"), ("accel", "kvm:tcg")]);
        let o = parse_opts("file=/a,,b.iso,readonly,media=cdrom", None);
        assert_eq!(
            pairs(&o),
            [("file", "/a,b.iso"), ("readonly", "on"), ("media", "cdrom")]
        );
        let o = parse_opts("x=a=b,,", None);
        assert_eq!(pairs(&o), [("x", "a=b,")]);
        assert_eq!(parse_opts("", None).pairs.len(), 0);
        assert_eq!(parse_opts(",,,", None).pairs.len(), 1);
    }

    #[test]
    fn json_flattens_to_dotted_keys() {
        let o = parse_any(
            r#"{"driver":"raw","file":{"driver":"file","filename":"/x.iso"},"read-only":true,"n":[1]}"#,
            None,
        )
        .unwrap();
        assert_eq!(o.get("file.filename"), Some("/x.iso"));
        assert_eq!(o.get("read-only"), Some("on"));
        assert_eq!(o.get("n.0"), Some("1"));
        assert_eq!(o.sub("file").get("driver"), Some("file"));
        assert!(parse_any("{nope", None).is_err());
    }

    #[test]
    fn sizes_and_bools() {
        assert_eq!(parse_size("1M", 1), Some(1 << 20));
        assert_eq!(parse_size("256k", 1), Some(256 << 10));
        assert_eq!(parse_size("2048", 1 << 20), Some(2048 << 20));
        assert_eq!(parse_size("1.5G", 1), Some(3 << 29));
        assert_eq!(parse_size("12X", 1), None);
        assert_eq!(parse_size("99999999999999999999E", 1), None);
        assert_eq!(parse_bool("on"), Some(true));
        assert_eq!(parse_bool("maybe"), None);
        assert_eq!(escape("a,b"), "a,,b");
    }
}
