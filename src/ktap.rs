//! KTAP output (Linux's `Documentation/dev-tools/ktap.rst`, version 1) for the kernel's
//! boot self-checks:
//! ```text
//! KTAP version 1
//! 1..3
//! ok 1 hash_translation_on # MSR 0x8000000000001033
//! not ok 2 hash_linear_map_rw # pa 0x10000000: wrote ..., read ...
//! ```
//! Names never contain `#` or whitespace; a diagnostic is one line.

use core::fmt::{self, Write};

/// The version line.
pub const VERSION_LINE: &str = "KTAP version 1";

/// `1..N`.
pub fn write_plan(w: &mut impl Write, n: usize) -> fmt::Result {
    write!(w, "1..{n}")
}

/// One result line; `diag` (may be empty) follows ` # `, with line breaks and `#`
/// replaced so that it stays one diagnostic.
pub fn write_result(
    w: &mut impl Write,
    number: usize,
    ok: bool,
    name: &str,
    diag: &str,
) -> fmt::Result {
    if !ok {
        w.write_str("not ")?;
    }
    write!(w, "ok {number} ")?;
    for c in name.chars() {
        w.write_char(if c.is_whitespace() || c == '#' {
            '_'
        } else {
            c
        })?;
    }
    if !diag.is_empty() {
        w.write_str(" # ")?;
        for c in diag.chars() {
            w.write_char(match c {
                '\n' | '\r' => ' ',
                '#' => '_',
                c => c,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::String;

    fn line(n: usize, ok: bool, name: &str, diag: &str) -> String {
        let mut s = String::new();
        write_result(&mut s, n, ok, name, diag).unwrap();
        s
    }

    #[test]
    fn result_lines() {
        assert_eq!(
            line(1, true, "hash_translation_on", ""),
            "ok 1 hash_translation_on"
        );
        assert_eq!(
            line(2, false, "a b#c", "x\ny # z"),
            "not ok 2 a_b_c # x y _ z"
        );
        let mut s = String::new();
        write_plan(&mut s, 3).unwrap();
        assert_eq!(s, "1..3");
    }
}
