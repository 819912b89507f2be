//! Declarative expectations on one boot: the `.expect` file format (documented in the
//! README, "Boot-log expectations") and its evaluation against a boot's outcome.
//!
//! ```text
//! # comment
//! exit success                          # or failure, timeout, 0, 1, 124
//! appear /^sparse_init: order=v4\.19 /  # a kernel line matches (timestamp stripped)
//! absent /^Kernel panic/
//! count /failed -1$/ >= 1               # == != < <= > >= against an expression
//! count /bolt/ before /failed -1$/ == 9  # only lines before the first match of the second
//! order                                 # lines matching these, in this order
//!   /^hash-mmu: translation on/
//!   /^sparse_init: /
//! end
//! capture /^sparse_init: .* mappings=(?P<mappings>\d+) /
//! check mappings == ceil_div(dt_sections * 16K, max_page_size)
//! each dt_memory                        # once per memory range of QEMU's tree
//!   appear /^  node +${node}: \[mem ${base:#018x}-${last:#018x}\]$/
//! end
//! ktap all-ok                           # or: ok NAME..., not-ok NAME..., none
//! ```
//! Patterns are Rust regexes between slashes (`\/` for a slash); `${EXPR}` or
//! `${EXPR:FMT}` (FMT: `x`, `#x`, `0Nx`, `#0Nx`, `0Nd`) inserts a value. Expressions are
//! integer arithmetic over variables: the machine's (see [`MACHINE_VARIABLES`]), named
//! groups of earlier `capture`s, and an `each` block's element.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use regex::Regex;

use crate::ktap::Document;

/// Variables every expectation file may use, with what they hold.
pub const MACHINE_VARIABLES: &[(&str, &str)] = &[
    ("memory", "the machine's memory size in bytes (-m)"),
    ("smp", "the number of CPUs"),
    ("numa_nodes", "NUMA nodes configured (--numa), 0 without"),
    ("hpt_16m", "1 when 16M hash pages are offered, else 0"),
    (
        "max_page_size",
        "the largest hash page size offered: 16M, or 64K with --no-16m",
    ),
    (
        "dt_memory",
        "bytes in the memory nodes of QEMU's dumped tree",
    ),
    (
        "dt_ranges",
        "memory ranges in that tree (touching ranges of one node merged)",
    ),
    ("dt_nodes", "distinct NUMA nodes of those ranges"),
    ("dt_end", "the end (exclusive) of the highest range"),
    (
        "dt_sections",
        "16 MiB sections with memory in those ranges (SECTION_SIZE_BITS 24)",
    ),
    (
        "dt_vmemmap_psize",
        "the vmemmap page size by Linux's rule (htab_init_page_sizes): 16M when 16M \
         pages are offered and dt_memory is at least 1 GiB, else 64K",
    ),
];

/// Per element of `each dt_memory`.
pub const RANGE_VARIABLES: &[&str] = &["index", "base", "end", "last", "size", "node"];

/// The lists `each` can walk.
pub const LISTS: &[&str] = &["dt_memory"];

/// An error in an expectation file, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// A parsed expectation file.
#[derive(Clone, Debug)]
pub struct Expectations {
    /// The name errors and results use (the path as given).
    pub file: String,
    items: Vec<Item>,
}

#[derive(Clone, Debug)]
struct Item {
    line: usize,
    /// The directive as written (trimmed), for reports.
    text: String,
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Exit(Vec<i32>),
    Appear(Pattern),
    Absent(Pattern),
    /// Lines matching; with a second pattern (`before /re/`), only those before the
    /// first line it matches, and it must match one.
    Count(Pattern, Option<Pattern>, Cmp, Expr),
    Order(Vec<(usize, Pattern)>),
    Capture(Pattern, Vec<String>),
    Check(Expr, Cmp, Expr),
    Each(String, Vec<Item>),
    KtapAllOk,
    KtapNone,
    KtapOk(Vec<String>),
    KtapNotOk(Vec<String>),
}

/// A regex with `${...}` holes.
#[derive(Clone, Debug)]
struct Pattern {
    parts: Vec<Part>,
    /// Compiled once when there are no holes.
    fixed: Option<Regex>,
}

#[derive(Clone, Debug)]
enum Part {
    Text(String),
    Hole(Expr, Format),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Format {
    hex: bool,
    prefix: bool,
    width: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn holds(self, a: i128, b: i128) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug)]
enum Expr {
    Num(i128),
    Var(String),
    Neg(Box<Expr>),
    Bin(char, Box<Expr>, Box<Expr>),
    Call(String, Vec<Expr>),
}

const FUNCTIONS: &[(&str, usize)] = &[("ceil_div", 2), ("min", 2), ("max", 2)];

/// Tokens one expression may have. Parsing, evaluating and printing an expression
/// recurse once per nesting level (and per operator of a chain), so a bound on its length
/// keeps a hostile line (`((((...` or `1 + 1 + ...` thousands deep) from overflowing the
/// stack; real expressions have a few dozen tokens at most.
pub const MAX_EXPRESSION_TOKENS: usize = 256;

/// The widest `${EXPR:0Nx}` / `${EXPR:0Nd}` format: an `i128` has at most 40 characters
/// (39 digits and a sign; 34 in hex with `0x`), and Rust's formatting panics on widths
/// above 65535.
pub const MAX_FORMAT_WIDTH: usize = 64;

// ---------------------------------------------------------------------------------------
// Parsing

impl Expectations {
    /// Read and parse `path`; errors name the file (as given) and line.
    pub fn load(path: &Path) -> Result<Self, ParseError> {
        let (name, text) = read_source(path)?;
        Self::parse(&name, &text)
    }

    /// Parse the text of an expectation file called `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, ParseError> {
        let mut p = FileParser {
            file,
            lines: text.lines().enumerate().map(|(i, l)| (i + 1, l)).collect(),
            pos: 0,
            scope: MACHINE_VARIABLES.iter().map(|v| v.0.to_string()).collect(),
        };
        let items = p.items(None)?;
        Ok(Expectations {
            file: file.to_string(),
            items,
        })
    }

    /// Does any directive use the dumped device tree (`dt_*` or `each dt_memory`)?
    pub fn needs_device_tree(&self) -> bool {
        fn uses(items: &[Item]) -> bool {
            items.iter().any(|i| match &i.kind {
                Kind::Each(..) => true,
                Kind::Check(a, _, b) => a.uses_dt() || b.uses_dt(),
                Kind::Count(p, u, _, e) => {
                    p.uses_dt() || u.as_ref().is_some_and(Pattern::uses_dt) || e.uses_dt()
                }
                Kind::Appear(p) | Kind::Absent(p) | Kind::Capture(p, _) => p.uses_dt(),
                Kind::Order(ps) => ps.iter().any(|(_, p)| p.uses_dt()),
                _ => false,
            })
        }
        uses(&self.items)
    }

    /// Does the file say which exit status the boot must have?
    pub fn states_exit(&self) -> bool {
        self.items.iter().any(|i| matches!(i.kind, Kind::Exit(_)))
    }

    /// Number of directives (an `each` or `order` block counts once).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A file's name (the path as given) and text; an unreadable file is an error at line 0.
pub fn read_source(path: &Path) -> Result<(String, String), ParseError> {
    let name = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((name, text)),
        Err(e) => Err(ParseError {
            file: name,
            line: 0,
            message: format!("cannot read: {e}"),
        }),
    }
}

struct FileParser<'a> {
    file: &'a str,
    lines: Vec<(usize, &'a str)>,
    pos: usize,
    /// Variables defined so far.
    scope: BTreeSet<String>,
}

impl FileParser<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    /// Directives up to the end of the file, or up to `end` inside the block opened on
    /// line `block`.
    fn items(&mut self, block: Option<usize>) -> Result<Vec<Item>, ParseError> {
        let in_block = block.is_some();
        let mut items = Vec::new();
        while self.pos < self.lines.len() {
            let (n, raw) = self.lines[self.pos];
            self.pos += 1;
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let (word, rest) = split_word(line);
            if word == "end" {
                if !in_block {
                    return Err(self.err(n, "'end' without 'order' or 'each'"));
                }
                if !rest.is_empty() {
                    return Err(self.err(n, "nothing may follow 'end'"));
                }
                return Ok(items);
            }
            let kind = self.directive(n, word, rest, in_block)?;
            items.push(Item {
                line: n,
                text: line.to_string(),
                kind,
            });
        }
        if let Some(open) = block {
            return Err(self.err(open, "'each' not closed with 'end'"));
        }
        Ok(items)
    }

    fn directive(
        &mut self,
        n: usize,
        word: &str,
        rest: &str,
        in_block: bool,
    ) -> Result<Kind, ParseError> {
        let file = self.file;
        let e = |message: String| ParseError {
            file: file.to_string(),
            line: n,
            message,
        };
        match word {
            "exit" => {
                if rest.is_empty() {
                    return Err(e(
                        "exit needs a status: success, failure, timeout or a number".into(),
                    ));
                }
                let codes = rest
                    .split_whitespace()
                    .map(|w| match w {
                        "success" => Ok(crate::exit::SUCCESS),
                        "failure" => Ok(crate::exit::KERNEL_FAILURE),
                        "timeout" => Ok(crate::exit::TIMEOUT),
                        "0" => Ok(crate::exit::SUCCESS),
                        "1" => Ok(crate::exit::KERNEL_FAILURE),
                        "124" => Ok(crate::exit::TIMEOUT),
                        w => Err(e(format!(
                            "exit: '{w}' is not success (0), failure (1) or timeout (124), \
                             the statuses a judged boot can have"
                        ))),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Kind::Exit(codes))
            }
            "appear" | "absent" => {
                let (p, after) = self.pattern(n, rest)?;
                self.nothing_after(n, after)?;
                Ok(if word == "appear" {
                    Kind::Appear(p)
                } else {
                    Kind::Absent(p)
                })
            }
            "count" => {
                let (p, after) = self.pattern(n, rest)?;
                let (until, after) = match after.trim_start().strip_prefix("before") {
                    Some(r) => {
                        let (u, a) = self.pattern(n, r)?;
                        (Some(u), a)
                    }
                    None => (None, after),
                };
                let (cmp, expr) = self.comparison_rhs(n, after.trim())?;
                Ok(Kind::Count(p, until, cmp, expr))
            }
            "capture" => {
                let (p, after) = self.pattern(n, rest)?;
                self.nothing_after(n, after)?;
                let names: Vec<String> = match &p.fixed {
                    Some(re) => re.capture_names().flatten().map(String::from).collect(),
                    None => return Err(e("capture patterns cannot have ${...} holes".into())),
                };
                if names.is_empty() {
                    return Err(e(
                        "capture needs a named group, e.g. (?P<mappings>\\d+)".into()
                    ));
                }
                for name in &names {
                    if RANGE_VARIABLES.contains(&name.as_str()) {
                        return Err(e(format!(
                            "'{name}' is an 'each' variable; name the group otherwise"
                        )));
                    }
                    if !self.scope.insert(name.clone()) {
                        return Err(e(format!("variable '{name}' is already defined")));
                    }
                }
                Ok(Kind::Capture(p, names))
            }
            "check" => {
                let (a, cmp, b) = self.comparison(n, rest)?;
                Ok(Kind::Check(a, cmp, b))
            }
            "order" => {
                if !rest.is_empty() {
                    return Err(e("'order' takes its patterns on the lines below".into()));
                }
                let mut pats = Vec::new();
                loop {
                    let Some(&(m, raw)) = self.lines.get(self.pos) else {
                        return Err(e("'order' not closed with 'end'".into()));
                    };
                    self.pos += 1;
                    let l = strip_comment(raw).trim();
                    if l.is_empty() {
                        continue;
                    }
                    if l == "end" {
                        break;
                    }
                    let (p, after) = self.pattern(m, l)?;
                    self.nothing_after(m, after)?;
                    pats.push((m, p));
                }
                if pats.len() < 2 {
                    return Err(e("'order' needs at least two patterns".into()));
                }
                Ok(Kind::Order(pats))
            }
            "each" => {
                if in_block {
                    return Err(e("'each' blocks do not nest".into()));
                }
                if !LISTS.contains(&rest) {
                    return Err(e(format!(
                        "each: unknown list '{rest}' (known: {})",
                        LISTS.join(" ")
                    )));
                }
                let saved = self.scope.clone();
                self.scope
                    .extend(RANGE_VARIABLES.iter().map(|v| v.to_string()));
                let body = self.items(Some(n))?;
                self.scope = saved;
                if body.is_empty() {
                    return Err(e("empty 'each' block".into()));
                }
                if let Some(bad) = body.iter().find(|i| {
                    matches!(
                        i.kind,
                        Kind::Capture(..)
                            | Kind::Exit(_)
                            | Kind::KtapAllOk
                            | Kind::KtapNone
                            | Kind::KtapOk(_)
                            | Kind::KtapNotOk(_)
                    )
                }) {
                    return Err(self.err(
                        bad.line,
                        "only appear, absent, count, order and check may be inside 'each'",
                    ));
                }
                Ok(Kind::Each(rest.to_string(), body))
            }
            "ktap" => {
                let (sub, names) = split_word(rest);
                let names: Vec<String> = names.split_whitespace().map(String::from).collect();
                match sub {
                    "all-ok" | "none" if !names.is_empty() => {
                        Err(e(format!("ktap {sub} takes no names")))
                    }
                    "all-ok" => Ok(Kind::KtapAllOk),
                    "none" => Ok(Kind::KtapNone),
                    "ok" | "not-ok" if names.is_empty() => {
                        Err(e(format!("ktap {sub} needs test names (suite.case)")))
                    }
                    "ok" => Ok(Kind::KtapOk(names)),
                    "not-ok" => Ok(Kind::KtapNotOk(names)),
                    other => Err(e(format!(
                        "ktap: unknown '{other}' (all-ok, ok NAME..., not-ok NAME..., none)"
                    ))),
                }
            }
            other => Err(e(format!(
                "unknown directive '{other}' (exit, appear, absent, count, order, capture, \
                 check, each, ktap)"
            ))),
        }
    }

    fn nothing_after(&self, n: usize, after: &str) -> Result<(), ParseError> {
        if after.trim().is_empty() {
            Ok(())
        } else {
            Err(self.err(
                n,
                format!("unexpected '{}' after the pattern", after.trim()),
            ))
        }
    }

    /// `/regex/` at the start of `s` (after blanks); returns it and the rest.
    fn pattern<'s>(&self, n: usize, s: &'s str) -> Result<(Pattern, &'s str), ParseError> {
        let s = s.trim_start();
        let Some(body) = s.strip_prefix('/') else {
            return Err(self.err(
                n,
                "expected a pattern between slashes, e.g. /^sparse_init: /",
            ));
        };
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '/')) => text.push('/'),
                    Some((_, d)) => {
                        text.push('\\');
                        text.push(d);
                    }
                    None => return Err(self.err(n, "pattern ends with a lone backslash")),
                },
                '$' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    let start = i + 2;
                    let close = body[start..]
                        .find('}')
                        .ok_or_else(|| self.err(n, "'${' without its '}'"))?;
                    let inner = &body[start..start + close];
                    while chars.peek().is_some_and(|p| p.0 < start + close + 1) {
                        chars.next();
                    }
                    let (expr, fmt) = match inner.rsplit_once(':') {
                        Some((e, f)) => (e, parse_format(f).map_err(|m| self.err(n, m))?),
                        None => (
                            inner,
                            Format {
                                hex: false,
                                prefix: false,
                                width: 0,
                            },
                        ),
                    };
                    if !text.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut text)));
                    }
                    parts.push(Part::Hole(self.expr(n, expr)?, fmt));
                }
                '/' => {
                    end = Some(i);
                    break;
                }
                c => text.push(c),
            }
        }
        let end = end.ok_or_else(|| self.err(n, "pattern not closed with '/'"))?;
        if !text.is_empty() {
            parts.push(Part::Text(text));
        }
        // Check the regex with every hole filled by a number.
        let probe: String = parts
            .iter()
            .map(|p| match p {
                Part::Text(t) => t.clone(),
                Part::Hole(..) => "0".into(),
            })
            .collect();
        let re =
            Regex::new(&probe).map_err(|e| self.err(n, format!("bad regex: {}", one_line(&e))))?;
        let fixed = parts
            .iter()
            .all(|p| matches!(p, Part::Text(_)))
            .then_some(re);
        Ok((Pattern { parts, fixed }, &body[end + 1..]))
    }

    fn comparison(&self, n: usize, s: &str) -> Result<(Expr, Cmp, Expr), ParseError> {
        let toks = tokenize(s).map_err(|m| self.err(n, m))?;
        let at = toks
            .iter()
            .position(|t| matches!(t, Tok::Cmp(_)))
            .ok_or_else(|| self.err(n, "check needs a comparison: == != < <= > >="))?;
        let Tok::Cmp(cmp) = toks[at] else {
            unreachable!()
        };
        let a = self.expr_tokens(n, &toks[..at])?;
        let b = self.expr_tokens(n, &toks[at + 1..])?;
        Ok((a, cmp, b))
    }

    fn comparison_rhs(&self, n: usize, s: &str) -> Result<(Cmp, Expr), ParseError> {
        let toks = tokenize(s).map_err(|m| self.err(n, m))?;
        match toks.first() {
            Some(&Tok::Cmp(c)) => Ok((c, self.expr_tokens(n, &toks[1..])?)),
            _ => Err(self.err(
                n,
                "count needs a comparison after the pattern, e.g. count /x/ == 1",
            )),
        }
    }

    fn expr(&self, n: usize, s: &str) -> Result<Expr, ParseError> {
        let toks = tokenize(s).map_err(|m| self.err(n, m))?;
        self.expr_tokens(n, &toks)
    }

    fn expr_tokens(&self, n: usize, toks: &[Tok]) -> Result<Expr, ParseError> {
        if toks.is_empty() {
            return Err(self.err(n, "missing expression"));
        }
        if toks.len() > MAX_EXPRESSION_TOKENS {
            return Err(self.err(
                n,
                format!(
                    "expression too long: {} tokens (at most {MAX_EXPRESSION_TOKENS})",
                    toks.len()
                ),
            ));
        }
        let mut p = ExprParser { toks, pos: 0 };
        let e = p.sum().map_err(|m| self.err(n, m))?;
        if p.pos != toks.len() {
            return Err(self.err(n, format!("unexpected '{}'", toks[p.pos])));
        }
        e.check_names(&self.scope).map_err(|m| self.err(n, m))?;
        Ok(e)
    }
}

fn one_line(e: &regex::Error) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text before a `#` that starts a comment: at the line's start or after a blank, and
/// not inside a `/pattern/` (on lines that have patterns: those of `appear`, `absent`,
/// `count`, `capture`, and an `order` block's lines) or a `${...}` hole.
fn strip_comment(line: &str) -> &str {
    let t = line.trim_start();
    let word = split_word(t).0;
    let patterns = t.starts_with('/') || ["appear", "absent", "count", "capture"].contains(&word);
    let mut in_pat = false;
    let mut closed = 0;
    let mut last_close = 0;
    let mut in_hole = false;
    let mut prev = ' ';
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
        } else if in_hole {
            in_hole = c != '}';
        } else if c == '\\' {
            escaped = true;
        } else if c == '{' && prev == '$' {
            in_hole = true;
        } else if c == '/' && in_pat {
            in_pat = false;
            closed += 1;
            last_close = i + 1;
        } else if c == '/'
            && patterns
            && (closed == 0
                || (word == "count" && closed == 1 && line[last_close..i].trim() == "before"))
        {
            // One pattern per line, or count's second after `before`; any other slash
            // is division.
            in_pat = true;
        } else if c == '#' && !in_pat && prev.is_whitespace() {
            return &line[..i];
        }
        prev = c;
    }
    line
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

/// A hole's format (after the `:`); the error says what is wrong with it.
fn parse_format(whole: &str) -> Result<Format, String> {
    let unknown = || format!("unknown format '{whole}' (x, #x, 0Nx, #0Nx, 0Nd)");
    let (prefix, f) = match whole.strip_prefix('#') {
        Some(r) => (true, r),
        None => (false, whole),
    };
    let (hex, digits) = if let Some(d) = f.strip_suffix('x') {
        (true, d)
    } else if let Some(d) = f.strip_suffix('d')
        && !prefix
    {
        (false, d)
    } else {
        return Err(unknown());
    };
    let width = match digits {
        "" => 0,
        d if d.starts_with('0') && d.len() > 1 => {
            let w = &d[1..];
            if !w.bytes().all(|b| b.is_ascii_digit()) {
                return Err(unknown());
            }
            match w.parse::<usize>() {
                Ok(w) if w <= MAX_FORMAT_WIDTH => w,
                _ => {
                    return Err(format!(
                        "format '{whole}': width {w} is more than {MAX_FORMAT_WIDTH}"
                    ));
                }
            }
        }
        _ => return Err(unknown()),
    };
    Ok(Format { hex, prefix, width })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i128),
    Ident(String),
    Op(char),
    Cmp(Cmp),
    Comma,
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(v) => write!(f, "{v}"),
            Tok::Ident(s) => write!(f, "{s}"),
            Tok::Op(c) => write!(f, "{c}"),
            Tok::Cmp(c) => write!(f, "{}", c.symbol()),
            Tok::Comma => write!(f, ","),
        }
    }
}

/// Parse an integer as the kernel prints them: decimal or `0x` hex, with an optional
/// binary unit suffix `K`, `M`, `G`, `T` (and `B` for bytes, as in `usemap=1024B`) on
/// decimal numbers, and an optional leading `-` (as in `failed -1`).
pub fn parse_number(s: &str) -> Option<i128> {
    if let Some(neg) = s.strip_prefix('-') {
        return parse_number(neg)
            .filter(|_| !neg.starts_with('-'))?
            .checked_neg();
    }
    // Hex takes no suffix (B and the others are hex digits there).
    if let Some(h) = s.strip_prefix("0x") {
        if h.is_empty() || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        return i128::from_str_radix(h, 16).ok();
    }
    let (digits, shift) = match s.as_bytes().last()? {
        b'K' => (&s[..s.len() - 1], 10),
        b'M' => (&s[..s.len() - 1], 20),
        b'G' => (&s[..s.len() - 1], 30),
        b'T' => (&s[..s.len() - 1], 40),
        b'B' => (&s[..s.len() - 1], 0),
        _ => (s, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i128>().ok()?.checked_mul(1 << shift)
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let w = &s[start..i];
            out.push(Tok::Num(
                parse_number(w).ok_or_else(|| format!("bad number '{w}'"))?,
            ));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else {
            let two = s.get(i..i + 2);
            let cmp = match two {
                Some("==") => Some(Cmp::Eq),
                Some("!=") => Some(Cmp::Ne),
                Some("<=") => Some(Cmp::Le),
                Some(">=") => Some(Cmp::Ge),
                _ => None,
            };
            if let Some(c) = cmp {
                out.push(Tok::Cmp(c));
                i += 2;
                continue;
            }
            out.push(match c {
                '<' => Tok::Cmp(Cmp::Lt),
                '>' => Tok::Cmp(Cmp::Gt),
                '+' | '-' | '*' | '/' | '%' | '(' | ')' => Tok::Op(c),
                ',' => Tok::Comma,
                _ => {
                    let c = s[i..].chars().next().unwrap_or('?');
                    return Err(format!("unexpected character '{c}' in an expression"));
                }
            });
            i += 1;
        }
    }
    Ok(out)
}

struct ExprParser<'t> {
    toks: &'t [Tok],
    pos: usize,
}

impl ExprParser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn sum(&mut self) -> Result<Expr, String> {
        let mut e = self.term()?;
        while let Some(Tok::Op(c @ ('+' | '-'))) = self.peek() {
            let c = *c;
            self.pos += 1;
            e = Expr::Bin(c, Box::new(e), Box::new(self.term()?));
        }
        Ok(e)
    }
    fn term(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while let Some(Tok::Op(c @ ('*' | '/' | '%'))) = self.peek() {
            let c = *c;
            self.pos += 1;
            e = Expr::Bin(c, Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if let Some(Tok::Op('-')) = self.peek() {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.unary()?)));
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<Expr, String> {
        let t = self.peek().cloned().ok_or("expression ends too early")?;
        self.pos += 1;
        match t {
            Tok::Num(v) => Ok(Expr::Num(v)),
            Tok::Ident(name) if self.peek() == Some(&Tok::Op('(')) => {
                self.pos += 1;
                let mut args = Vec::new();
                if self.peek() != Some(&Tok::Op(')')) {
                    loop {
                        args.push(self.sum()?);
                        if self.peek() == Some(&Tok::Comma) {
                            self.pos += 1;
                        } else {
                            break;
                        }
                    }
                }
                if self.peek() != Some(&Tok::Op(')')) {
                    return Err(format!("{name}(: missing ')'"));
                }
                self.pos += 1;
                Ok(Expr::Call(name, args))
            }
            Tok::Ident(name) => Ok(Expr::Var(name)),
            Tok::Op('(') => {
                let e = self.sum()?;
                if self.peek() != Some(&Tok::Op(')')) {
                    return Err("missing ')'".into());
                }
                self.pos += 1;
                Ok(e)
            }
            t => Err(format!("unexpected '{t}'")),
        }
    }
}

impl Expr {
    fn check_names(&self, scope: &BTreeSet<String>) -> Result<(), String> {
        match self {
            Expr::Num(_) => Ok(()),
            Expr::Var(v) if scope.contains(v) => Ok(()),
            Expr::Var(v) => Err(format!(
                "unknown variable '{v}' (machine variables: {}; or a capture's named group \
                 defined above)",
                MACHINE_VARIABLES
                    .iter()
                    .map(|m| m.0)
                    .collect::<Vec<_>>()
                    .join(" ")
            )),
            Expr::Neg(e) => e.check_names(scope),
            Expr::Bin(_, a, b) => {
                a.check_names(scope)?;
                b.check_names(scope)
            }
            Expr::Call(f, args) => {
                match FUNCTIONS.iter().find(|(n, _)| n == f) {
                    Some(&(_, arity)) if arity == args.len() => {}
                    Some(&(_, arity)) => {
                        return Err(format!("{f} takes {arity} arguments, not {}", args.len()));
                    }
                    None => {
                        return Err(format!("unknown function '{f}' (ceil_div, min, max)"));
                    }
                }
                args.iter().try_for_each(|a| a.check_names(scope))
            }
        }
    }

    fn uses_dt(&self) -> bool {
        match self {
            Expr::Num(_) => false,
            Expr::Var(v) => v.starts_with("dt_"),
            Expr::Neg(e) => e.uses_dt(),
            Expr::Bin(_, a, b) => a.uses_dt() || b.uses_dt(),
            Expr::Call(_, args) => args.iter().any(Expr::uses_dt),
        }
    }

    fn eval(&self, vars: &Vars) -> Result<i128, String> {
        match self {
            Expr::Num(v) => Ok(*v),
            Expr::Var(v) => vars
                .get(v)
                .ok_or_else(|| format!("variable '{v}' has no value")),
            Expr::Neg(e) => e
                .eval(vars)?
                .checked_neg()
                .ok_or_else(|| "arithmetic overflow".into()),
            Expr::Bin(op, a, b) => {
                let (a, b) = (a.eval(vars)?, b.eval(vars)?);
                let r = match op {
                    '+' => a.checked_add(b),
                    '-' => a.checked_sub(b),
                    '*' => a.checked_mul(b),
                    '/' | '%' if b == 0 => return Err("division by zero".into()),
                    '/' => a.checked_div(b),
                    '%' => a.checked_rem(b),
                    _ => unreachable!("operator {op}"),
                };
                r.ok_or_else(|| "arithmetic overflow".into())
            }
            Expr::Call(f, args) => {
                let v = args
                    .iter()
                    .map(|a| a.eval(vars))
                    .collect::<Result<Vec<_>, _>>()?;
                match f.as_str() {
                    "ceil_div" if v[1] == 0 => Err("ceil_div by zero".into()),
                    "ceil_div" => {
                        let q = v[0].checked_div(v[1]).ok_or("arithmetic overflow")?;
                        let r = v[0] % v[1];
                        Ok(if r != 0 && (r > 0) == (v[1] > 0) {
                            q + 1
                        } else {
                            q
                        })
                    }
                    "min" => Ok(v[0].min(v[1])),
                    "max" => Ok(v[0].max(v[1])),
                    _ => unreachable!("function {f}"),
                }
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(v) => write!(f, "{v}"),
            Expr::Var(v) => write!(f, "{v}"),
            Expr::Neg(e) => write!(f, "-{e}"),
            Expr::Bin(op, a, b) => write!(f, "({a} {op} {b})"),
            Expr::Call(n, args) => {
                write!(f, "{n}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "{a}")?;
                }
                write!(f, ")")
            }
        }
    }
}

impl Pattern {
    fn uses_dt(&self) -> bool {
        self.parts.iter().any(|p| match p {
            Part::Hole(e, _) => e.uses_dt(),
            Part::Text(_) => false,
        })
    }

    fn regex(&self, vars: &Vars) -> Result<Regex, String> {
        if let Some(re) = &self.fixed {
            return Ok(re.clone());
        }
        let mut s = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => s.push_str(t),
                Part::Hole(e, f) => s.push_str(&regex::escape(&f.apply(e.eval(vars)?))),
            }
        }
        Regex::new(&s).map_err(|e| format!("bad regex after substitution: {}", one_line(&e)))
    }
}

impl Format {
    fn apply(self, v: i128) -> String {
        let w = self.width;
        match (self.hex, self.prefix) {
            (true, true) => format!("{v:#0w$x}"),
            (true, false) => format!("{v:0w$x}"),
            _ => format!("{v:0w$}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Facts about the machine and evaluation

/// Variable values for one boot.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    values: BTreeMap<String, i128>,
    /// `dt_memory`'s elements: (base, end exclusive, node).
    pub dt_memory: Option<Vec<(u64, u64, u32)>>,
}

impl Vars {
    pub fn get(&self, name: &str) -> Option<i128> {
        self.values.get(name).copied()
    }
    pub fn set(&mut self, name: &str, v: i128) {
        self.values.insert(name.to_string(), v);
    }

    /// The machine's variables; the `dt_*` ones when `dt_memory` (from QEMU's dumped tree,
    /// see [`crate::facts::dumped_memory`]) is given.
    pub fn for_machine(m: &crate::Machine, dt_memory: Option<Vec<(u64, u64, u32)>>) -> Self {
        let mut v = Vars::default();
        v.set("memory", m.memory.into());
        v.set("smp", m.smp.into());
        v.set("numa_nodes", m.numa.len() as i128);
        v.set("hpt_16m", m.hpt_16m.into());
        // The kernel's own constants and Linux's rule, from the portable library.
        use sparsek::mm::hash::pagesize::{Psize, VMEMMAP_16M_MIN_RAM};
        let largest = if m.hpt_16m { Psize::P16M } else { Psize::P64K };
        v.set("max_page_size", largest.size().into());
        if let Some(ranges) = &dt_memory {
            const SECTION: u64 = 1 << sparsek::mm::sparse::section::SECTION_SIZE_BITS;
            v.set(
                "dt_memory",
                ranges.iter().map(|r| i128::from(r.1 - r.0)).sum(),
            );
            v.set("dt_ranges", ranges.len() as i128);
            v.set(
                "dt_nodes",
                ranges.iter().map(|r| r.2).collect::<BTreeSet<_>>().len() as i128,
            );
            v.set(
                "dt_end",
                ranges.iter().map(|r| r.1).max().unwrap_or(0).into(),
            );
            let sections: BTreeSet<u64> = ranges
                .iter()
                .filter(|r| r.1 > r.0)
                .flat_map(|r| r.0 / SECTION..r.1.div_ceil(SECTION))
                .collect();
            v.set("dt_sections", sections.len() as i128);
            let total: u64 = ranges.iter().map(|r| r.1 - r.0).sum();
            v.set(
                "dt_vmemmap_psize",
                if m.hpt_16m && total >= VMEMMAP_16M_MIN_RAM {
                    Psize::P16M.size().into()
                } else {
                    Psize::P64K.size().into()
                },
            );
        }
        v.dt_memory = dt_memory;
        v
    }
}

/// What a boot produced, as the expectations see it.
pub struct Boot<'a> {
    /// The `qemu/run` exit status of the verdict (0, 1, 4, 124).
    pub exit: i32,
    /// The kernel's log lines, timestamps stripped.
    pub messages: Vec<&'a str>,
    /// The boot's KTAP document, parsed strictly.
    pub ktap: Result<Document, crate::ktap::Error>,
}

impl<'a> Boot<'a> {
    pub fn from_outcome(o: &'a crate::Outcome) -> Self {
        Boot {
            exit: o.verdict.exit_code(),
            messages: o.messages().collect(),
            ktap: o.ktap(),
        }
    }
}

/// The result of one directive (an `each` block gives one per element and directive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub file: String,
    pub line: usize,
    pub directive: String,
    pub ok: bool,
    /// What was found (on failure: why it failed).
    pub detail: String,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {} {}: {}",
            self.file,
            self.line,
            if self.ok { "met" } else { "FAILED" },
            self.directive,
            self.detail
        )
    }
}

impl Expectations {
    /// Evaluate every directive in order against `boot`; captures add to `vars`.
    pub fn evaluate(&self, boot: &Boot, vars: &mut Vars) -> Vec<Verdict> {
        let mut out = Vec::new();
        for item in &self.items {
            self.eval_item(item, boot, vars, "", &mut out);
        }
        out
    }

    fn eval_item(
        &self,
        item: &Item,
        boot: &Boot,
        vars: &mut Vars,
        ctx: &str,
        out: &mut Vec<Verdict>,
    ) {
        let mut push = |r: Result<String, String>| {
            let (ok, detail) = match r {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            out.push(Verdict {
                file: self.file.clone(),
                line: item.line,
                directive: format!("{ctx}{}", item.text),
                ok,
                detail,
            });
        };
        match &item.kind {
            Kind::Each(list, body) => {
                debug_assert_eq!(list, "dt_memory");
                let Some(ranges) = vars.dt_memory.clone() else {
                    push(Err("QEMU's device tree was not dumped".into()));
                    return;
                };
                if ranges.is_empty() {
                    push(Err("QEMU's device tree has no memory".into()));
                    return;
                }
                for (i, &(base, end, node)) in ranges.iter().enumerate() {
                    let mut local = vars.clone();
                    local.set("index", i as i128);
                    local.set("base", base.into());
                    local.set("end", end.into());
                    local.set("last", i128::from(end) - 1);
                    local.set("size", (end - base).into());
                    local.set("node", node.into());
                    let ctx = format!("[{list} {i}: {base:#x}-{:#x} node {node}] ", end - 1);
                    for b in body {
                        self.eval_item(b, boot, &mut local, &ctx, out);
                    }
                }
            }
            Kind::Capture(p, names) => match capture(p, names, boot, vars) {
                Ok(d) => push(Ok(d)),
                Err(d) => push(Err(d)),
            },
            kind => push(check(kind, boot, vars)),
        }
    }
}

fn first_match<'a>(re: &Regex, boot: &Boot<'a>) -> Option<(usize, &'a str)> {
    boot.messages
        .iter()
        .enumerate()
        .find(|(_, m)| re.is_match(m))
        .map(|(i, m)| (i, *m))
}

fn capture(p: &Pattern, names: &[String], boot: &Boot, vars: &mut Vars) -> Result<String, String> {
    let re = p.regex(vars)?;
    let line = boot
        .messages
        .iter()
        .find(|m| re.is_match(m))
        .ok_or("no line matches")?;
    let caps = re.captures(line).expect("matched");
    let mut got = Vec::new();
    for name in names {
        let text = caps
            .name(name)
            .map(|m| m.as_str())
            .ok_or_else(|| format!("group '{name}' did not take part in the match: {line}"))?;
        let v = parse_number(text)
            .ok_or_else(|| format!("{name}: '{text}' is not a number: {line}"))?;
        vars.set(name, v);
        got.push(format!("{name}={v}"));
    }
    Ok(got.join(" "))
}

fn check(kind: &Kind, boot: &Boot, vars: &Vars) -> Result<String, String> {
    match kind {
        Kind::Exit(codes) => {
            if codes.contains(&boot.exit) {
                Ok(format!("exit status {}", boot.exit))
            } else {
                Err(format!("exit status {}", boot.exit))
            }
        }
        Kind::Appear(p) => {
            let re = p.regex(vars)?;
            match first_match(&re, boot) {
                Some((_, l)) => Ok(l.to_string()),
                None => Err(format!("no line matches {}", re.as_str())),
            }
        }
        Kind::Absent(p) => {
            let re = p.regex(vars)?;
            match first_match(&re, boot) {
                Some((_, l)) => Err(format!("found: {l}")),
                None => Ok("no line matches".into()),
            }
        }
        Kind::Count(p, until, cmp, e) => {
            let re = p.regex(vars)?;
            let (lines, scope) = match until {
                Some(u) => {
                    let u = u.regex(vars)?;
                    match first_match(&u, boot) {
                        Some((k, _)) => (&boot.messages[..k], " before it"),
                        None => return Err(format!("no line matches {}", u.as_str())),
                    }
                }
                None => (&boot.messages[..], ""),
            };
            let n = lines.iter().filter(|m| re.is_match(m)).count() as i128;
            let want = e.eval(vars)?;
            let d = format!("{n} lines{scope} (want {} {want})", cmp.symbol());
            if cmp.holds(n, want) { Ok(d) } else { Err(d) }
        }
        Kind::Order(pats) => {
            let mut from = 0;
            let mut seen = Vec::new();
            for (line, p) in pats {
                let re = p.regex(vars)?;
                match boot.messages[from..].iter().position(|m| re.is_match(m)) {
                    Some(k) => {
                        seen.push(from + k + 1);
                        from += k + 1;
                    }
                    None => {
                        let anywhere = first_match(&re, boot).is_some();
                        return Err(format!(
                            "line {line}'s pattern {} {}",
                            re.as_str(),
                            if anywhere {
                                "matches only before the previous one"
                            } else {
                                "matches no line"
                            }
                        ));
                    }
                }
            }
            Ok(format!("in order at kernel lines {seen:?}"))
        }
        Kind::Check(a, cmp, b) => {
            let (x, y) = (a.eval(vars)?, b.eval(vars)?);
            let d = format!("{x} {} {y}", cmp.symbol());
            if cmp.holds(x, y) { Ok(d) } else { Err(d) }
        }
        Kind::KtapNone => match &boot.ktap {
            Err(e) if e.line == 0 => Ok("no KTAP document".into()),
            Err(e) => Err(format!("a malformed KTAP document: {e}")),
            Ok(d) => Err(format!("a KTAP document with {} cases", d.cases())),
        },
        Kind::KtapAllOk | Kind::KtapOk(_) | Kind::KtapNotOk(_) => {
            let doc = boot.ktap.as_ref().map_err(|e| e.to_string())?;
            let leaves = leaves(doc);
            match kind {
                Kind::KtapAllOk => {
                    let bad: Vec<_> = leaves.iter().filter(|l| !l.1).map(|l| &l.0).collect();
                    if leaves.is_empty() {
                        Err("the KTAP document has no test cases".into())
                    } else if bad.is_empty() && doc.all_ok() {
                        Ok(format!("{} cases ok", leaves.len()))
                    } else {
                        Err(format!("not ok: {}", doc.failures().join("; ")))
                    }
                }
                Kind::KtapOk(names) => {
                    let mut bad = Vec::new();
                    for n in names {
                        let l = resolve(&leaves, n)?;
                        if !l.1 {
                            bad.push(l.0.clone());
                        }
                    }
                    if bad.is_empty() {
                        Ok(format!("{} named cases ok", names.len()))
                    } else {
                        Err(format!("not ok: {}", bad.join(" ")))
                    }
                }
                Kind::KtapNotOk(names) => {
                    let mut want = BTreeSet::new();
                    for n in names {
                        want.insert(resolve(&leaves, n)?.0.clone());
                    }
                    let got: BTreeSet<String> = leaves
                        .iter()
                        .filter(|l| !l.1)
                        .map(|l| l.0.clone())
                        .collect();
                    if got == want {
                        Ok(format!(
                            "exactly these {} of {} cases not ok",
                            want.len(),
                            leaves.len()
                        ))
                    } else {
                        let unexpected: Vec<_> = got.difference(&want).cloned().collect();
                        let missing: Vec<_> = want.difference(&got).cloned().collect();
                        Err(format!(
                            "not ok but not named: [{}]; named but ok: [{}]",
                            unexpected.join(" "),
                            missing.join(" ")
                        ))
                    }
                }
                _ => unreachable!(),
            }
        }
        Kind::Capture(..) | Kind::Each(..) => unreachable!("handled by eval_item"),
    }
}

/// Every leaf case as (`suite.case` path, passed).
fn leaves(doc: &Document) -> Vec<(String, bool)> {
    doc.leaves()
        .into_iter()
        .map(|(path, r)| (path, r.passed()))
        .collect()
}

/// A case named by its full path or by a unique last component.
fn resolve<'l>(leaves: &'l [(String, bool)], name: &str) -> Result<&'l (String, bool), String> {
    if let Some(l) = leaves.iter().find(|l| l.0 == name) {
        return Ok(l);
    }
    let tail: Vec<_> = leaves
        .iter()
        .filter(|l| l.0.rsplit('.').next() == Some(name))
        .collect();
    match tail.as_slice() {
        [one] => Ok(one),
        [] => Err(format!("no KTAP case named '{name}'")),
        _ => Err(format!("'{name}' names several KTAP cases")),
    }
}

#[cfg(test)]
mod tests;
