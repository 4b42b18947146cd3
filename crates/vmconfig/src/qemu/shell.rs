//! Splitting a command line written as shell text (as pasted from a script or
//! a wiki) into words: single and double quotes, backslash escapes, line
//! continuations and `#` comments, as a POSIX shell does without expansions.

use crate::error::{Error, ErrorKind};

/// Splits shell-quoted text into words. `$VAR` and globs are kept literally;
/// an unterminated quote is an error.
pub fn split_cmdline(s: &str) -> Result<Vec<String>, Error> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, '\n')) => {}
                Some((_, other)) => {
                    word.push(other);
                    in_word = true;
                }
                None => {
                    word.push('\\');
                    in_word = true;
                }
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '\'')) => break,
                        Some((_, other)) => word.push(other),
                        None => return Err(unterminated('\'', at)),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.peek().map(|&(_, c)| c) {
                            Some('\n') => {
                                chars.next();
                            }
                            Some(e @ ('"' | '\\' | '$' | '`')) => {
                                chars.next();
                                word.push(e);
                            }
                            _ => word.push('\\'),
                        },
                        Some((_, other)) => word.push(other),
                        None => return Err(unterminated('"', at)),
                    }
                }
            }
            '#' if !in_word => {
                for (_, c) in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

fn unterminated(quote: char, offset: usize) -> Error {
    Error::new(ErrorKind::UnterminatedQuote { quote, offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escapes_and_continuations() {
        let text = "qemu-system-x86_64 \\\n  -name 'my vm' \\\n  -drive \"file=/isos/a b.iso\",media=cdrom \\\n  -append \"console=ttyS0 \\\"q\\\" \\x\" a\\ b ''\n";
        assert_eq!(
            split_cmdline(text).unwrap(),
            [
                "qemu-system-x86_64",
                "-name",
                "my vm",
                "-drive",
                "file=/isos/a b.iso,media=cdrom",
                "-append",
                "console=ttyS0 \"q\" \\x",
                "a b",
                ""
            ]
        );
    }

    #[test]
    fn comments_and_errors() {
        assert_eq!(
            split_cmdline("# run it\nqemu -S # paused\n-m 1G").unwrap(),
            ["qemu", "-S", "-m", "1G"]
        );
        assert_eq!(split_cmdline("a#b").unwrap(), ["a#b"]);
        let e = split_cmdline("qemu -name 'oops").unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::UnterminatedQuote {
                quote: '\'',
                offset: 11
            }
        );
        assert!(split_cmdline("x \"y").is_err());
        assert_eq!(split_cmdline("tail\\").unwrap(), ["tail\\"]);
        assert!(split_cmdline("  \n ").unwrap().is_empty());
    }
}
