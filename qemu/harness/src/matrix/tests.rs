//! Tests of the boot matrix: the matrix file format (and its errors), the word splitting
//! of its options, the shipped `qemu/expect/matrix.txt`, the machine descriptions, and
//! the table and JSON report built from hand-made results (no QEMU needed, except for
//! one `run` test that only needs QEMU to fail).

use super::*;

/// Options a matrix line may not use (the runner chooses them, or they need a person).
const RUNNER_OPTIONS: &[&str] = &["--kernel", "--log", "--gdb", "-h", "--help"];

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::expect::Verdict as Check;
use crate::{Outcome, Verdict};

// ---------------------------------------------------------------------------------------
// Helpers: temporary directories and matrices

/// A directory under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory holding `files` (name, contents).
    fn with(files: &[(&str, &str)]) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sparsek-matrix-tests-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        TempDir(dir)
    }

    /// The usual expectation files: `ok.expect`, `boot.expect` and `plain` (no suffix).
    fn standard() -> Self {
        Self::with(STANDARD_FILES)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The name an expectation file in this directory is reported under.
    fn file(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const STANDARD_FILES: &[(&str, &str)] = &[
    ("ok.expect", "# the kernel succeeds\nexit success\n"),
    (
        "boot.expect",
        "appear /^reboot: Power down$/\nabsent /^Kernel panic/\n",
    ),
    ("plain", "ktap all-ok\n"),
];

/// The name matrices are parsed under.
const MATRIX: &str = "test-matrix.txt";

fn parse_in(dir: &TempDir, text: &str) -> Result<Matrix, ParseError> {
    Matrix::parse(MATRIX, text, dir.path())
}

/// Parse `text` with the standard expectation files; it must parse.
fn parse_ok(text: &str) -> Matrix {
    let dir = TempDir::standard();
    parse_in(&dir, text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"))
}

/// Parse `text` with the standard expectation files; it must not parse.
fn parse_err(text: &str) -> ParseError {
    let dir = TempDir::standard();
    match parse_in(&dir, text) {
        Ok(m) => panic!(
            "parsed ({} configurations) but should not:\n{text}",
            m.configs.len()
        ),
        Err(e) => e,
    }
}

/// `text` fails on `line` of the matrix file with a message containing `needle`.
fn assert_err(text: &str, line: usize, needle: &str) {
    let e = parse_err(text);
    assert_eq!(e.file, MATRIX, "{e}");
    assert_eq!(e.line, line, "{e}\nin:\n{text}");
    assert!(
        e.message.contains(needle),
        "{e:?} does not contain {needle:?}"
    );
}

/// The one configuration of a one-line matrix.
fn one(options: &str) -> Config {
    let m = parse_ok(&format!("c | {options} | ok"));
    assert_eq!(m.configs.len(), 1);
    m.configs.into_iter().next().unwrap()
}

fn words(s: &str) -> Vec<String> {
    split_words(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

// ---------------------------------------------------------------------------------------
// split_words

#[test]
fn split_words_empty_and_blank_input_has_no_words() {
    assert!(words("").is_empty());
    assert!(words("   ").is_empty());
    assert!(words(" \t \t").is_empty());
}

#[test]
fn split_words_splits_on_any_run_of_blanks() {
    assert_eq!(words("a"), ["a"]);
    assert_eq!(words("a b"), ["a", "b"]);
    assert_eq!(words("  --vof   -m\t2G  "), ["--vof", "-m", "2G"]);
    assert_eq!(words("a \t\t b"), ["a", "b"]);
}

#[test]
fn split_words_double_quotes_keep_blanks() {
    assert_eq!(
        words(r#"--append "debug sparse_init=v4.18""#),
        ["--append", "debug sparse_init=v4.18"]
    );
    assert_eq!(words(r#""  two  blanks  ""#), ["  two  blanks  "]);
    // Single quotes are literal inside double quotes.
    assert_eq!(words(r#""it's""#), ["it's"]);
}

#[test]
fn split_words_backslashes_inside_double_quotes() {
    assert_eq!(words(r#""a\"b""#), [r#"a"b"#]);
    assert_eq!(words(r#""a\\b""#), [r"a\b"]);
    assert_eq!(words(r#""\$x \`y\`""#), ["$x `y`"]);
    // Before any other character the backslash stays, as in a POSIX shell.
    assert_eq!(words(r#""a\nb""#), [r"a\nb"]);
    assert_eq!(words(r#""\'""#), [r"\'"]);
}

#[test]
fn split_words_single_quotes_are_literal() {
    assert_eq!(words("'a b'"), ["a b"]);
    assert_eq!(words(r#"'a "b" \c'"#), [r#"a "b" \c"#]);
    assert_eq!(words(r"'\'"), [r"\"]);
    // The shell idiom for a quote inside single quotes.
    assert_eq!(words(r"'it'\''s'"), ["it's"]);
}

#[test]
fn split_words_backslash_escapes_outside_quotes() {
    assert_eq!(words(r"a\ b c"), ["a b", "c"]);
    assert_eq!(words(r#"\"x\""#), [r#""x""#]);
    assert_eq!(words(r"\\"), [r"\"]);
    assert_eq!(words(r"\'"), ["'"]);
    assert_eq!(words(r"a\bc"), ["abc"]);
}

#[test]
fn split_words_adjacent_parts_make_one_word() {
    assert_eq!(words(r#"a"b c"d"#), ["ab cd"]);
    assert_eq!(words(r#"'a'"b"c"#), ["abc"]);
    assert_eq!(words(r#"x="a b" y"#), ["x=a b", "y"]);
    assert_eq!(words(r#"--append="debug x""#), ["--append=debug x"]);
}

#[test]
fn split_words_empty_quotes_are_empty_words() {
    assert_eq!(words(r#""""#), [""]);
    assert_eq!(words("''"), [""]);
    assert_eq!(words(r#"a '' b "" c"#), ["a", "", "b", "", "c"]);
    // ... but an empty quoted part next to text adds nothing.
    assert_eq!(words(r#"a""b"#), ["ab"]);
}

#[test]
fn split_words_errors() {
    let err = |s: &str| split_words(s).expect_err(s);
    assert_eq!(err(r#""abc"#), "unclosed double quote");
    assert_eq!(err(r#"a "b c"#), "unclosed double quote");
    assert_eq!(err(r#""abc\"#), "unclosed double quote");
    assert_eq!(err(r#""abc\""#), "unclosed double quote");
    assert_eq!(err("'abc"), "unclosed single quote");
    assert_eq!(err(r#"'a"b"#), "unclosed single quote");
    assert_eq!(err(r"abc\"), "a lone backslash at the end");
    assert_eq!(err(r"\"), "a lone backslash at the end");
}

// ---------------------------------------------------------------------------------------
// Matrix::parse: valid files

#[test]
fn parse_a_valid_matrix() {
    let dir = TempDir::standard();
    let text = "\
# NAME | qemu/run options | expectation files
   # an indented comment

vof-2g        | --vof -m 2G                 | ok boot
slof_512M.x   |  -m 512M --no-16m           |\tok.expect   plain\t
\t
numa          | --fdt --numa 1G,3G --smp 2 --cpu power9 --timeout 30 | boot
";
    let m = parse_in(&dir, text).unwrap();
    assert_eq!(m.file, MATRIX);
    let names: Vec<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["vof-2g", "slof_512M.x", "numa"]);
    // Lines count comments and blank lines.
    let lines: Vec<usize> = m.configs.iter().map(|c| c.line).collect();
    assert_eq!(lines, [4, 5, 7]);

    let vof = &m.configs[0];
    assert_eq!(vof.options, ["--vof", "-m", "2G"]);
    assert_eq!(vof.expect_names, ["ok", "boot"]);
    let files: Vec<&str> = vof.expect.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(files, [dir.file("ok.expect"), dir.file("boot.expect")]);
    assert_eq!(vof.run.machine.firmware, Firmware::Vof);
    assert_eq!(vof.run.machine.memory, 2 << 30);
    assert!(vof.run.machine.hpt_16m);
    assert_eq!(vof.run.timeout, Some(crate::cli::DEFAULT_TIMEOUT));
    assert!(vof.run.kernel.is_none() && vof.run.log.is_none() && !vof.run.help);

    let slof = &m.configs[1];
    assert_eq!(slof.options, ["-m", "512M", "--no-16m"]);
    assert_eq!(slof.expect_names, ["ok.expect", "plain"]);
    let files: Vec<&str> = slof.expect.iter().map(|e| e.file.as_str()).collect();
    assert_eq!(files, [dir.file("ok.expect"), dir.file("plain")]);
    assert_eq!(slof.run.machine.firmware, Firmware::Slof);
    assert_eq!(slof.run.machine.memory, 512 << 20);
    assert!(!slof.run.machine.hpt_16m);
    assert!(slof.expect[0].states_exit());
    assert!(!slof.expect[1].states_exit());

    let numa = &m.configs[2];
    assert_eq!(numa.run.machine.firmware, Firmware::None);
    assert_eq!(numa.run.machine.numa, [1 << 30, 3 << 30]);
    assert_eq!(numa.run.machine.memory, 4 << 30);
    assert_eq!(numa.run.machine.smp, 2);
    assert_eq!(numa.run.machine.cpu.as_deref(), Some("power9"));
    assert_eq!(numa.run.timeout, Some(Duration::from_secs(30)));
    assert_eq!(numa.expect.len(), 1);
    assert_eq!(numa.expect[0].len(), 2);
}

#[test]
fn parse_empty_options_column_is_the_default_machine() {
    let c = one("");
    assert!(c.options.is_empty());
    let m = &c.run.machine;
    assert_eq!(m.firmware, Firmware::Slof);
    assert_eq!(m.memory, 2 << 30);
    assert!(m.hpt_16m);
    assert!(m.append.is_empty());
    assert!(m.extra.is_empty());
}

#[test]
fn parse_expectation_names_resolve_as_name_then_name_dot_expect() {
    let dir = TempDir::with(&[
        ("both", "exit success\n"),
        ("both.expect", "exit failure\n"),
        ("only.expect", "ktap none\n"),
        ("sub.expect", "ktap all-ok\n"),
    ]);
    // A directory named like the expectation does not count as the file.
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let m = parse_in(&dir, "c | --vof | both only sub both.expect").unwrap();
    let files: Vec<&str> = m.configs[0]
        .expect
        .iter()
        .map(|e| e.file.as_str())
        .collect();
    assert_eq!(
        files,
        [
            dir.file("both"),
            dir.file("only.expect"),
            dir.file("sub.expect"),
            dir.file("both.expect"),
        ]
    );
    assert_eq!(
        m.configs[0].expect_names,
        ["both", "only", "sub", "both.expect"]
    );
}

#[test]
fn parse_accepts_crlf_line_endings() {
    let m = parse_ok("# comment\r\na | --vof | ok\r\n\r\nb | -m 1G | boot\r\n");
    let names: Vec<(&str, usize)> = m
        .configs
        .iter()
        .map(|c| (c.name.as_str(), c.line))
        .collect();
    assert_eq!(names, [("a", 2), ("b", 4)]);
    assert_eq!(m.configs[1].expect_names, ["boot"]);
}

#[test]
fn parse_keeps_the_configurations_in_file_order() {
    let m = parse_ok("z | | ok\na | | ok\nm | | ok\n");
    let names: Vec<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["z", "a", "m"]);
}

#[test]
fn parse_options_double_quotes() {
    let c = one(r#"--vof --append "debug sparse_init=v4.18""#);
    assert_eq!(c.run.machine.append, "debug sparse_init=v4.18");
    assert_eq!(c.options, ["--vof", "--append", "debug sparse_init=v4.18"]);
}

#[test]
fn parse_options_single_quotes() {
    let c = one("--append 'debug  sparse_init=mmotm-2018-07-10'");
    assert_eq!(c.run.machine.append, "debug  sparse_init=mmotm-2018-07-10");
    let c = one(r#"--append 'x="a b"'"#);
    assert_eq!(c.run.machine.append, r#"x="a b""#);
}

#[test]
fn parse_options_backslash_escapes() {
    let c = one(r"--append debug\ sparse_init=v4.18");
    assert_eq!(c.run.machine.append, "debug sparse_init=v4.18");
    let c = one(r#"--append "say \"hi\" \\o/""#);
    assert_eq!(c.run.machine.append, r#"say "hi" \o/"#);
    let c = one(r#"--append dyndbg="file a.c +p" --cpu power8"#);
    assert_eq!(c.run.machine.append, "dyndbg=file a.c +p");
    assert_eq!(c.run.machine.cpu.as_deref(), Some("power8"));
}

#[test]
fn parse_hash_inside_a_line_is_not_a_comment() {
    let c = one(r#"--append "a#b""#);
    assert_eq!(c.run.machine.append, "a#b");
}

#[test]
fn parse_extra_qemu_arguments_after_double_dash() {
    let c = one("--vof -- -d int,guest_errors -D 'q log.txt'");
    assert_eq!(
        c.run.machine.extra,
        ["-d", "int,guest_errors", "-D", "q log.txt"]
    );
    assert_eq!(c.run.machine.firmware, Firmware::Vof);
}

#[test]
fn parse_all_machine_options() {
    let c = one(
        "--vof --numa 512M,512M --no-16m --cpu power10 --smp 4 --maxmem 4G --dimm 1G \
         --reserve-off --initrd /tmp/i.img --timeout 2.5",
    );
    let m = &c.run.machine;
    assert_eq!(m.memory, 1 << 30);
    assert_eq!(m.numa, [512 << 20, 512 << 20]);
    assert!(!m.hpt_16m);
    assert_eq!(m.smp, 4);
    assert_eq!(m.maxmem, Some(4 << 30));
    assert_eq!(m.dimms, [1 << 30]);
    assert!(m.reserve_off);
    assert_eq!(m.initrd, Some(PathBuf::from("/tmp/i.img")));
    assert_eq!(c.run.timeout, Some(Duration::from_millis(2500)));
}

// ---------------------------------------------------------------------------------------
// Matrix::parse: errors, with the file and the line

#[test]
fn error_wrong_column_count() {
    assert_err("a | --vof", 1, "found 2 column(s)");
    assert_err("\n# c\na | --vof | ok | more", 3, "found 4 column(s)");
    // A quoted '|' is part of an option.
    let m = parse_ok("a | --vof --append 'x|y' | ok");
    assert_eq!(m.configs[0].run.machine.append, "x|y");
    assert_err("just-a-name", 1, "found 1 column(s)");
    assert_err("a | | ok |", 1, "found 4 column(s)");
    let e = parse_err("x");
    assert!(
        e.message
            .contains("want 'NAME | qemu/run options | expectation files'"),
        "{e}"
    );
}

#[test]
fn error_bad_configuration_names() {
    assert_err(
        "a | | ok\n\nvof/2g | --vof | ok",
        3,
        "bad configuration name 'vof/2g'",
    );
    assert_err("vof 2g | --vof | ok", 1, "bad configuration name 'vof 2g'");
    assert_err(" | --vof | ok", 1, "bad configuration name ''");
    assert_err("vof:2g | | ok", 1, "(letters, digits, . _ -)");
    assert_err("vöf | | ok", 1, "bad configuration name 'vöf'");
    // Letters, digits, '.', '_' and '-' are all fine.
    assert_eq!(parse_ok("A.b_C-9 | | ok").configs[0].name, "A.b_C-9");
}

#[test]
fn error_duplicate_name_names_the_first_line() {
    let text = "# header\na | --vof | ok\nb | | ok\n\na | -m 1G | boot\n";
    assert_err(text, 5, "configuration 'a' is already on line 2");
    // Names are case-sensitive.
    assert_eq!(parse_ok("a | | ok\nA | | ok").configs.len(), 2);
}

#[test]
fn error_unclosed_quotes_in_options() {
    assert_err(
        "a | | ok\nb | --append \"debug | ok",
        2,
        "unclosed double quote",
    );
    assert_err("a | --append 'debug | ok", 1, "unclosed single quote");
    assert_err(
        r"a | --append debug\ | ok",
        1,
        "a lone backslash at the end",
    );
}

#[test]
fn error_runner_only_options() {
    for (options, word) in [
        ("--kernel vmlinux", "--kernel"),
        ("--vof --log x.log", "--log"),
        ("--gdb", "--gdb"),
        ("-h", "-h"),
        ("-m 1G --help", "--help"),
    ] {
        assert_err(
            &format!("# c\na | {options} | ok"),
            2,
            &format!("{word} cannot be used in a matrix"),
        );
    }
    // Every option the runner chooses is refused.
    for word in RUNNER_OPTIONS {
        let value = if matches!(*word, "--kernel" | "--log") {
            " x"
        } else {
            ""
        };
        assert_err(
            &format!("a | {word}{value} | ok"),
            1,
            "cannot be used in a matrix",
        );
    }
    // A runner option's word as another option's value is only a value.
    let m = parse_ok("a | --vof --append --help | ok");
    assert_eq!(m.configs[0].run.machine.append, "--help");
}

#[test]
fn error_run_option_errors_are_reported_on_the_line() {
    assert_err("a | | ok\nb | --vof -m | ok", 2, "-m needs a value");
    assert_err(
        "a | --numa 1G,1G -m 3G | ok",
        1,
        "differs from the sum of --numa sizes",
    );
    assert_err("a | --bogus | ok", 1, "unknown option '--bogus'");
    assert_err("a | -m 2Q | ok", 1, "bad size '2Q'");
    assert_err("a | --smp 0 | ok", 1, "--smp");
    assert_err("a | --dimm 1G | ok", 1, "--dimm needs --maxmem");
    assert_err("a | --timeout never | ok", 1, "--timeout");
}

#[test]
fn error_no_expectation_files() {
    assert_err("a | --vof | ok\nb | --vof |", 2, "no expectation files");
    assert_err("a | --vof |   \t ", 1, "no expectation files");
}

#[test]
fn error_missing_expectation_file() {
    let dir = TempDir::standard();
    let e = parse_in(&dir, "a | | ok\n# c\nb | --vof | ok nope boot").unwrap_err();
    assert_eq!(e.file, MATRIX);
    assert_eq!(e.line, 3);
    assert_eq!(
        e.message,
        format!(
            "no expectation file 'nope' (or 'nope.expect') in {}",
            dir.path().display()
        )
    );
}

#[test]
fn error_expectation_names_are_not_looked_up_elsewhere() {
    // A file next to the matrix's directory, or in the current directory, is not found.
    let dir = TempDir::standard();
    let sub = dir.path().join("sub");
    std::fs::create_dir(&sub).unwrap();
    let e = Matrix::parse(MATRIX, "a | | ok", &sub).unwrap_err();
    assert!(e.message.contains("no expectation file 'ok'"), "{e}");
    assert!(e.message.contains(&sub.display().to_string()), "{e}");
}

#[test]
fn error_in_an_expectation_file_names_that_file_and_its_line() {
    let dir = TempDir::with(&[
        ("ok.expect", "exit success\n"),
        (
            "broken.expect",
            "# a comment\nexit success\nfrobnicate /x/\nappear /y/\n",
        ),
    ]);
    let e = parse_in(&dir, "a | | ok\n\nb | --vof | ok broken").unwrap_err();
    assert_eq!(e.file, dir.file("broken.expect"));
    assert_eq!(e.line, 3);
    assert!(e.message.contains("unknown directive 'frobnicate'"), "{e}");
    assert_eq!(
        e.to_string(),
        format!("{}:3: {}", dir.file("broken.expect"), e.message)
    );
}

#[test]
fn error_in_an_expectation_file_without_the_suffix() {
    let dir = TempDir::with(&[("raw", "appear /(unclosed/\n")]);
    let e = parse_in(&dir, "a | | raw").unwrap_err();
    assert_eq!(e.file, dir.file("raw"));
    assert_eq!(e.line, 1);
}

#[test]
fn error_empty_matrix() {
    for text in ["", "\n\n", "# only\n   # comments\n\n", "  \t\n"] {
        let e = parse_err(text);
        assert_eq!(e.file, MATRIX);
        assert_eq!(e.line, 0, "{text:?}");
        assert_eq!(e.message, "no configurations");
        assert_eq!(e.to_string(), format!("{MATRIX}:0: no configurations"));
    }
}

#[test]
fn error_the_first_bad_line_is_reported() {
    // Lines 2 and 4 are both wrong; line 2 is the one reported.
    assert_err(
        "a | | ok\nb | --bogus | ok\nc | | ok\nd | --vof",
        2,
        "--bogus",
    );
    // A bad line after good ones fails the whole matrix.
    assert_err("a | | ok\nb | | ok\nc | | missing", 3, "missing");
}

#[test]
fn trailing_comments_are_not_comments() {
    // Only whole lines are comments; a trailing `# ...` is taken as expectation names
    // and rejected (not silently ignored).
    assert_err("a | --vof | ok  # note", 1, "no expectation file '#'");
}

#[test]
fn errors_display_as_file_line_message() {
    let e = parse_err("\n\na | --vof");
    assert_eq!(
        e.to_string(),
        format!(
            "{MATRIX}:3: want 'NAME | qemu/run options | expectation files', found 2 column(s)"
        )
    );
}

#[test]
fn pipe_inside_quoted_options_is_part_of_the_option() {
    // Columns are split on every '|' before the options are unquoted, so a quoted '|'
    // (e.g. in a kernel command line) gives "found 4 column(s)".
    let c = one(r#"--append "a|b""#);
    assert_eq!(c.run.machine.append, "a|b");
    let c = one(r"--append a\|b");
    assert_eq!(c.run.machine.append, "a|b");
}

// ---------------------------------------------------------------------------------------
// Matrix::load

#[test]
fn load_reads_the_file_and_resolves_next_to_it() {
    let dir = TempDir::standard();
    let path = dir.path().join("m.txt");
    std::fs::write(&path, "# m\nvof | --vof | ok plain\n").unwrap();
    let m = Matrix::load(&path).unwrap();
    assert_eq!(m.file, path.display().to_string());
    assert_eq!(m.configs.len(), 1);
    assert_eq!(m.configs[0].line, 2);
    assert_eq!(m.configs[0].expect[0].file, dir.file("ok.expect"));
    assert_eq!(m.configs[0].expect[1].file, dir.file("plain"));
}

#[test]
fn load_errors_name_the_file() {
    let dir = TempDir::standard();
    let path = dir.path().join("m.txt");
    std::fs::write(&path, "vof | --vof | ok\nvof | | ok\n").unwrap();
    let e = Matrix::load(&path).unwrap_err();
    assert_eq!(e.file, path.display().to_string());
    assert_eq!(e.line, 2);
    assert!(e.message.contains("already on line 1"), "{e}");

    let missing = dir.path().join("no-such-matrix.txt");
    let e = Matrix::load(&missing).unwrap_err();
    assert_eq!(e.file, missing.display().to_string());
    assert_eq!(e.line, 0);
    assert!(e.message.starts_with("cannot read: "), "{e}");
}

// ---------------------------------------------------------------------------------------
// The shipped matrix, qemu/expect/matrix.txt

fn shipped() -> Matrix {
    let path = crate::repo_root().join("qemu/expect/matrix.txt");
    Matrix::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The value of `sparse_init=` on a kernel command line.
fn sparse_init_arg(append: &str) -> Option<&str> {
    append
        .split_whitespace()
        .find_map(|w| w.strip_prefix("sparse_init="))
}

fn uses(c: &Config, expect: &str) -> bool {
    c.expect_names
        .iter()
        .any(|n| n == expect || n.strip_suffix(".expect") == Some(expect))
}

/// The orderings the kernel knows (bad-ordering.expect names them).
const ORDERINGS: &[&str] = &["v4.19", "v4.18", "mmotm-2018-07-10"];

#[test]
fn shipped_matrix_parses_with_unique_names() {
    let m = shipped();
    assert!(m.configs.len() >= 10, "{} configurations", m.configs.len());
    let names: BTreeSet<&str> = m.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), m.configs.len(), "duplicate names");
    let lines: BTreeSet<usize> = m.configs.iter().map(|c| c.line).collect();
    assert_eq!(lines.len(), m.configs.len());
    for c in &m.configs {
        assert!(!c.expect.is_empty(), "{}: no expectation files", c.name);
        assert_eq!(c.expect.len(), c.expect_names.len(), "{}", c.name);
        assert!(
            c.expect.iter().all(|e| !e.is_empty()),
            "{}: an empty file",
            c.name
        );
        assert!(c.run.timeout.is_some(), "{}", c.name);
    }
}

#[test]
fn shipped_matrix_uses_every_expectation_file() {
    let m = shipped();
    let dir = crate::repo_root().join("qemu/expect");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Some(stem) = name.strip_suffix(".expect") else {
            continue;
        };
        assert!(
            m.configs.iter().any(|c| uses(c, stem)),
            "{name} is used by no configuration"
        );
    }
}

#[test]
fn shipped_matrix_states_each_exit_status_at_most_once() {
    // Two files stating different exit statuses could never both be met.
    for c in &shipped().configs {
        let stating: Vec<&str> = c
            .expect
            .iter()
            .filter(|e| e.states_exit())
            .map(|e| e.file.as_str())
            .collect();
        assert!(stating.len() <= 1, "{}: {stating:?}", c.name);
    }
}

#[test]
fn shipped_matrix_orderings_match_the_expectations() {
    let m = shipped();
    let mut seen = BTreeSet::new();
    for c in &m.configs {
        let mach = &c.run.machine;
        let order = sparse_init_arg(&mach.append);
        let ctx = format!("{} (line {}): append {:?}", c.name, c.line, mach.append);
        if uses(c, "reproduce-2018") {
            seen.insert("reproduce-2018");
            assert_eq!(order, Some("mmotm-2018-07-10"), "{ctx}");
            // What the file looks for: 2 GiB, 16M vmemmap pages, `debug`.
            assert!(
                mach.append.split_whitespace().any(|w| w == "debug"),
                "{ctx}"
            );
            assert_eq!(mach.memory, 2 << 30, "{ctx}");
            assert!(mach.hpt_16m, "{ctx}: reproduce-2018 needs 16M pages");
        }
        if uses(c, "mmotm-64k") {
            seen.insert("mmotm-64k");
            assert_eq!(order, Some("mmotm-2018-07-10"), "{ctx}");
            assert!(!mach.hpt_16m, "{ctx}: mmotm-64k needs --no-16m");
        }
        if uses(c, "bad-ordering") {
            seen.insert("bad-ordering");
            let o = order.unwrap_or_else(|| panic!("{ctx}: no sparse_init="));
            assert!(!ORDERINGS.contains(&o), "{ctx}: {o} is a known ordering");
        }
        if uses(c, "v4.18") {
            seen.insert("v4.18");
            assert_eq!(order, Some("v4.18"), "{ctx}");
        }
        if uses(c, "v4.19") {
            seen.insert("v4.19");
            assert!(matches!(order, None | Some("v4.19")), "{ctx}");
        }
        if uses(c, "boot-ok") {
            assert!(order.is_none_or(|o| o == "v4.19" || o == "v4.18"), "{ctx}");
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from([
            "reproduce-2018",
            "mmotm-64k",
            "bad-ordering",
            "v4.18",
            "v4.19"
        ])
    );
}

#[test]
fn shipped_matrix_machines() {
    let m = shipped();
    let describe = |name: &str| {
        let c = m.configs.iter().find(|c| c.name == name);
        describe_machine(&c.unwrap_or_else(|| panic!("no {name}")).run.machine)
    };
    assert_eq!(describe("vof-2g"), "vof 2G 16M");
    assert_eq!(describe("vof-2g-64k"), "vof 2G 64K");
    assert_eq!(describe("vof-512m"), "vof 512M 16M");
    assert_eq!(describe("vof-numa2"), "vof 2G 16M numa=1G,1G");
    assert_eq!(
        describe("vof-numa4-64k"),
        "vof 2G 64K numa=512M,512M,512M,512M"
    );
    assert_eq!(describe("vof-power10-smp2"), "vof 2G 16M smp=2 power10");
    assert_eq!(describe("fdt-2g"), "fdt 2G 16M");
    assert_eq!(describe("slof-2g"), "slof 2G 16M");
    // The 2018 failure is reproduced on the 2018 machine itself.
    let repro: Vec<String> = m
        .configs
        .iter()
        .filter(|c| uses(c, "reproduce-2018"))
        .map(|c| describe_machine(&c.run.machine))
        .collect();
    assert!(repro.iter().any(|d| d == "slof 2G 16M"), "{repro:?}");
    let big = m.configs.iter().find(|c| c.name == "vof-64g").unwrap();
    assert!(big.run.machine.reserve_off);
    assert_eq!(describe("vof-64g"), "vof 64G 16M");
}

// ---------------------------------------------------------------------------------------
// describe_machine and size

#[test]
fn describe_the_default_machine() {
    assert_eq!(describe_machine(&Machine::default()), "slof 2G 16M");
}

#[test]
fn describe_firmware_memory_and_page_size() {
    let vof = Machine {
        firmware: Firmware::Vof,
        memory: 512 << 20,
        hpt_16m: false,
        ..Machine::default()
    };
    assert_eq!(describe_machine(&vof), "vof 512M 64K");
    let fdt = Machine {
        firmware: Firmware::None,
        memory: 64 << 30,
        ..Machine::default()
    };
    assert_eq!(describe_machine(&fdt), "fdt 64G 16M");
    let odd = Machine {
        memory: 1536 << 20,
        ..Machine::default()
    };
    assert_eq!(describe_machine(&odd), "slof 1536M 16M");
}

#[test]
fn describe_numa_smp_and_cpu_in_that_order() {
    let m = Machine {
        firmware: Firmware::None,
        memory: 4 << 30,
        numa: vec![1 << 30, 3 << 30],
        smp: 4,
        cpu: Some("power9".into()),
        ..Machine::default()
    };
    assert_eq!(describe_machine(&m), "fdt 4G 16M numa=1G,3G smp=4 power9");
    let m = Machine {
        numa: vec![512 << 20, 1536 << 20],
        ..Machine::default()
    };
    assert_eq!(describe_machine(&m), "slof 2G 16M numa=512M,1536M");
    // One CPU is not mentioned; a CPU model alone is.
    let m = Machine {
        smp: 1,
        cpu: Some("power8".into()),
        ..Machine::default()
    };
    assert_eq!(describe_machine(&m), "slof 2G 16M power8");
}

#[test]
fn describe_a_parsed_configuration() {
    let c = one("--vof --numa 1G,1G --smp 2 --cpu power10 --no-16m");
    assert_eq!(
        describe_machine(&c.run.machine),
        "vof 2G 64K numa=1G,1G smp=2 power10"
    );
}

#[test]
fn sizes_are_whole_gibibytes_or_mebibytes() {
    assert_eq!(size(1 << 30), "1G");
    assert_eq!(size(2 << 30), "2G");
    assert_eq!(size(1 << 40), "1024G");
    assert_eq!(size(512 << 20), "512M");
    assert_eq!(size((1 << 30) + (1 << 20)), "1025M");
    assert_eq!(size(3 << 29), "1536M");
}

// ---------------------------------------------------------------------------------------
// Synthetic results for table and report_json

/// VOF -m 2G `debug` from `memmap_init:` on: 10 self-checks, all ok.
const VOF_2G_DEBUG: &str = include_str!("../../tests/fixtures/ktap/vof-2g-debug-v4.19.log");
/// VOF -m 2G --no-16m, the 2018 ordering: a `sparse_init:` line, 3 of 10 self-checks
/// fail, then a panic.
const VOF_64K_MMOTM: &str =
    include_str!("../../tests/fixtures/ktap/vof-2g-64k-mmotm-2018-07-10.log");

const SPARSE_INIT_V419: &str = "[    0.100000] sparse_init: order=v4.19 sections=128 nodes=1 \
     vmemmap_pages=1 psize=16M mappings=1 map_failures=0 unbacked_sections=0 \
     memmap=16384K usemap=1024B time=5800us";

/// A passing boot's console: firmware chatter, a few printk lines, the KTAP document.
fn passing_console() -> String {
    format!(
        "VOF: booting\n\
         [    0.000100] sparsek version 0.1.0\n\
         [    0.000200] Kernel command line: debug\n\
         {SPARSE_INIT_V419}\n\
         [    0.100500] Zone ranges:\n\
         {VOF_2G_DEBUG}"
    )
}

fn outcome(verdict: Verdict, console: &str, secs: f64) -> Outcome {
    Outcome {
        verdict,
        qemu_status: match verdict {
            Verdict::Success => Some(0),
            Verdict::KernelFailure | Verdict::QemuError => Some(1),
            Verdict::Timeout => None,
        },
        console: console.to_string(),
        stderr: String::new(),
        duration: Duration::from_secs_f64(secs),
        command: [
            "qemu-system-ppc64",
            "-M",
            "pseries,x-vof=on",
            "-append",
            "debug x",
        ]
        .map(String::from)
        .to_vec(),
        reason: match verdict {
            Verdict::Success => "reboot: Power down".into(),
            _ => "Kernel panic - not syncing: 3 boot self-check(s) failed".into(),
        },
        timing: Default::default(),
        stopped: false,
    }
}

fn check(file: &str, line: usize, directive: &str, ok: bool, detail: &str) -> Check {
    Check {
        file: file.into(),
        line,
        directive: directive.into(),
        ok,
        detail: detail.into(),
    }
}

fn judged(status: Status, outcome: Option<Outcome>, checks: Vec<Check>, log: &str) -> Judged {
    Judged {
        status,
        outcome,
        checks,
        implicit_success: None,
        error: None,
        dtb_duration: None,
        log: PathBuf::from(log),
    }
}

/// A configuration made without the file system.
fn config(name: &str, line: usize, options: &str, files: &[(&str, &str)]) -> Config {
    let options = words(options);
    Config {
        name: name.into(),
        line,
        run: parse_run_args(options.clone()).unwrap(),
        options,
        expect_names: files.iter().map(|f| f.0.to_string()).collect(),
        expect: files
            .iter()
            .map(|(name, text)| Expectations::parse(name, text).unwrap())
            .collect(),
    }
}

fn result(name: &str, judged: Judged) -> ConfigResult {
    ConfigResult {
        name: name.into(),
        judged,
    }
}

const PASS: &str = "vof-2g";
const FAIL: &str = "vof-2g-mmotm-64k";
const ERROR: &str = "slof-2g";
const NO_QEMU: &str = "cannot start qemu-system-ppc64: No such file or directory (os error 2)";

/// Three configurations: one passes, one fails a check, one could not start QEMU.
fn scenario() -> (Matrix, Vec<ConfigResult>) {
    let configs = vec![
        config(
            PASS,
            6,
            r#"--vof -m 2G --append "debug x""#,
            &[
                ("e/boot-ok.expect", "exit success\n"),
                ("e/v4.19.expect", "appear /^sparse_init: order=v4\\.19 /\n"),
            ],
        ),
        config(
            FAIL,
            7,
            "--vof --no-16m --append sparse_init=mmotm-2018-07-10",
            &[("e/mmotm-64k.expect", "exit failure\ncheck 1 == 1\n")],
        ),
        config(ERROR, 9, "-m 2G", &[("e/boot-ok.expect", "exit success\n")]),
    ];
    let pass = judged(
        Status::Pass,
        Some(outcome(Verdict::Success, &passing_console(), 1.25)),
        vec![
            check(
                "e/boot-ok.expect",
                1,
                "exit success",
                true,
                "exit 0 (success)",
            ),
            check(
                "e/v4.19.expect",
                1,
                "appear /^sparse_init: order=v4\\.19 /",
                true,
                "sparse_init: order=v4.19 sections=128",
            ),
        ],
        "/logs/vof-2g.log",
    );
    let fail = judged(
        Status::Fail,
        Some(outcome(Verdict::KernelFailure, VOF_64K_MMOTM, 2.5)),
        vec![
            check(
                "e/mmotm-64k.expect",
                1,
                "exit failure",
                true,
                "exit 1 (kernel failure)",
            ),
            check(
                "e/mmotm-64k.expect",
                2,
                "check 1 == 1",
                false,
                "1 == 2 is false",
            ),
        ],
        "/logs/vof-2g-mmotm-64k.log",
    );
    let mut error = judged(Status::Error, None, Vec::new(), "/logs/slof-2g.log");
    error.error = Some(NO_QEMU.into());
    let results = vec![result(PASS, pass), result(FAIL, fail), result(ERROR, error)];
    let matrix = Matrix {
        file: "qemu/expect/matrix.txt".into(),
        configs,
    };
    (matrix, results)
}

fn scenario_table() -> String {
    let (m, results) = scenario();
    let configs: Vec<&Config> = m.configs.iter().collect();
    table(&configs, &results)
}

fn scenario_json() -> Value {
    let (m, results) = scenario();
    let configs: Vec<&Config> = m.configs.iter().collect();
    report_json(
        &m,
        &configs,
        &results,
        Path::new("/k/sparsek.elf"),
        3,
        Duration::from_millis(4500),
    )
}

const COLUMNS: [&str; 10] = [
    "CONFIG", "MACHINE", "ORDER", "RESULT", "TIME", "VMEMMAP", "MAPPINGS", "FAILS", "KTAP",
    "CHECKS",
];

/// Where each of the header's columns starts.
fn column_starts(header: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in header.char_indices().chain([(header.len(), ' ')]) {
        match (c == ' ', start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((header[s..i].to_string(), s));
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// The cell of `column` in the row of configuration `row`, cut at the header's
/// column starts.
fn cell(table: &str, row: &str, column: &str) -> String {
    let header = table.lines().next().unwrap();
    let starts = column_starts(header);
    let i = starts
        .iter()
        .position(|(name, _)| name == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    let line = table
        .lines()
        .skip(1)
        .find(|l| l.split(' ').next() == Some(row))
        .unwrap_or_else(|| panic!("no row {row} in\n{table}"));
    let from = starts[i].1;
    let to = starts
        .get(i + 1)
        .map_or(line.len(), |s| s.1.min(line.len()));
    line[from..to].trim().to_string()
}

/// The rows of a table (the header and one line per configuration), without the failure
/// notes after it.
fn rows(table: &str, configs: usize) -> Vec<&str> {
    table.lines().take(configs + 1).collect()
}

// ---------------------------------------------------------------------------------------
// table

#[test]
fn table_has_a_header_and_one_row_per_configuration() {
    let t = scenario_table();
    let header = t.lines().next().unwrap();
    let names: Vec<String> = column_starts(header).into_iter().map(|c| c.0).collect();
    assert_eq!(names, COLUMNS);
    let rows = rows(&t, 3);
    let firsts: Vec<&str> = rows[1..]
        .iter()
        .map(|r| r.split(' ').next().unwrap())
        .collect();
    assert_eq!(firsts, [PASS, FAIL, ERROR]);
}

#[test]
fn table_columns_are_aligned() {
    let t = scenario_table();
    let rows = rows(&t, 3);
    let starts = column_starts(rows[0]);
    for row in &rows {
        assert_eq!(*row, row.trim_end(), "trailing blanks in {row:?}");
        for (name, s) in &starts[1..] {
            let b = row.as_bytes();
            assert!(
                b[s - 2] == b' ' && b[s - 1] == b' ' && b[*s] != b' ',
                "{name} does not start at {s} in {row:?}\n{t}"
            );
        }
    }
}

#[test]
fn table_row_of_a_passing_configuration() {
    let t = scenario_table();
    let cell = |c: &str| cell(&t, PASS, c);
    assert_eq!(cell("MACHINE"), "vof 2G 16M");
    assert_eq!(cell("ORDER"), "v4.19");
    assert_eq!(cell("RESULT"), "pass");
    assert_eq!(cell("TIME"), "1.25s");
    assert_eq!(cell("VMEMMAP"), "1");
    assert_eq!(cell("MAPPINGS"), "1");
    assert_eq!(cell("FAILS"), "0");
    assert_eq!(cell("KTAP"), "10/10");
    assert_eq!(cell("CHECKS"), "2/2");
}

#[test]
fn table_row_of_a_failing_configuration() {
    let t = scenario_table();
    let cell = |c: &str| cell(&t, FAIL, c);
    assert_eq!(cell("MACHINE"), "vof 2G 64K");
    assert_eq!(cell("ORDER"), "mmotm-2018-07-10");
    assert_eq!(cell("RESULT"), "fail");
    assert_eq!(cell("TIME"), "2.50s");
    assert_eq!(cell("VMEMMAP"), "128");
    assert_eq!(cell("MAPPINGS"), "128");
    assert_eq!(cell("FAILS"), "0");
    assert_eq!(cell("KTAP"), "7/10");
    assert_eq!(cell("CHECKS"), "1/2");
}

#[test]
fn table_row_of_a_configuration_that_did_not_boot() {
    let t = scenario_table();
    let cell = |c: &str| cell(&t, ERROR, c);
    assert_eq!(cell("MACHINE"), "slof 2G 16M");
    assert_eq!(cell("RESULT"), "error");
    for c in ["ORDER", "TIME", "VMEMMAP", "MAPPINGS", "FAILS", "KTAP"] {
        assert_eq!(cell(c), "-", "{c}\n{t}");
    }
    assert_eq!(cell("CHECKS"), "0/0");
}

#[test]
fn table_lists_failed_checks_after_the_rows() {
    let t = scenario_table();
    let notes: Vec<&str> = t.lines().skip(4).collect();
    assert_eq!(
        notes,
        [
            "vof-2g-mmotm-64k: kernel failure (Kernel panic - not syncing: 3 boot self-check(s) \
             failed); 1 of 2 expectations failed, first e/mmotm-64k.expect:2: FAILED check 1 == 1: \
             1 == 2 is false; log: /logs/vof-2g-mmotm-64k.log",
            "  e/mmotm-64k.expect:2: FAILED check 1 == 1: 1 == 2 is false",
            &format!("slof-2g: {NO_QEMU}; log: /logs/slof-2g.log"),
        ]
    );
    // Nothing about the passing configuration, nor about met checks.
    assert!(
        !t.lines()
            .skip(4)
            .any(|l| l.contains(PASS) && !l.contains(FAIL)),
        "{t}"
    );
    assert!(!t.contains("met exit"), "{t}");
    assert!(t.ends_with('\n'));
}

#[test]
fn table_notes_the_implicit_success_requirement() {
    let c = config(
        "implicit",
        1,
        "--vof",
        &[("e/v4.19.expect", "appear /x/\n")],
    );
    let mut j = judged(
        Status::Fail,
        Some(outcome(Verdict::KernelFailure, VOF_64K_MMOTM, 0.5)),
        vec![check("e/v4.19.expect", 1, "appear /x/", true, "x")],
        "/logs/implicit.log",
    );
    j.implicit_success = Some(false);
    let t = table(&[&c], &[result("implicit", j)]);
    let notes: Vec<&str> = t.lines().skip(2).collect();
    assert_eq!(notes.len(), 2, "{t}");
    assert!(notes[0].starts_with("implicit: kernel failure ("), "{t}");
    assert_eq!(
        notes[1],
        "  no file states the exit status, so the kernel must report success: kernel failure"
    );
    assert_eq!(cell(&t, "implicit", "CHECKS"), "1/1");
    assert_eq!(cell(&t, "implicit", "RESULT"), "fail");
}

#[test]
fn table_without_sparse_init_line_or_ktap() {
    let c = config("quiet", 1, "--fdt -m 1G", &[("e.expect", "exit success\n")]);
    let console = "[    0.000100] sparsek version 0.1.0\n[    0.000200] reboot: Power down\n";
    let j = judged(
        Status::Pass,
        Some(outcome(Verdict::Success, console, 0.5)),
        Vec::new(),
        "/l",
    );
    let t = table(&[&c], &[result("quiet", j)]);
    assert_eq!(cell(&t, "quiet", "MACHINE"), "fdt 1G 16M");
    for col in ["ORDER", "VMEMMAP", "MAPPINGS", "FAILS", "KTAP"] {
        assert_eq!(cell(&t, "quiet", col), "-", "{col}\n{t}");
    }
    assert_eq!(cell(&t, "quiet", "TIME"), "0.50s");
    assert_eq!(cell(&t, "quiet", "CHECKS"), "0/0");
    assert_eq!(t.lines().count(), 2, "a pass has no notes:\n{t}");
}

#[test]
fn table_of_no_results_is_the_header() {
    let t = table(&[], &[]);
    assert_eq!(t, format!("{}\n", COLUMNS.join("  ")));
}

#[test]
fn table_ktap_column_agrees_with_the_json_results_on_skips() {
    let console = "\
[    0.000001] KTAP version 1
[    0.000002] 1..1
[    0.000003]     KTAP version 1
[    0.000004]     # Subtest: s
[    0.000005]     1..2
[    0.000006]     ok 1 a
[    0.000007]     ok 2 b # SKIP no hardware
[    0.000008] ok 1 s
";
    let c = config("skip", 1, "--vof", &[("e.expect", "ktap all-ok\n")]);
    let j = judged(
        Status::Fail,
        Some(outcome(Verdict::Success, console, 0.1)),
        vec![check(
            "e.expect",
            1,
            "ktap all-ok",
            false,
            "s.b # SKIP no hardware",
        )],
        "/l",
    );
    let m = Matrix {
        file: "m".into(),
        configs: vec![c.clone()],
    };
    let results = [result("skip", j)];
    let report = report_json(&m, &[&c], &results, Path::new("k"), 1, Duration::ZERO);
    let ktap = &report["configs"][0]["ktap"];
    let ok = ktap["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == true)
        .count();
    assert_eq!(ok, 1, "{ktap}");
    assert_eq!(ktap["cases"], 2);
    // The table says 2/2 and the JSON "not_ok" 0, while one case is not ok above.
    assert_eq!(ktap["not_ok"].as_u64(), Some(2 - ok as u64), "{ktap}");
    let t = table(&[&c], &results);
    assert_eq!(cell(&t, "skip", "KTAP"), format!("{ok}/2"), "{t}");
}

// ---------------------------------------------------------------------------------------
// report_json

fn config_json<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

#[test]
fn json_top_level_and_summary() {
    let r = scenario_json();
    assert_eq!(r["matrix"], "qemu/expect/matrix.txt");
    assert_eq!(r["kernel"], "/k/sparsek.elf");
    assert_eq!(r["jobs"], 3);
    assert_eq!(r["wall_s"], 4.5);
    assert_eq!(
        r["summary"],
        json!({ "configs": 3, "pass": 1, "fail": 1, "error": 1 })
    );
    let names: Vec<&str> = r["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, [PASS, FAIL, ERROR]);
}

#[test]
fn json_round_trips_through_text() {
    let r = scenario_json();
    let text = serde_json::to_string_pretty(&r).unwrap();
    let back: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(back, r);
}

#[test]
fn json_configuration_and_machine() {
    let r = scenario_json();
    let c = config_json(&r, PASS);
    assert_eq!(c["line"], 6);
    assert_eq!(
        c["options"],
        json!(["--vof", "-m", "2G", "--append", "debug x"])
    );
    assert_eq!(
        c["machine"],
        json!({
            "firmware": "vof",
            "memory": 2u64 << 30,
            "hpt_16m": true,
            "numa": [],
            "cpu": null,
            "smp": 1,
            "reserve_off": false,
            "append": "debug x",
            "extra": [],
        })
    );
    assert_eq!(
        c["expectations"],
        json!(["e/boot-ok.expect", "e/v4.19.expect"])
    );
    assert_eq!(c["status"], "pass");
    assert_eq!(c["log"], "/logs/vof-2g.log");
    assert_eq!(c["error"], Value::Null);
    assert_eq!(c["implicit_success"], Value::Null);
    assert_eq!(config_json(&r, FAIL)["machine"]["hpt_16m"], false);
    assert_eq!(config_json(&r, ERROR)["machine"]["firmware"], "slof");
}

#[test]
fn json_boot_outcome() {
    let r = scenario_json();
    let c = config_json(&r, PASS);
    assert_eq!(c["verdict"], "success");
    assert_eq!(c["exit"], 0);
    assert_eq!(c["qemu_status"], 0);
    assert_eq!(c["reason"], "reboot: Power down");
    assert_eq!(
        c["qemu"],
        "qemu-system-ppc64 -M pseries,x-vof=on -append 'debug x'"
    );
    assert_eq!(c["durations"]["boot_s"], 1.25);
    assert_eq!(c["durations"]["dtb_dump_s"], Value::Null);
    // The last printk line of the fixture: `[    0.121297] reboot: Power down`.
    assert_eq!(c["durations"]["kernel_last_timestamp_s"], 0.121297);

    let f = config_json(&r, FAIL);
    assert_eq!(f["verdict"], "kernel failure");
    assert_eq!(f["exit"], 1);
    assert_eq!(f["qemu_status"], 1);
    assert_eq!(f["status"], "fail");
    assert_eq!(f["durations"]["kernel_last_timestamp_s"], 0.174509);
}

#[test]
fn json_sparse_init_numbers_are_numbers() {
    let r = scenario_json();
    let s = &config_json(&r, PASS)["sparse_init"];
    assert_eq!(
        *s,
        json!({
            "order": "v4.19",
            "sections": 128,
            "nodes": 1,
            "vmemmap_pages": 1,
            "psize": "16M",
            "mappings": 1,
            "map_failures": 0,
            "unbacked_sections": 0,
            "memmap_kib": 16384,
            "usemap_bytes": 1024,
            "time_us": 5800,
        })
    );
    assert!(s["mappings"].is_u64());
    assert!(s["psize"].is_string());
    assert!(s.get("time").is_none());

    let f = &config_json(&r, FAIL)["sparse_init"];
    assert_eq!(f["order"], "mmotm-2018-07-10");
    assert_eq!(f["mappings"], 128);
    assert_eq!(f["psize"], "64K");
    assert_eq!(f["time_us"], 6348);
}

#[test]
fn json_ktap_results_are_named_suite_dot_case() {
    let r = scenario_json();
    let k = &config_json(&r, PASS)["ktap"];
    assert_eq!(k["cases"], 10);
    assert_eq!(k["not_ok"], 0);
    let results = k["results"].as_array().unwrap();
    let names: Vec<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "hash.hash_translation_on",
            "hash.hash_linear_map_rw",
            "hash.hash_bolted_read_back",
            "sparse.sparse_sections_valid",
            "sparse.sparse_vmemmap_mapped_once",
            "sparse.sparse_vmemmap_backings",
            "sparse.sparse_usemaps",
            "sparse.sparse_pfn_round_trip",
            "sparse.sparse_memmap_size",
            "sparse.sparse_struct_pages",
        ]
    );
    assert_eq!(
        results[0],
        json!({
            "name": "hash.hash_translation_on",
            "ok": true,
            "skip": false,
            "diag": "MSR 0x8000000000000033",
        })
    );

    let k = &config_json(&r, FAIL)["ktap"];
    assert_eq!(k["cases"], 10);
    assert_eq!(k["not_ok"], 3);
    let failed: Vec<&str> = k["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ok"] == false)
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            "sparse.sparse_vmemmap_mapped_once",
            "sparse.sparse_pfn_round_trip",
            "sparse.sparse_memmap_size",
        ]
    );
}

#[test]
fn json_checks() {
    let r = scenario_json();
    let c = config_json(&r, FAIL);
    assert_eq!(
        c["checks"],
        json!([
            {
                "file": "e/mmotm-64k.expect", "line": 1, "directive": "exit failure",
                "ok": true, "detail": "exit 1 (kernel failure)",
            },
            {
                "file": "e/mmotm-64k.expect", "line": 2, "directive": "check 1 == 1",
                "ok": false, "detail": "1 == 2 is false",
            },
        ])
    );
    assert_eq!(c["failed_checks"], 1);
    assert_eq!(config_json(&r, PASS)["failed_checks"], 0);
    assert_eq!(config_json(&r, PASS)["checks"].as_array().unwrap().len(), 2);
}

#[test]
fn json_of_a_configuration_that_did_not_boot() {
    let r = scenario_json();
    let c = config_json(&r, ERROR);
    assert_eq!(c["status"], "error");
    assert_eq!(c["error"], NO_QEMU);
    assert_eq!(c["checks"], json!([]));
    assert_eq!(c["failed_checks"], 0);
    for key in [
        "qemu",
        "verdict",
        "reason",
        "exit",
        "qemu_status",
        "sparse_init",
        "ktap",
    ] {
        assert!(c.get(key).is_none(), "{key} in {c:#}");
    }
    assert_eq!(c["durations"], json!({ "dtb_dump_s": null }));
}

#[test]
fn json_timeout_dtb_time_and_missing_ktap() {
    let c = config(
        "slow",
        2,
        "--vof --numa 1G,1G --cpu power9",
        &[("e.expect", "exit timeout\n")],
    );
    let console = "[    0.000100] sparsek version 0.1.0\n[   12.500000] still going\nfirmware\n";
    let mut j = judged(
        Status::Pass,
        Some(outcome(Verdict::Timeout, console, 60.0)),
        vec![check(
            "e.expect",
            1,
            "exit timeout",
            true,
            "exit 124 (timeout)",
        )],
        "/l/slow.log",
    );
    j.dtb_duration = Some(Duration::from_millis(250));
    let m = Matrix {
        file: "m.txt".into(),
        configs: vec![c.clone()],
    };
    let r = report_json(
        &m,
        &[&c],
        &[result("slow", j)],
        Path::new("k"),
        1,
        Duration::ZERO,
    );
    let s = config_json(&r, "slow");
    assert_eq!(s["verdict"], "timeout");
    assert_eq!(s["exit"], 124);
    assert_eq!(s["qemu_status"], Value::Null);
    assert_eq!(s["machine"]["numa"], json!([1u64 << 30, 1u64 << 30]));
    assert_eq!(s["machine"]["cpu"], "power9");
    assert_eq!(s["durations"]["dtb_dump_s"], 0.25);
    assert_eq!(s["durations"]["boot_s"], 60.0);
    assert_eq!(s["durations"]["kernel_last_timestamp_s"], 12.5);
    assert_eq!(s["sparse_init"], json!({}));
    assert_eq!(
        s["ktap"],
        json!({ "error": "KTAP: no 'KTAP version' line" })
    );
    assert_eq!(
        r["summary"],
        json!({ "configs": 1, "pass": 1, "fail": 0, "error": 0 })
    );
}

#[test]
fn json_of_no_results() {
    let m = Matrix {
        file: "m".into(),
        configs: Vec::new(),
    };
    let r = report_json(&m, &[], &[], Path::new("k"), 2, Duration::from_secs(1));
    assert_eq!(r["configs"], json!([]));
    assert_eq!(
        r["summary"],
        json!({ "configs": 0, "pass": 0, "fail": 0, "error": 0 })
    );
}

// ---------------------------------------------------------------------------------------
// Private helpers of the report

#[test]
fn field_json_numbers_microseconds_and_strings() {
    assert_eq!(field_json("mappings", "1"), ("mappings".into(), json!(1)));
    assert_eq!(
        field_json("time", "5800us"),
        ("time_us".into(), json!(5800))
    );
    assert_eq!(field_json("psize", "16M"), ("psize".into(), json!("16M")));
    assert_eq!(
        field_json("order", "v4.19"),
        ("order".into(), json!("v4.19"))
    );
    assert_eq!(
        field_json("usemap", "1024B"),
        ("usemap_bytes".into(), json!(1024))
    );
    assert_eq!(
        field_json("memmap", "16384K"),
        ("memmap_kib".into(), json!(16384))
    );
    assert_eq!(field_json("x", "us"), ("x".into(), json!("us")));
    assert_eq!(field_json("x", "-1"), ("x".into(), json!("-1")));
    assert_eq!(
        field_json("big", "18446744073709551615"),
        ("big".into(), json!(u64::MAX))
    );
}

#[test]
fn last_timestamp_is_of_the_last_printk_line() {
    assert_eq!(last_timestamp(""), None);
    assert_eq!(last_timestamp("SLOF\nBooting from memory...\n"), None);
    assert_eq!(
        last_timestamp("[    0.000100] a\n[    1.250000] b\nQEMU: Terminated\n\n"),
        Some(1.25)
    );
    assert_eq!(last_timestamp(&passing_console()), Some(0.121297));
    // A malformed stamp is not a printk line.
    assert_eq!(last_timestamp("[    0.000100] a\n[ 9.5] b\n"), Some(0.0001));
}

#[test]
fn ktap_json_counts_and_skips() {
    let doc = crate::ktap::parse(
        "KTAP version 1\n1..3\nok 1 top\nnot ok 2 bad # why\nok 3 later # SKIP not here\n",
    )
    .unwrap();
    let j = ktap_json(&doc);
    assert_eq!(j["cases"], 3);
    // Skipped counts as not ok, as for `ktap all-ok`, and is also counted apart.
    assert_eq!(j["ok"], 1);
    assert_eq!(j["not_ok"], 2);
    assert_eq!(j["skipped"], 1);
    assert_eq!(
        j["results"],
        json!([
            { "name": "top", "ok": true, "skip": false, "diag": null },
            { "name": "bad", "ok": false, "skip": false, "diag": "why" },
            { "name": "later", "ok": false, "skip": true, "diag": "SKIP not here" },
        ])
    );
}

// ---------------------------------------------------------------------------------------
// run (QEMU only has to fail: the kernel does not exist)

#[test]
fn run_of_nothing_is_nothing() {
    let dir = TempDir::with(&[]);
    let lines = Mutex::new(Vec::new());
    let results = run(&[], Path::new("no-kernel"), 4, dir.path(), &|l| {
        lines.lock().unwrap().push(l.to_string())
    });
    assert!(results.is_empty());
    assert!(lines.into_inner().unwrap().is_empty());
}

#[test]
fn run_keeps_the_order_and_reports_progress() {
    let dir = TempDir::with(&[]);
    let kernel = dir.path().join("no-such-kernel.elf");
    let m = Matrix {
        file: "m".into(),
        configs: ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, n)| {
                config(
                    n,
                    i + 1,
                    "--vof --timeout 30",
                    &[("e.expect", "exit success\n")],
                )
            })
            .collect(),
    };
    let configs: Vec<&Config> = m.configs.iter().collect();
    let lines = Mutex::new(Vec::new());
    let results = run(&configs, &kernel, 8, dir.path(), &|l| {
        lines.lock().unwrap().push(l.to_string())
    });
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    for r in &results {
        // Either QEMU is missing or it fails to load the kernel: no boot to judge.
        assert_eq!(r.judged.status, Status::Error, "{}: {:?}", r.name, r.judged);
        assert!(r.judged.error.is_some());
        assert!(r.judged.checks.is_empty());
        assert_eq!(r.judged.log, dir.path().join(format!("{}.log", r.name)));
    }
    let mut lines = lines.into_inner().unwrap();
    lines.sort();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (i, l) in lines.iter().enumerate() {
        assert!(l.starts_with(&format!("matrix: [{}/3] ", i + 1)), "{l}");
        assert!(l.contains(" error"), "{l}");
    }
    let mentioned: BTreeSet<&str> = lines.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
    assert_eq!(mentioned, BTreeSet::from(["a", "b", "c"]));
}

#[test]
fn shipped_orderings_matrix_pairs_each_ordering_with_both_page_sizes() {
    let m = Matrix::load(&crate::repo_root().join("qemu/expect/orderings.txt")).unwrap();
    let mut seen = Vec::new();
    for c in &m.configs {
        let order = c
            .run
            .machine
            .append
            .split_whitespace()
            .find_map(|p| p.strip_prefix("sparse_init="))
            .unwrap_or("v4.19");
        seen.push((order.to_string(), c.run.machine.hpt_16m));
        assert_eq!(c.run.machine.memory, 2 << 30, "{}", c.name);
    }
    seen.sort();
    let mut want = Vec::new();
    for o in ["mmotm-2018-07-10", "v4.18", "v4.19"] {
        want.push((o.to_string(), false));
        want.push((o.to_string(), true));
    }
    assert_eq!(seen, want);
}
