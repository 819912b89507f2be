//! KTAP output (Linux's `Documentation/dev-tools/ktap.rst`, version 1) for the kernel's
//! boot self-checks:
//! ```text
//! KTAP version 1
//! 1..3
//! ok 1 hash_translation_on # MSR 0x8000000000001033
//! not ok 2 hash_linear_map_rw # pa 0x10000000: wrote ..., read ...
//! ```
//! Names never contain `#` or whitespace; a diagnostic is one line.

use alloc::string::String;
use core::fmt::{self, Write};

/// One self-check's result: a KTAP test case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub ok: bool,
    /// One line saying what was checked, or what was wrong.
    pub diag: String,
}

impl Check {
    pub fn new(name: &'static str, ok: bool, diag: String) -> Self {
        Check { name, ok, diag }
    }
}

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

/// A KTAP document of suites, each a subtest holding its cases, as KUnit prints them:
/// ```text
/// KTAP version 1
/// 1..2
///     KTAP version 1
///     # Subtest: hash
///     1..3
///     ok 1 hash_translation_on # ...
/// ok 1 hash
///     ...
/// ```
/// Each line is handed to `out` without a line break. Returns the number of failed
/// cases.
pub fn emit(suites: &[(&str, &[Check])], out: &mut dyn FnMut(&str)) -> usize {
    let mut line = String::new();
    let mut failed = 0;
    out(VERSION_LINE);
    let _ = write_plan(&mut line, suites.len());
    out(&line);
    for (i, (name, cases)) in suites.iter().enumerate() {
        line.clear();
        let _ = write!(line, "    {VERSION_LINE}");
        out(&line);
        line.clear();
        let _ = write!(line, "    # Subtest: {name}");
        out(&line);
        line.clear();
        line.push_str("    ");
        let _ = write_plan(&mut line, cases.len());
        out(&line);
        let mut suite_ok = true;
        for (j, c) in cases.iter().enumerate() {
            line.clear();
            line.push_str("    ");
            let _ = write_result(&mut line, j + 1, c.ok, c.name, &c.diag);
            out(&line);
            suite_ok &= c.ok;
            failed += usize::from(!c.ok);
        }
        line.clear();
        let _ = write_result(&mut line, i + 1, suite_ok, name, "");
        out(&line);
    }
    failed
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

    #[test]
    fn document_of_suites() {
        use std::vec::Vec;
        let a = [Check::new("a1", true, "fine".into())];
        let b = [
            Check::new("b1", true, String::new()),
            Check::new("b2", false, "broken".into()),
        ];
        let mut lines: Vec<String> = Vec::new();
        let failed = emit(&[("hash", &a), ("sparse", &b)], &mut |l| {
            lines.push(l.into())
        });
        assert_eq!(failed, 1);
        assert_eq!(
            lines,
            [
                "KTAP version 1",
                "1..2",
                "    KTAP version 1",
                "    # Subtest: hash",
                "    1..1",
                "    ok 1 a1 # fine",
                "ok 1 hash",
                "    KTAP version 1",
                "    # Subtest: sparse",
                "    1..2",
                "    ok 1 b1",
                "    not ok 2 b2 # broken",
                "not ok 2 sparse",
            ]
        );
    }
}
