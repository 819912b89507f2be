//! A parser for the kernel's KTAP output (Linux's `Documentation/dev-tools/ktap.rst`,
//! version 1), as it appears on the console: one document at the end of boot, a subtest
//! per suite as KUnit prints them, every line behind the printk timestamp:
//! ```text
//! [    0.145014] KTAP version 1
//! [    0.145051] 1..2
//! [    0.145071]     KTAP version 1
//! [    0.145071]     # Subtest: hash
//! [    0.145123]     1..3
//! [    0.145421]     ok 1 hash_translation_on # MSR 0x8000000000000033
//! ...
//! [    0.145545] ok 1 hash
//! ...
//! ```
//! The parser is strict, since the kernel is the only producer and its format is a
//! contract: the plan comes first, results are numbered from 1 without gaps, a subtest
//! (indented four spaces more) is followed at once by its parent's result line of the
//! same name, and the document ends when its plan is complete. Anything else inside a
//! document (an unknown line, a wrong indentation, a document cut short) is an error
//! naming the line.

use std::fmt;

/// A KTAP document: the top level, or a subtest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document {
    /// From `KTAP version N`.
    pub version: u32,
    /// From `# Subtest: NAME` (a subtest's header); `None` at the top level.
    pub name: Option<String>,
    /// `1..N`.
    pub plan: usize,
    /// The results, numbered 1..=plan (the parser checks both).
    pub results: Vec<TestResult>,
    /// Diagnostic lines (`# ...`, without `# `) other than the `# Subtest:` header.
    pub diagnostics: Vec<String>,
}

/// One `ok`/`not ok` line, with the subtest before it if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResult {
    pub number: usize,
    pub ok: bool,
    /// The description (the test's name); may be empty.
    pub name: String,
    /// Everything after ` # `, directive included.
    pub diag: Option<String>,
    pub directive: Option<Directive>,
    pub subtest: Option<Document>,
}

impl TestResult {
    /// `ok` and not skipped.
    pub fn passed(&self) -> bool {
        self.ok && self.directive != Some(Directive::Skip)
    }
}

/// A directive at the start of a result's diagnostic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Skip,
    Todo,
}

/// Malformed input: the line (1-based in the text parsed; 0 when there is no line to
/// name), its text without the timestamp, and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub text: String,
    pub message: String,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "KTAP: {}", self.message)
        } else {
            write!(
                f,
                "KTAP line {}: {}: {:?}",
                self.line, self.message, self.text
            )
        }
    }
}

impl std::error::Error for Error {}

/// Indentation of one nesting level.
pub const INDENT: usize = 4;

/// The only version this parser knows.
pub const VERSION: u32 = 1;

/// A console line without its printk timestamp (`[SSSSS.UUUUUU] `, the seconds right
/// aligned in at least five columns); other lines unchanged.
pub fn strip_timestamp(line: &str) -> &str {
    crate::boot::strip_timestamp(line)
}

/// Parse the one KTAP document in `text` (a console log or an excerpt; timestamps are
/// stripped). Lines before the document's `KTAP version` line (at column 0) and after
/// its last result are not looked at, except that a second top-level document is an
/// error, as is no document at all. Every line of the document must have the same
/// prefix (the printk timestamp) as its version line, as Linux's kunit_parser.py takes
/// the prefix's length from the version line and strips that many characters from
/// every line after it.
pub fn parse(text: &str) -> Result<Document, Error> {
    let prefix = |l: &str| l.len() - strip_timestamp(l).len();
    let raw: Vec<&str> = text.lines().collect();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, strip_timestamp(l)))
        .collect();
    let start = lines
        .iter()
        .position(|(_, l)| is_version_line(l))
        .ok_or_else(|| Error {
            line: 0,
            text: String::new(),
            message: "no 'KTAP version' line".into(),
        })?;
    let mut p = Parser {
        lines: &lines,
        pos: start,
    };
    let doc = p.document(0)?;
    let want = prefix(raw[start]);
    if let Some(i) = (start..p.pos).find(|&i| prefix(raw[i]) != want) {
        return Err(Error {
            line: i + 1,
            text: lines[i].1.to_string(),
            message: format!(
                "a prefix of {} characters before the KTAP text where the version line has {want}",
                prefix(raw[i])
            ),
        });
    }
    if let Some(&(n, l)) = lines[p.pos..].iter().find(|(_, l)| is_version_line(l)) {
        return Err(Error {
            line: n,
            text: l.to_string(),
            message: "a second KTAP document".into(),
        });
    }
    Ok(doc)
}

fn is_version_line(l: &str) -> bool {
    l.starts_with("KTAP version ")
}

impl Document {
    /// Every result `ok` and not skipped, in every subtest.
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(|r| {
            r.ok && r.directive != Some(Directive::Skip)
                && r.subtest.as_ref().is_none_or(Document::all_ok)
        })
    }

    /// The results that are not ok (or skipped), deepest first in document order, as
    /// `suite.case # diag` paths (the diagnostic when there is one).
    pub fn failures(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.collect_failures("", &mut out);
        out
    }

    fn collect_failures(&self, prefix: &str, out: &mut Vec<String>) {
        for r in &self.results {
            let path = format!("{prefix}{}", r.name);
            if let Some(sub) = &r.subtest {
                sub.collect_failures(&format!("{path}."), out);
            }
            let bad = !r.ok || r.directive == Some(Directive::Skip);
            // A suite is listed only when none of its cases explains its status.
            let explained = r.subtest.as_ref().is_some_and(|s| !s.all_ok());
            if bad && !explained {
                match &r.diag {
                    Some(d) => out.push(format!("{path} # {d}")),
                    None => out.push(path),
                }
            }
        }
    }

    /// Every leaf case (a result without a subtest), at every level, in document order,
    /// with its `suite.case` path.
    pub fn leaves(&self) -> Vec<(String, &TestResult)> {
        fn walk<'d>(d: &'d Document, prefix: &str, out: &mut Vec<(String, &'d TestResult)>) {
            for r in &d.results {
                let path = format!("{prefix}{}", r.name);
                match &r.subtest {
                    Some(s) => walk(s, &format!("{path}."), out),
                    None => out.push((path, r)),
                }
            }
        }
        let mut out = Vec::new();
        walk(self, "", &mut out);
        out
    }

    /// The result named `name` at this level.
    pub fn result(&self, name: &str) -> Option<&TestResult> {
        self.results.iter().find(|r| r.name == name)
    }

    /// The subtest (suite) of the result named `name` at this level.
    pub fn suite(&self, name: &str) -> Option<&Document> {
        self.result(name)?.subtest.as_ref()
    }

    /// The names of the results at this level, in order.
    pub fn names(&self) -> Vec<&str> {
        self.results.iter().map(|r| r.name.as_str()).collect()
    }

    /// Leaf results (those without a subtest) at every level.
    pub fn cases(&self) -> usize {
        self.results
            .iter()
            .map(|r| r.subtest.as_ref().map_or(1, Document::cases))
            .sum()
    }

    /// Leaf results that are not ok, at every level.
    pub fn not_ok_cases(&self) -> usize {
        self.results
            .iter()
            .map(|r| match &r.subtest {
                Some(s) => s.not_ok_cases(),
                None => usize::from(!r.ok),
            })
            .sum()
    }
}

struct Parser<'a> {
    /// (line number, text without timestamp).
    lines: &'a [(usize, &'a str)],
    pos: usize,
}

impl<'a> Parser<'a> {
    fn err(&self, at: usize, message: impl Into<String>) -> Error {
        match self.lines.get(at) {
            Some(&(n, l)) => Error {
                line: n,
                text: l.to_string(),
                message: message.into(),
            },
            None => Error {
                line: self.lines.last().map_or(0, |&(n, _)| n + 1),
                text: String::new(),
                message: message.into(),
            },
        }
    }

    /// The next line split into (indentation, content), or `None` at the end.
    fn peek(&self) -> Option<(usize, &'a str)> {
        let &(_, l) = self.lines.get(self.pos)?;
        let content = l.trim_start_matches(' ');
        Some((l.len() - content.len(), content))
    }

    /// The next line, which must be at `indent`; its content.
    fn expect_at(&mut self, indent: usize, what: &str) -> Result<&'a str, Error> {
        match self.peek() {
            None => Err(self.err(self.pos, format!("input ends where {what} should be"))),
            Some((i, c)) if i == indent => {
                self.pos += 1;
                Ok(c)
            }
            Some((i, _)) => Err(self.err(
                self.pos,
                format!("{what} expected at indentation {indent}, found {i}"),
            )),
        }
    }

    /// A document whose version line is the next line, at `indent`.
    fn document(&mut self, indent: usize) -> Result<Document, Error> {
        let at = self.pos;
        let version_line = self.expect_at(indent, "'KTAP version 1'")?;
        let version = version_line
            .strip_prefix("KTAP version ")
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| self.err(at, "not a 'KTAP version N' line"))?;
        if version != VERSION {
            return Err(self.err(at, format!("KTAP version {version} is not supported")));
        }
        let mut doc = Document {
            version,
            name: None,
            plan: 0,
            results: Vec::new(),
            diagnostics: Vec::new(),
        };
        // Header: diagnostics (the subtest's name among them), then the plan.
        loop {
            let at = self.pos;
            let line = self.expect_at(indent, "the plan '1..N'")?;
            if let Some(name) = line.strip_prefix("# Subtest: ") {
                if indent == 0 || doc.name.is_some() {
                    return Err(self.err(at, "unexpected '# Subtest:' line"));
                }
                doc.name = Some(name.to_string());
            } else if let Some(d) = diagnostic(line) {
                doc.diagnostics.push(d.to_string());
            } else if let Some(n) = line.strip_prefix("1..") {
                doc.plan = n
                    .parse()
                    .map_err(|_| self.err(at, "malformed plan (want '1..N')"))?;
                break;
            } else {
                return Err(self.err(at, "the plan '1..N' must come before any result"));
            }
        }
        // Body: results (each possibly after its subtest) and diagnostics.
        while doc.results.len() < doc.plan {
            let expected = doc.results.len() + 1;
            let Some((i, content)) = self.peek() else {
                return Err(self.err(
                    self.pos,
                    format!(
                        "document ends after {} of {} results",
                        doc.results.len(),
                        doc.plan
                    ),
                ));
            };
            let subtest = if i == indent + INDENT && is_version_line(content) {
                Some(self.document(indent + INDENT)?)
            } else if i < indent {
                return Err(self.err(
                    self.pos,
                    format!(
                        "subtest ends after {} of {} results",
                        doc.results.len(),
                        doc.plan
                    ),
                ));
            } else if i != indent {
                return Err(self.err(
                    self.pos,
                    format!(
                        "indentation {i} inside a document at {indent} (only a subtest's \
                         'KTAP version' line may be indented {} more)",
                        INDENT
                    ),
                ));
            } else if let Some(d) = diagnostic(content) {
                doc.diagnostics.push(d.to_string());
                self.pos += 1;
                continue;
            } else {
                None
            };
            let at = self.pos;
            let line = self.expect_at(indent, "a result line")?;
            let mut r = result_line(line).map_err(|m| self.err(at, m))?;
            if r.number != expected {
                return Err(self.err(
                    at,
                    format!("result numbered {}, expected {expected}", r.number),
                ));
            }
            if let Some(sub) = &subtest
                && let Some(name) = &sub.name
                && *name != r.name
            {
                return Err(self.err(
                    at,
                    format!("the result of subtest '{name}' is named '{}'", r.name),
                ));
            }
            r.subtest = subtest;
            doc.results.push(r);
        }
        Ok(doc)
    }
}

/// `# text` (or a bare `#`) -> the text.
fn diagnostic(line: &str) -> Option<&str> {
    if line == "#" {
        return Some("");
    }
    line.strip_prefix("# ")
}

/// `ok N[ name][ # diag]` or `not ok N...`.
fn result_line(line: &str) -> Result<TestResult, String> {
    let (ok, rest) = if let Some(r) = line.strip_prefix("ok ") {
        (true, r)
    } else if let Some(r) = line.strip_prefix("not ok ") {
        (false, r)
    } else {
        return Err("not a result line ('ok N name' or 'not ok N name')".into());
    };
    let (number, rest) = match rest.split_once(' ') {
        Some((n, r)) => (n, r),
        None => (rest, ""),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("result number '{number}' is not a number"));
    }
    let number: usize = number
        .parse()
        .map_err(|_| format!("result number '{number}' is out of range"))?;
    // ` # ` starts the diagnostic; a name that is only a `#...` has none.
    let (name, diag) = if let Some(d) = rest.strip_prefix("# ") {
        ("", Some(d))
    } else if rest == "#" {
        ("", Some(""))
    } else {
        match rest.split_once(" # ") {
            Some((n, d)) => (n, Some(d)),
            None => (rest.strip_suffix(" #").unwrap_or(rest), None),
        }
    };
    if name.contains('#') {
        return Err(format!("'#' in the test name '{name}'"));
    }
    let directive = diag.and_then(|d| {
        let word = d.split_whitespace().next().unwrap_or("");
        if word.eq_ignore_ascii_case("SKIP") {
            Some(Directive::Skip)
        } else if word.eq_ignore_ascii_case("TODO") {
            Some(Directive::Todo)
        } else {
            None
        }
    });
    Ok(TestResult {
        number,
        ok,
        name: name.to_string(),
        diag: diag.map(String::from),
        directive,
        subtest: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real boot logs (qemu/run ... --log), cut where each test says.
    /// A whole SLOF -m 2G console (firmware output first), default ordering: all ok.
    const SLOF_2G: &str = include_str!("../tests/fixtures/ktap/slof-2g-v4.19.log");
    /// VOF -m 2G `debug`, from `memmap_init:` to `reboot: Power down`.
    const VOF_2G_DEBUG: &str = include_str!("../tests/fixtures/ktap/vof-2g-debug-v4.19.log");
    /// SLOF -m 2G `debug sparse_init=mmotm-2018-07-10` (the 2018 machine), from
    /// `sparse_init:` to the panic's end marker.
    const SLOF_MMOTM: &str = include_str!("../tests/fixtures/ktap/slof-2g-mmotm-2018-07-10.log");
    /// VOF -m 2G without 16M pages, `sparse_init=mmotm-2018-07-10`, same cut.
    const VOF_64K_MMOTM: &str =
        include_str!("../tests/fixtures/ktap/vof-2g-64k-mmotm-2018-07-10.log");

    const HASH_CASES: [&str; 3] = [
        "hash_translation_on",
        "hash_linear_map_rw",
        "hash_bolted_read_back",
    ];
    const SPARSE_CASES: [&str; 7] = [
        "sparse_sections_valid",
        "sparse_vmemmap_mapped_once",
        "sparse_vmemmap_backings",
        "sparse_usemaps",
        "sparse_pfn_round_trip",
        "sparse_memmap_size",
        "sparse_struct_pages",
    ];

    /// The fixture's lines from the one containing `from` to the one containing `to`.
    fn cut(text: &str, from: &str, to: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let a = lines.iter().position(|l| l.contains(from)).unwrap();
        let b = a + lines[a..].iter().position(|l| l.contains(to)).unwrap();
        lines[a..=b].join("\n") + "\n"
    }

    /// `text` with the first line containing `old` replaced by `new` (kept timestamp).
    fn edit(text: &str, old: &str, new: &str) -> String {
        let mut done = false;
        let out: Vec<String> = text
            .lines()
            .map(|l| {
                if !done && l.contains(old) {
                    done = true;
                    l.replacen(old, new, 1)
                } else {
                    l.to_string()
                }
            })
            .collect();
        assert!(done, "'{old}' not in the text");
        out.join("\n") + "\n"
    }

    fn err(text: &str) -> Error {
        parse(text).expect_err("malformed input accepted")
    }

    #[test]
    fn timestamps_are_stripped_indentation_kept() {
        assert_eq!(
            strip_timestamp("[    0.145421]     ok 1 hash_translation_on # MSR 0x8"),
            "    ok 1 hash_translation_on # MSR 0x8"
        );
        assert_eq!(strip_timestamp("[12345.000001] 1..2"), "1..2");
        assert_eq!(strip_timestamp("    ok 1 a"), "    ok 1 a");
        // Not a timestamp (5 digits after the point): left alone.
        assert_eq!(strip_timestamp("[    0.14542] 1..2"), "[    0.14542] 1..2");
    }

    #[test]
    fn slof_console_all_ok() {
        let doc = parse(SLOF_2G).unwrap();
        assert_eq!(doc.version, 1);
        assert_eq!(doc.name, None);
        assert_eq!(doc.plan, 2);
        assert_eq!(doc.names(), ["hash", "sparse"]);
        assert!(doc.all_ok(), "{:?}", doc.failures());
        assert!(doc.failures().is_empty());
        assert_eq!(doc.cases(), 10);
        assert_eq!(doc.not_ok_cases(), 0);
        let hash = doc.suite("hash").unwrap();
        assert_eq!(hash.name.as_deref(), Some("hash"));
        assert_eq!((hash.version, hash.plan), (1, 3));
        assert_eq!(hash.names(), HASH_CASES);
        let sparse = doc.suite("sparse").unwrap();
        assert_eq!(sparse.plan, 7);
        assert_eq!(sparse.names(), SPARSE_CASES);
        let r = sparse.result("sparse_vmemmap_mapped_once").unwrap();
        assert_eq!(r.number, 2);
        assert!(r.ok);
        assert_eq!(r.directive, None);
        assert_eq!(
            r.diag.as_deref(),
            Some(
                "1 vmemmap pages of 16M: each once in vmemmap_list and once in the hash \
                 table (16 entries read with H_READ)"
            )
        );
        let top = doc.result("sparse").unwrap();
        assert_eq!((top.number, top.ok, top.diag.as_deref()), (2, true, None));
        assert!(doc.result("nope").is_none() && doc.suite("nope").is_none());
    }

    #[test]
    fn vof_excerpt_all_ok_and_lines_after_the_document_ignored() {
        let doc = parse(VOF_2G_DEBUG).unwrap();
        assert!(doc.all_ok());
        assert_eq!(doc.suite("hash").unwrap().results.len(), 3);
        assert_eq!(doc.suite("sparse").unwrap().results.len(), 7);
        // A kernel line cut at the timestamp or other noise after the end: not looked at.
        let more = format!("{VOF_2G_DEBUG}[    9.000000] not ok 9 noise\ngarbage\n");
        assert_eq!(parse(&more).unwrap(), doc);
    }

    #[test]
    fn mmotm_16m_failures_listed() {
        let doc = parse(SLOF_MMOTM).unwrap();
        assert!(!doc.all_ok());
        assert!(doc.suite("hash").unwrap().all_ok());
        assert!(doc.result("hash").unwrap().ok);
        assert!(!doc.result("sparse").unwrap().ok);
        let sparse = doc.suite("sparse").unwrap();
        let bad: Vec<&str> = sparse
            .results
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            bad,
            [
                "sparse_sections_valid",
                "sparse_vmemmap_mapped_once",
                "sparse_usemaps",
                "sparse_pfn_round_trip",
                "sparse_memmap_size"
            ]
        );
        // The kernel's panic says how many failed.
        assert_eq!(doc.not_ok_cases(), 5);
        assert!(SLOF_MMOTM.contains("Kernel panic - not syncing: 5 boot self-check(s) failed"));
        let failures = doc.failures();
        assert_eq!(failures.len(), 5);
        assert_eq!(
            failures[1],
            "sparse.sparse_vmemmap_mapped_once # vmemmap page 0xf000000000000000: 126 \
             backings in vmemmap_list, 8 entries in the hash table (8 primary, 0 secondary)"
        );
    }

    #[test]
    fn mmotm_64k_failures_listed() {
        let doc = parse(VOF_64K_MMOTM).unwrap();
        let sparse = doc.suite("sparse").unwrap();
        let bad: Vec<&str> = sparse
            .results
            .iter()
            .filter(|r| !r.ok)
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(
            bad,
            [
                "sparse_vmemmap_mapped_once",
                "sparse_pfn_round_trip",
                "sparse_memmap_size"
            ]
        );
        assert_eq!(doc.not_ok_cases(), 3);
        assert!(doc.failures()[0].starts_with("sparse.sparse_vmemmap_mapped_once # "));
    }

    #[test]
    fn hash_failure_document_has_only_the_hash_suite() {
        // What the kernel prints when a hash check fails (boot stops before sparse init):
        // the real hash suite with one result turned into a failure, plan 1..1.
        let hash = cut(VOF_2G_DEBUG, "] KTAP version 1", "] ok 1 hash");
        let hash = edit(&hash, "] 1..2", "] 1..1");
        let hash = edit(
            &hash,
            "    ok 3 hash_bolted_read_back # 128 of 128",
            "    not ok 3 hash_bolted_read_back # 127 of 128",
        );
        let hash = edit(&hash, "] ok 1 hash", "] not ok 1 hash");
        let text = format!(
            "{hash}[    0.145867] Kernel panic - not syncing: 1 boot self-check(s) failed\n"
        );
        let doc = parse(&text).unwrap();
        assert_eq!(doc.plan, 1);
        assert_eq!(doc.names(), ["hash"]);
        assert!(!doc.all_ok());
        assert_eq!(doc.not_ok_cases(), 1);
        assert_eq!(
            doc.failures(),
            ["hash.hash_bolted_read_back # 127 of 128 bolted entries read back with H_READ"]
        );
    }

    #[test]
    fn directives() {
        let text = "KTAP version 1\n1..3\nok 1 a # SKIP not here\nnot ok 2 b # TODO later\n\
                    ok 3 c # skipped? no\n";
        let doc = parse(text).unwrap();
        assert_eq!(doc.results[0].directive, Some(Directive::Skip));
        assert_eq!(doc.results[0].diag.as_deref(), Some("SKIP not here"));
        assert_eq!(doc.results[1].directive, Some(Directive::Todo));
        assert_eq!(doc.results[2].directive, None);
        // A skipped case is not a pass.
        assert!(!doc.all_ok());
        assert_eq!(doc.failures(), ["a # SKIP not here", "b # TODO later"]);
        // Names and diagnostics optional; diagnostics between results kept.
        let doc = parse("KTAP version 1\n1..2\nok 1\n# note\nnot ok 2 # why\n").unwrap();
        assert_eq!(doc.results[0].name, "");
        assert_eq!(doc.results[1].name, "");
        assert_eq!(doc.results[1].diag.as_deref(), Some("why"));
        assert_eq!(doc.diagnostics, ["note"]);
        // An empty plan.
        let doc = parse("KTAP version 1\n1..0\n").unwrap();
        assert!(doc.all_ok() && doc.results.is_empty());
    }

    #[test]
    fn malformed_input_is_an_error_naming_the_line() {
        // Cut short inside the sparse suite (the kernel died while printing).
        let cut_short = cut(SLOF_2G, "] KTAP version 1", "ok 4 sparse_usemaps");
        let e = err(&cut_short);
        assert_eq!(e.message, "document ends after 4 of 7 results");
        assert_eq!(e.line, cut_short.lines().count() + 1);
        // ... and at the top level, after the first suite.
        let e = err(&cut(SLOF_2G, "] KTAP version 1", "] ok 1 hash"));
        assert_eq!(e.message, "document ends after 1 of 2 results");

        let e = err("Booting from memory...\n");
        assert_eq!((e.line, e.message.as_str()), (0, "no 'KTAP version' line"));
        assert_eq!(e.to_string(), "KTAP: no 'KTAP version' line");

        let bad = |old: &str, new: &str| err(&edit(VOF_2G_DEBUG, old, new));
        // A plan that is not a number; a plan larger than the results.
        let e = bad("]     1..7", "]     1..x");
        assert_eq!(e.message, "malformed plan (want '1..N')");
        assert_eq!(e.text, "    1..x");
        assert!(
            e.to_string().starts_with("KTAP line 14: malformed plan"),
            "{e}"
        );
        let e = bad("]     1..7", "]     1..8");
        assert_eq!(e.message, "subtest ends after 7 of 8 results");
        assert_eq!(e.text, "ok 2 sparse");
        // Fewer results than the plan at the top level: the next kernel line is not one.
        let e = bad("] 1..2", "] 1..3");
        assert_eq!(
            e.message,
            "not a result line ('ok N name' or 'not ok N name')"
        );
        assert!(e.text.starts_with("Memory: "), "{e}");
        let doc_only = cut(VOF_2G_DEBUG, "] KTAP version 1", "] ok 2 sparse");
        let e = err(&edit(&doc_only, "] 1..2", "] 1..3"));
        assert_eq!(e.message, "document ends after 2 of 3 results");
        // Numbering.
        let e = bad(
            "    ok 3 hash_bolted_read_back",
            "    ok 4 hash_bolted_read_back",
        );
        assert_eq!(e.message, "result numbered 4, expected 3");
        let e = bad(
            "    ok 3 hash_bolted_read_back",
            "    ok x hash_bolted_read_back",
        );
        assert_eq!(e.message, "result number 'x' is not a number");
        // A suite's result named differently from its subtest.
        let e = bad("] ok 1 hash", "] ok 1 mmu");
        assert_eq!(e.message, "the result of subtest 'hash' is named 'mmu'");
        // An unknown line or a wrong indentation inside the document.
        let e = bad("    ok 2 hash_linear_map_rw", "    ok2 hash_linear_map_rw");
        assert_eq!(
            e.message,
            "not a result line ('ok N name' or 'not ok N name')"
        );
        let e = bad(
            "    ok 2 hash_linear_map_rw",
            "      ok 2 hash_linear_map_rw",
        );
        assert!(
            e.message
                .starts_with("indentation 6 inside a document at 4"),
            "{e}"
        );
        // A subtest's header out of place; no plan before the results.
        let e = bad(
            "    # Subtest: sparse",
            "    # Subtest: sparse\n    # Subtest: again",
        );
        assert_eq!(e.message, "unexpected '# Subtest:' line");
        let e = bad("]     1..3", "]     # no plan");
        assert_eq!(e.message, "the plan '1..N' must come before any result");
        // Versions.
        let e = bad("] KTAP version 1", "] KTAP version 2");
        assert_eq!(e.message, "KTAP version 2 is not supported");
        let e = bad("] KTAP version 1", "] KTAP version one");
        assert_eq!(e.message, "not a 'KTAP version N' line");
        // '#' inside a name.
        let e = err("KTAP version 1\n1..1\nok 1 a#b\n");
        assert_eq!(e.message, "'#' in the test name 'a#b'");
        // Two documents (e.g. one per suite, the old format).
        let two = format!("{VOF_2G_DEBUG}{VOF_2G_DEBUG}");
        let e = err(&two);
        assert_eq!(e.message, "a second KTAP document");
        assert_eq!(e.line, VOF_2G_DEBUG.lines().count() + 3);
    }

    #[test]
    fn the_prefix_before_the_ktap_text_is_constant() {
        // The whole document at one prefix: the real log, and the same without stamps.
        let doc = cut(VOF_2G_DEBUG, "] KTAP version 1", "] ok 2 sparse");
        assert!(parse(&doc).is_ok());
        let bare: String = doc
            .lines()
            .map(|l| strip_timestamp(l).to_string() + "\n")
            .collect();
        assert_eq!(parse(&bare).unwrap(), parse(&doc).unwrap());
        // One line without its timestamp: kunit_parser.py would cut its text short.
        let lines: Vec<&str> = doc.lines().collect();
        let n = lines
            .iter()
            .position(|l| l.contains("ok 1 hash_translation_on"))
            .unwrap();
        let mut broken: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        broken[n] = strip_timestamp(lines[n]).to_string();
        let e = parse(&(broken.join("\n") + "\n")).unwrap_err();
        assert_eq!(e.line, n + 1);
        assert!(e.message.contains("a prefix of 0 characters"), "{e}");
        assert!(e.message.contains("the version line has 15"), "{e}");
        // Seconds past 99999 widen the stamp.
        let mut late = lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        late[2] = format!("[100000.000000] {}", strip_timestamp(lines[2]));
        let e = parse(&(late.join("\n") + "\n")).unwrap_err();
        assert_eq!(e.line, 3);
    }
}
