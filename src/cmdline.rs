//! Kernel command line parsing with Linux's rules (`kernel/params.c` `next_arg`).
//!
//! Parameters are separated by whitespace; `name=value` or a bare `name`. A double quote
//! protects spaces: `name="a b"` gives the value `a b`, and `"name with spaces"` a quoted
//! bare name. In names `-` and `_` are the same character (`hash-debug` = `hash_debug`).

/// One parameter from the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub value: Option<&'a str>,
}

/// Iterator over the parameters of a command line.
#[derive(Clone, Debug)]
pub struct Params<'a> {
    rest: &'a str,
}

/// Split a command line into parameters.
pub fn parse(cmdline: &str) -> Params<'_> {
    Params { rest: cmdline }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn strip_quotes(s: &str) -> &str {
    let s = s.strip_prefix('"').unwrap_or(s);
    s.strip_suffix('"').unwrap_or(s)
}

impl<'a> Iterator for Params<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        let s = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let bytes = s.as_bytes();
        let mut in_quote = false;
        let mut equals = None;
        let mut end = bytes.len();
        for (i, &b) in bytes.iter().enumerate() {
            if is_space(b) && !in_quote {
                end = i;
                break;
            }
            if equals.is_none() && b == b'=' {
                equals = Some(i);
            }
            if b == b'"' {
                in_quote = !in_quote;
            }
        }
        let word = &s[..end];
        self.rest = &s[end..];
        Some(match equals {
            Some(eq) => Param {
                name: strip_quotes(&word[..eq]),
                value: Some(strip_quotes(&word[eq + 1..])),
            },
            None => Param {
                name: strip_quotes(word),
                value: None,
            },
        })
    }
}

/// Compare parameter names treating `-` and `_` as the same character (Linux `parameq`).
pub fn name_eq(a: &str, b: &str) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// Parse an integer the way the kernel's `kstrtoint(s, 0)` does: decimal, `0x` hex or a
/// leading `0` octal, optional sign.
pub fn parse_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (radix, digits) = if let Some(h) = digits.strip_prefix("0x").or(digits.strip_prefix("0X")) {
        (16, h)
    } else if digits.len() > 1 && digits.starts_with('0') {
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    // from_str_radix would take another sign here ("--3", "0x+a"): digits only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    if neg { v.checked_neg() } else { Some(v) }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn all(s: &str) -> Vec<(&str, Option<&str>)> {
        parse(s).map(|p| (p.name, p.value)).collect()
    }

    #[test]
    fn splits_on_whitespace_and_equals() {
        assert_eq!(
            all("  debug loglevel=8\tquiet  selftest.fault=program "),
            [
                ("debug", None),
                ("loglevel", Some("8")),
                ("quiet", None),
                ("selftest.fault", Some("program")),
            ]
        );
        assert_eq!(all(""), []);
        assert_eq!(all("   "), []);
    }

    #[test]
    fn quotes_protect_spaces() {
        assert_eq!(
            all(r#"a="b c" "d e" f=g"#),
            [("a", Some("b c")), ("d e", None), ("f", Some("g"))]
        );
        // Only the first '=' splits; later ones belong to the value.
        assert_eq!(all("x=y=z"), [("x", Some("y=z"))]);
        assert_eq!(all("empty="), [("empty", Some(""))]);
        // An unterminated quote runs to the end of the line, as in Linux.
        assert_eq!(all(r#"a="b c d"#), [("a", Some("b c d"))]);
    }

    #[test]
    fn dash_and_underscore_are_equivalent_in_names() {
        assert!(name_eq("hash-debug", "hash_debug"));
        assert!(name_eq(
            "selftest.poweroff_at_entry",
            "selftest.poweroff-at-entry"
        ));
        assert!(!name_eq("hash_debug", "hashdebug"));
        assert!(!name_eq("debug", "Debug"));
    }

    #[test]
    fn integers_like_kstrtoint() {
        assert_eq!(parse_int("8"), Some(8));
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("010"), Some(8));
        assert_eq!(parse_int("-3"), Some(-3));
        assert_eq!(parse_int("0"), Some(0));
        assert_eq!(parse_int(""), None);
        assert_eq!(parse_int("8x"), None);
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("--3"), None);
        assert_eq!(parse_int("+-3"), None);
        assert_eq!(parse_int("0x+a"), None);
        assert_eq!(parse_int("--9223372036854775808"), None);
        assert_eq!(
            parse_int("-9223372036854775807"),
            Some(-9223372036854775807)
        );
    }
}
