//! Tests of the `.expect` format: parsing (and its errors), evaluation against real boot
//! logs (the KTAP fixtures), machine variables and `each dt_memory`.

use super::*;
use crate::Machine;
use crate::boot::{is_kernel_line, strip_timestamp};
use crate::exit;

// Real boot logs (see ktap.rs for where each is cut).
/// A whole SLOF -m 2G console, default (v4.19) ordering: all self-checks ok.
const SLOF_2G: &str = include_str!("../../tests/fixtures/ktap/slof-2g-v4.19.log");
/// VOF -m 2G `debug`, from `memmap_init:` on: no `sparse_init:` line, all ok.
const VOF_2G_DEBUG: &str = include_str!("../../tests/fixtures/ktap/vof-2g-debug-v4.19.log");
/// SLOF -m 2G with the 2018 ordering (16M pages): 5 self-checks fail, then a panic.
const SLOF_MMOTM: &str = include_str!("../../tests/fixtures/ktap/slof-2g-mmotm-2018-07-10.log");
/// VOF -m 2G without 16M pages, the 2018 ordering: 3 self-checks fail.
const VOF_64K_MMOTM: &str =
    include_str!("../../tests/fixtures/ktap/vof-2g-64k-mmotm-2018-07-10.log");

const K: u64 = 1 << 10;
const M: u64 = 1 << 20;
const G: u64 = 1 << 30;
/// `i128::MAX`, as an expression literal.
const I128_MAX: &str = "170141183460469231731687303715884105727";

// ---------------------------------------------------------------------------------------
// Helpers

const FILE: &str = "t.expect";

fn parse(text: &str) -> Expectations {
    Expectations::parse(FILE, text).unwrap_or_else(|e| panic!("{e}\nin:\n{text}"))
}

fn parse_err(text: &str) -> ParseError {
    match Expectations::parse(FILE, text) {
        Ok(e) => panic!("parsed ({} directives) but should not:\n{text}", e.len()),
        Err(e) => e,
    }
}

/// `text` fails to parse at `line` with a message containing `needle`.
#[track_caller]
fn assert_parse_err(text: &str, line: usize, needle: &str) {
    let e = parse_err(text);
    assert_eq!(e.file, FILE);
    assert_eq!(e.line, line, "wrong line for {e}");
    assert!(
        e.message.contains(needle),
        "message {:?} lacks {needle:?}",
        e.message
    );
}

/// A boot as `Boot::from_outcome` sees a console log: the kernel's lines without their
/// timestamps, and the log's KTAP document.
fn boot_from_log(log: &str, exit: i32) -> Boot<'_> {
    Boot {
        exit,
        messages: log
            .lines()
            .filter(|l| is_kernel_line(l))
            .map(strip_timestamp)
            .collect(),
        ktap: crate::ktap::parse(log),
    }
}

/// A boot whose kernel printed exactly `lines` (no KTAP document).
fn boot_of<'a>(lines: &[&'a str]) -> Boot<'a> {
    Boot {
        exit: exit::SUCCESS,
        messages: lines.to_vec(),
        ktap: crate::ktap::parse(&lines.join("\n")),
    }
}

/// A boot whose console is `ktap` (a bare KTAP document, no timestamps).
fn boot_with_ktap(ktap: &str) -> Boot<'_> {
    Boot {
        exit: exit::SUCCESS,
        messages: ktap.lines().collect(),
        ktap: crate::ktap::parse(ktap),
    }
}

/// The default machine (SLOF, 2G, 16M pages) with QEMU's tree: one range, node 0.
fn vars_2g() -> Vars {
    Vars::for_machine(&Machine::default(), Some(vec![(0, 2 * G, 0)]))
}

/// The 2G machine without 16M pages.
fn vars_2g_64k() -> Vars {
    let m = Machine {
        hpt_16m: false,
        ..Machine::default()
    };
    Vars::for_machine(&m, Some(vec![(0, 2 * G, 0)]))
}

/// Two NUMA nodes of 1 GiB each.
fn vars_two_nodes() -> Vars {
    let m = Machine {
        numa: vec![G, G],
        ..Machine::default()
    };
    Vars::for_machine(&m, Some(vec![(0, G, 0), (G, 2 * G, 1)]))
}

fn run(text: &str, boot: &Boot, vars: &mut Vars) -> Vec<Verdict> {
    parse(text).evaluate(boot, vars)
}

/// The one verdict of a one-directive file, on the 2G machine.
#[track_caller]
fn verdict(text: &str, boot: &Boot) -> Verdict {
    let mut v = run(text, boot, &mut vars_2g());
    assert_eq!(v.len(), 1, "{v:#?}");
    v.pop().unwrap()
}

#[track_caller]
fn assert_met(v: &Verdict) {
    assert!(v.ok, "should be met: {v}");
}

#[track_caller]
fn assert_failed(v: &Verdict, needle: &str) {
    assert!(!v.ok, "should have failed: {v}");
    assert!(
        v.detail.contains(needle),
        "detail {:?} lacks {needle:?}",
        v.detail
    );
}

/// The value of an expression (on the 2G machine), or why it has none.
fn value(expr: &str) -> Result<i128, String> {
    let v = verdict(&format!("check {expr} == 0"), &boot_of(&[]));
    match v.detail.strip_suffix(" == 0").map(str::parse) {
        Some(Ok(x)) => Ok(x),
        _ => Err(v.detail),
    }
}

// ---------------------------------------------------------------------------------------
// The documented example, comments and the file as a whole

/// The module documentation's example (the `text` code block of expect.rs).
fn documented_example() -> String {
    let src = include_str!("../expect.rs");
    let block = src
        .split("//! ```text\n")
        .nth(1)
        .and_then(|rest| rest.split("//! ```").next())
        .expect("a ```text block in the module documentation");
    block
        .lines()
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_documented_example_parses_and_holds_on_a_good_boot() {
    let text = documented_example();
    let e = parse(&text);
    assert!(e.states_exit());
    assert!(e.needs_device_tree());
    let v = e.evaluate(&boot_from_log(SLOF_2G, exit::SUCCESS), &mut vars_2g());
    assert_eq!(v.len(), e.len(), "{v:#?}");
    for v in &v {
        // The example's counts are about `failed -1` lines, which a good boot lacks.
        assert_eq!(v.ok, !v.directive.contains("failed -1"), "{v}");
    }
}

/// A file using every directive, with what the good v4.19 boot must show.
const GOOD_BOOT: &str = r"# The default ordering on the 2018 machine (SLOF, 2G, 16M pages).
exit success                          # powered down
appear /^sparse_init: order=v4\.19 /  # timestamp stripped
absent /^Kernel panic/
count /^    ok \d+ / == 10            # the ten cases
count /^hash-mmu: / before /^sparse_init: / == 11
order                                 # lines in this order
  /^hash-mmu: translation on/
  /^sparse_init: /
end
capture /^sparse_init: .* mappings=(?P<mappings>\d+) /
check mappings == ceil_div(dt_sections * 16K, max_page_size)
each dt_memory                        # once per memory range of QEMU's tree
  appear /^  node +${node}: \[mem ${base:#018x}-${last:#018x}\]$/
end
ktap all-ok
";

#[test]
fn every_directive_holds_on_the_good_boot() {
    let e = parse(GOOD_BOOT);
    assert_eq!(e.len(), 10);
    assert!(!e.is_empty());
    assert!(e.states_exit());
    assert!(e.needs_device_tree());
    let v = e.evaluate(&boot_from_log(SLOF_2G, exit::SUCCESS), &mut vars_2g());
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    let lines: Vec<usize> = v.iter().map(|v| v.line).collect();
    assert_eq!(lines, [2, 3, 4, 5, 6, 7, 11, 12, 14, 16]);
    assert_eq!(v[3].detail, "10 lines (want == 10)");
    assert_eq!(v[4].detail, "11 lines before it (want == 11)");
    assert_eq!(v[6].detail, "mappings=1");
    assert_eq!(v[7].detail, "1 == 1");
    assert_eq!(
        v[8].directive,
        r"[dt_memory 0: 0x0-0x7fffffff node 0] appear /^  node +${node}: \[mem ${base:#018x}-${last:#018x}\]$/"
    );
    assert_eq!(v[9].detail, "10 cases ok");
}

#[test]
fn the_good_boot_expectations_fail_on_the_2018_boot() {
    let v = parse(GOOD_BOOT).evaluate(
        &boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE),
        &mut vars_2g(),
    );
    let failed: Vec<usize> = v.iter().filter(|v| !v.ok).map(|v| v.line).collect();
    // All but the capture and the node line (the excerpt starts at sparse_init).
    assert_eq!(failed, [2, 3, 4, 5, 6, 7, 12, 16]);
    assert_eq!(v[7].detail, "67 == 1");
}

#[test]
fn blank_lines_and_comments_are_not_directives() {
    let e = parse("\n# a comment\n   # an indented comment\n\t\n");
    assert!(e.is_empty());
    assert_eq!(e.len(), 0);
    assert!(!e.states_exit());
    assert!(!e.needs_device_tree());
    assert!(e.evaluate(&boot_of(&[]), &mut vars_2g()).is_empty());
}

#[test]
fn verdicts_name_file_line_and_directive_without_its_comment() {
    let v = run(
        "\n# header\nexit success   # must power down\n  absent /^Kernel panic/  # nor panic\n",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
        &mut vars_2g(),
    );
    assert_eq!(
        v,
        [
            Verdict {
                file: FILE.into(),
                line: 3,
                directive: "exit success".into(),
                ok: true,
                detail: "exit status 0".into(),
            },
            Verdict {
                file: FILE.into(),
                line: 4,
                directive: "absent /^Kernel panic/".into(),
                ok: true,
                detail: "no line matches".into(),
            },
        ]
    );
    assert_eq!(
        v[0].to_string(),
        "t.expect:3: met exit success: exit status 0"
    );
    let bad = verdict("exit failure", &boot_of(&[]));
    assert_eq!(
        bad.to_string(),
        "t.expect:1: FAILED exit failure: exit status 0"
    );
}

#[test]
fn a_hash_inside_a_pattern_is_not_a_comment() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    let v = verdict("appear /ok 1 hash_translation_on # MSR/", &boot);
    assert_met(&v);
    assert_eq!(
        v.detail,
        "    ok 1 hash_translation_on # MSR 0x8000000000002033"
    );
    // A comment may still follow the pattern.
    assert_met(&verdict(
        "appear /# MSR 0x8000000000002033$/ # the MSR # as printed",
        &boot,
    ));
    // ... and `#` stays part of a pattern in order blocks and counts.
    assert_met(&verdict(
        "order\n  /ok 1 hash_translation_on # MSR/ # first\n  /ok 3 hash_bolted_read_back # 128 of 128/\nend",
        &boot,
    ));
    assert_met(&verdict(
        "count /^    ok \\d+ \\w+ # / == 10 # cases with a diagnostic",
        &boot,
    ));
}

#[test]
fn a_comment_may_follow_a_check_with_a_division() {
    let boot = boot_of(&[]);
    let v = verdict("check memory / 2 == 1G # note", &boot);
    assert_met(&v);
    assert_eq!(v.directive, "check memory / 2 == 1G");
    assert_met(&verdict(
        "check memory / 2 == 1G # half / a note with a slash",
        &boot,
    ));
    assert_met(&verdict("check memory/2/2 == 512M", &boot));
}

#[test]
fn a_hash_must_follow_a_blank_to_start_a_comment() {
    assert_parse_err("check 1 == 1# no blank", 1, "unexpected character '#'");
    assert_parse_err(
        "appear /a/# no blank",
        1,
        "unexpected '# no blank' after the pattern",
    );
    assert_parse_err("exit success# no blank", 1, "'success#' is not success");
}

#[test]
fn count_with_a_division_but_no_comment_parses() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    assert_met(&verdict("count /^    ok / == 20 / 2", &boot));
    assert_met(&verdict("count /^    ok / == 20 / 2 / 1", &boot));
    assert_met(&verdict(
        "count /^    ok / == 10 # ten / no division",
        &boot,
    ));
}

#[test]
fn count_with_a_division_then_a_comment() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    // Today: "unexpected character '#' in an expression".
    assert_met(&verdict("count /^    ok / == 20 / 2 # ten cases", &boot));
    assert_met(&verdict("count /^    ok / == 20 / 2 #", &boot));
    assert_met(&verdict(
        "count /^    ok / before /^reboot/ == 20 / 2 # ten cases",
        &boot,
    ));
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = std::env::temp_dir().join(format!("expect-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.expect");
    std::fs::write(&good, "exit success\nappear /^reboot: Power down$/\n").unwrap();
    let e = Expectations::load(&good).unwrap();
    assert_eq!(e.file, good.display().to_string());
    assert_eq!(e.len(), 2);
    let v = e.evaluate(&boot_from_log(SLOF_2G, exit::SUCCESS), &mut vars_2g());
    assert!(v.iter().all(|v| v.ok && v.file == e.file), "{v:#?}");

    let bad = dir.join("bad.expect");
    std::fs::write(&bad, "exit success\n\nappaer /x/\n").unwrap();
    let err = Expectations::load(&bad).unwrap_err();
    assert_eq!(err.line, 3);
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: unknown directive 'appaer' (exit, appear, absent, count, order, capture, \
             check, each, ktap)",
            bad.display()
        )
    );

    let missing = dir.join("missing.expect");
    let err = Expectations::load(&missing).unwrap_err();
    assert_eq!((err.file, err.line), (missing.display().to_string(), 0));
    assert!(err.message.starts_with("cannot read: "), "{}", err.message);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn boot_from_outcome_sees_kernel_lines_without_timestamps() {
    let outcome = crate::Outcome {
        verdict: crate::Verdict::Success,
        qemu_status: Some(0),
        console: SLOF_2G.to_string(),
        stderr: String::new(),
        duration: std::time::Duration::from_secs(1),
        command: vec!["qemu-system-ppc64".into()],
        reason: "powered down".into(),
        timing: Default::default(),
        stopped: false,
    };
    let boot = Boot::from_outcome(&outcome);
    let mine = boot_from_log(SLOF_2G, exit::SUCCESS);
    assert_eq!(boot.exit, exit::SUCCESS);
    assert_eq!(boot.messages, mine.messages);
    assert_eq!(boot.ktap, mine.ktap);
    assert_eq!(
        boot.messages.first(),
        Some(
            &"sparsek version 0.1.0 (rustc 1.97.0-nightly (e50aa6fba 2026-05-19)) git 47d310aa3ba2-dirty"
        )
    );
    assert_eq!(boot.messages.last(), Some(&"reboot: Power down"));
    // Firmware chatter is not a kernel line.
    assert_met(&verdict(
        r"absent /Welcome to Open Firmware|Populating \/vdevice|Booting from memory/",
        &boot,
    ));
}

// ---------------------------------------------------------------------------------------
// Parse errors

#[test]
fn unknown_directive() {
    assert_parse_err(
        "exit success\n# comment\n\nexpect /x/",
        4,
        "unknown directive 'expect' (exit, appear, absent, count, order, capture, check, each, ktap)",
    );
    assert_parse_err("  Appear /x/", 1, "unknown directive 'Appear'");
    assert_parse_err("/x/", 1, "unknown directive '/x/'");
}

#[test]
fn pattern_syntax_errors() {
    let slashes = "expected a pattern between slashes, e.g. /^sparse_init: /";
    assert_parse_err("appear sparse_init", 1, slashes);
    assert_parse_err("absent", 1, slashes);
    assert_parse_err("\ncount == 1", 2, slashes);
    assert_parse_err("capture (?P<x>\\d+)", 1, slashes);
    assert_parse_err("appear /sparse_init", 1, "pattern not closed with '/'");
    assert_parse_err("appear /a\\/b", 1, "pattern not closed with '/'");
    assert_parse_err("appear /abc\\", 1, "pattern ends with a lone backslash");
    assert_parse_err("appear /${memory/", 1, "'${' without its '}'");
}

#[test]
fn bad_regex_is_reported_on_one_line() {
    let e = parse_err("exit success\nappear /^sparse_init: (order/");
    assert_eq!(e.line, 2);
    assert!(e.message.starts_with("bad regex: "), "{}", e.message);
    assert!(e.message.contains("unclosed group"), "{}", e.message);
    assert!(!e.message.contains('\n'), "{}", e.message);
    assert_parse_err("absent /a{2,1}/", 1, "bad regex: ");
    assert_parse_err("order\n  /a/\n  /[b/\nend", 3, "bad regex: ");
}

#[test]
fn junk_after_a_pattern() {
    assert_parse_err("appear /a/ b", 1, "unexpected 'b' after the pattern");
    assert_parse_err("absent /a/ /b/", 1, "unexpected '/b/' after the pattern");
    assert_parse_err(
        "capture /(?P<x>\\d)/ y",
        1,
        "unexpected 'y' after the pattern",
    );
    assert_parse_err(
        "order\n  /a/\n  /b/ c\nend",
        3,
        "unexpected 'c' after the pattern",
    );
}

#[test]
fn exit_errors() {
    assert_parse_err(
        "exit",
        1,
        "exit needs a status: success, failure, timeout or a number",
    );
    assert_parse_err("exit   # nothing", 1, "exit needs a status");
    assert_parse_err(
        "exit success maybe",
        1,
        "exit: 'maybe' is not success (0), failure (1) or timeout (124)",
    );
    assert_parse_err("exit 1.5", 1, "exit: '1.5' is not");
}

#[test]
fn unknown_variables() {
    let e = parse_err("check nosuch == 1");
    assert_eq!(e.line, 1);
    assert!(
        e.message.starts_with("unknown variable 'nosuch'"),
        "{}",
        e.message
    );
    // The message lists the machine's variables.
    for (name, _) in MACHINE_VARIABLES {
        assert!(e.message.contains(name), "{} lacks {name}", e.message);
    }
    assert_parse_err("count /x/ == nosuch + 1", 1, "unknown variable 'nosuch'");
    assert_parse_err("appear /x=${nosuch:#x}/", 1, "unknown variable 'nosuch'");
    // A capture's names exist only from the capture on.
    assert_parse_err(
        "check mappings == 1\ncapture /mappings=(?P<mappings>\\d+)/",
        1,
        "unknown variable 'mappings'",
    );
    // An element's names exist only inside `each`.
    assert_parse_err("appear /${base:#x}/", 1, "unknown variable 'base'");
    assert_parse_err(
        "each dt_memory\n  check size > 0\nend\ncheck size > 0",
        4,
        "unknown variable 'size'",
    );
}

#[test]
fn unknown_functions_and_wrong_arity() {
    assert_parse_err(
        "check foo(1) == 1",
        1,
        "unknown function 'foo' (ceil_div, min, max)",
    );
    assert_parse_err("check memory(1) == 1", 1, "unknown function 'memory'");
    assert_parse_err("check min(1) == 1", 1, "min takes 2 arguments, not 1");
    assert_parse_err("check max() == 1", 1, "max takes 2 arguments, not 0");
    assert_parse_err(
        "check 1 == ceil_div(1, 2, 3)",
        1,
        "ceil_div takes 2 arguments, not 3",
    );
    assert_parse_err("appear /${min(memory)}/", 1, "min takes 2 arguments, not 1");
}

#[test]
fn expression_syntax_errors() {
    assert_parse_err(
        "check memory",
        1,
        "check needs a comparison: == != < <= > >=",
    );
    assert_parse_err("check == 1", 1, "missing expression");
    assert_parse_err("check 1 ==", 1, "missing expression");
    assert_parse_err("check 1 == 2 == 3", 1, "unexpected '=='");
    assert_parse_err(
        "check 1 = 1",
        1,
        "unexpected character '=' in an expression",
    );
    assert_parse_err("check 12Q == 1", 1, "bad number '12Q'");
    assert_parse_err("check 0x == 1", 1, "bad number '0x'");
    assert_parse_err("check (1 + 2 == 3", 1, "missing ')'");
    assert_parse_err("check min(1, 2 == 1", 1, "min(: missing ')'");
    assert_parse_err("check 1 + == 1", 1, "expression ends too early");
    assert_parse_err("check 1 2 == 1", 1, "unexpected '2'");
    assert_parse_err("check * 2 == 1", 1, "unexpected '*'");
    assert_parse_err("appear /${}/", 1, "missing expression");
    assert_parse_err("count /x/", 1, "count needs a comparison after the pattern");
    assert_parse_err(
        "count /x/ 3",
        1,
        "count needs a comparison after the pattern",
    );
    assert_parse_err("count /x/ ==", 1, "missing expression");
}

#[test]
fn a_non_ascii_character_is_named_as_written() {
    assert_parse_err(
        "check smp ≥ 1",
        1,
        "unexpected character '≥' in an expression",
    );
    assert_parse_err(
        "check smp == −1",
        1,
        "unexpected character '−' in an expression",
    );
}

#[test]
fn capture_errors() {
    assert_parse_err(
        "capture /^sparse_init: .* mappings=(\\d+)/",
        1,
        "capture needs a named group, e.g. (?P<mappings>\\d+)",
    );
    assert_parse_err(
        "capture /x=(?P<memory>\\d+)/",
        1,
        "variable 'memory' is already defined",
    );
    assert_parse_err(
        "capture /a=(?P<a>\\d+)/\n\ncapture /b=(?P<b>\\d+) a=(?P<a>\\d+)/",
        3,
        "variable 'a' is already defined",
    );
    assert_parse_err(
        "capture /${memory} (?P<x>\\d+)/",
        1,
        "capture patterns cannot have ${...} holes",
    );
}

#[test]
fn format_errors() {
    let unknown = |f: &str| format!("unknown format '{f}' (x, #x, 0Nx, #0Nx, 0Nd)");
    for f in ["y", "X", "#d", "#05d", "5d", "18x", "0x", "", "x0", "0-5d"] {
        assert_parse_err(&format!("appear /${{memory:{f}}}/"), 1, &unknown(f));
    }
    // Every documented form parses.
    for f in ["x", "#x", "018x", "#018x", "05d", "d"] {
        parse(&format!("appear /${{memory:{f}}}/"));
    }
}

/// Found while adding the fuzz target `expect` (and reproduced with it): a width above
/// 65535 parsed, and evaluating the hole then panicked in Rust's formatting ("Formatting
/// argument out of range"); smaller ones made strings of any length. Now a width is at
/// most `MAX_FORMAT_WIDTH`.
#[test]
fn format_width_is_bounded() {
    for f in ["070000x", "#065536x", "099999999999999999999999d", "065d"] {
        let w = &f[f.find('0').unwrap() + 1..f.len() - 1];
        assert_parse_err(
            &format!("appear /${{memory:{f}}}/"),
            1,
            &format!("format '{f}': width {w} is more than {MAX_FORMAT_WIDTH}"),
        );
    }
    // In an `each` block and in a `count` too, on the line of the hole.
    assert_parse_err(
        "each dt_memory\n  count /${base:#070000x}/ == 1\nend",
        2,
        "width 70000 is more than 64",
    );
    // The widest allowed works.
    let boot = boot_of(&[]);
    let v = verdict("absent /^x${memory:#064x}$/", &boot);
    assert_met(&v);
    let v = verdict(
        "appear /^${memory:064d}$/",
        &boot_of(&[&format!("{:064}", 2 * G)]),
    );
    assert_met(&v);
    // Not a width at all: still an unknown format.
    for f in ["0+5d", "0 5x"] {
        assert_parse_err(
            &format!("appear /${{memory:{f}}}/"),
            1,
            &format!("unknown format '{f}'"),
        );
    }
}

#[test]
fn order_errors() {
    assert_parse_err(
        "order /a/ /b/",
        1,
        "'order' takes its patterns on the lines below",
    );
    assert_parse_err(
        "exit success\norder\n  /a/\nend",
        2,
        "'order' needs at least two patterns",
    );
    assert_parse_err("order\nend", 1, "'order' needs at least two patterns");
    assert_parse_err(
        "exit success\norder\n  /a/\n  /b/\n",
        2,
        "'order' not closed with 'end'",
    );
    assert_parse_err(
        "order\n  /a/\n  appear /b/\nend",
        3,
        "expected a pattern between slashes",
    );
}

#[test]
fn block_errors() {
    assert_parse_err("exit success\nend", 2, "'end' without 'order' or 'each'");
    assert_parse_err(
        "order\n  /a/\n  /b/\nend\nend",
        5,
        "'end' without 'order' or 'each'",
    );
    assert_parse_err(
        "each dt_memory\n  check size > 0\nend each",
        3,
        "nothing may follow 'end'",
    );
    assert_parse_err(
        "each dt_memory\n  each dt_memory\n    check size > 0\n  end\nend",
        2,
        "'each' blocks do not nest",
    );
    assert_parse_err(
        "each dt_cpus\n  check 1 == 1\nend",
        1,
        "each: unknown list 'dt_cpus' (known: dt_memory)",
    );
    assert_parse_err("each\nend", 1, "each: unknown list ''");
    assert_parse_err(
        "exit 0\neach dt_memory\n# nothing\nend",
        2,
        "empty 'each' block",
    );
}

#[test]
fn an_unclosed_each_is_reported_at_its_own_line() {
    // Like an unclosed `order`, an unclosed `each` is reported where it opens.
    assert_parse_err(
        "each dt_memory\n  check size > 0\n\n# end",
        1,
        "'each' not closed with 'end'",
    );
    // The order block inside takes the only `end`.
    assert_parse_err(
        "\neach dt_memory\n  order\n    /a/\n    /b/\n  end\n",
        2,
        "'each' not closed with 'end'",
    );
}

#[test]
fn only_line_checks_may_be_inside_each() {
    let forbidden = [
        "capture /x=(?P<x>\\d+)/",
        "exit success",
        "ktap all-ok",
        "ktap none",
        "ktap ok sparse_usemaps",
        "ktap not-ok sparse_usemaps",
    ];
    for d in forbidden {
        assert_parse_err(
            &format!("exit success\neach dt_memory\n  check size > 0\n  {d}\nend"),
            4,
            "only appear, absent, count, order and check may be inside 'each'",
        );
    }
    parse(
        "each dt_memory\n  appear /${base}/\n  absent /${end}/\n  count /${node}/ >= 0\n  \
         order\n    /${index}/\n    /${last}/\n  end\n  check size > 0\nend",
    );
}

#[test]
fn ktap_errors() {
    assert_parse_err(
        "ktap",
        1,
        "ktap: unknown '' (all-ok, ok NAME..., not-ok NAME..., none)",
    );
    assert_parse_err("ktap allok", 1, "ktap: unknown 'allok'");
    assert_parse_err("ktap all-ok hash", 1, "ktap all-ok takes no names");
    assert_parse_err("ktap none hash", 1, "ktap none takes no names");
    assert_parse_err("ktap ok", 1, "ktap ok needs test names (suite.case)");
    assert_parse_err("ktap not-ok  # none", 1, "ktap not-ok needs test names");
}

// ---------------------------------------------------------------------------------------
// exit

#[test]
fn exit_success_and_failure() {
    let good = boot_from_log(SLOF_2G, exit::SUCCESS);
    let bad = boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE);
    let v = verdict("exit success", &good);
    assert_met(&v);
    assert_eq!(v.detail, "exit status 0");
    assert_failed(&verdict("exit success", &bad), "exit status 1");
    assert_met(&verdict("exit failure", &bad));
    assert_failed(&verdict("exit failure", &good), "exit status 0");
}

#[test]
fn exit_takes_several_statuses_and_numbers() {
    let at = |code| Boot {
        exit: code,
        messages: Vec::new(),
        ktap: crate::ktap::parse(""),
    };
    let e = parse("exit failure timeout");
    for (code, ok) in [(0, false), (1, true), (4, false), (124, true)] {
        let v = e.evaluate(&at(code), &mut vars_2g());
        assert_eq!(v[0].ok, ok, "{}", v[0]);
        assert_eq!(v[0].detail, format!("exit status {code}"));
    }
    // Only the statuses a judged boot can have (a QEMU error is never judged).
    assert_parse_err("exit 4", 1, "exit: '4' is not success (0)");
    assert_parse_err("exit 0 2", 1, "exit: '2'");
    assert_met(&verdict("exit 124", &at(exit::TIMEOUT)));
    assert_met(&verdict("exit timeout", &at(124)));
    assert_failed(&verdict("exit 0 1", &at(124)), "exit status 124");
}

// ---------------------------------------------------------------------------------------
// appear, absent, count

#[test]
fn appear_met_with_the_line_found() {
    let v = verdict(
        r"appear /^sparse_init: order=v4\.19 /",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
    );
    assert_met(&v);
    assert!(
        v.detail
            .starts_with("sparse_init: order=v4.19 sections=128 "),
        "{}",
        v.detail
    );
    // Timestamps are stripped: `^` anchors at the message.
    assert_met(&verdict(
        "appear /^reboot: Power down$/",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
    ));
}

#[test]
fn appear_failed_names_the_pattern() {
    let v = verdict(
        r"appear /^sparse_init: order=v4\.19 /",
        &boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE),
    );
    assert_failed(&v, r"no line matches ^sparse_init: order=v4\.19 ");
    // A timestamp is not part of a message.
    assert_failed(
        &verdict(r"appear /^\[ *0\.\d+\] reboot/", &boot_from_log(SLOF_2G, 0)),
        "no line matches",
    );
}

#[test]
fn absent_met_and_failed_with_the_line_found() {
    let v = verdict("absent /^Kernel panic/", &boot_from_log(SLOF_2G, 0));
    assert_met(&v);
    assert_eq!(v.detail, "no line matches");
    let v = verdict("absent /^Kernel panic/", &boot_from_log(SLOF_MMOTM, 1));
    assert_failed(
        &v,
        "found: Kernel panic - not syncing: 5 boot self-check(s) failed",
    );
    let v = verdict("absent /panic/", &boot_from_log(VOF_64K_MMOTM, 1));
    assert_eq!(
        v.detail,
        "found: Kernel panic - not syncing: 3 boot self-check(s) failed"
    );
}

#[test]
fn count_with_every_comparison() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    // The suites' ten cases (the suites' own results are not indented).
    let cases = "count /^    ok \\d+ /";
    for (cmp, ok) in [
        ("== 10", true),
        ("== 9", false),
        ("!= 9", true),
        ("!= 10", false),
        ("< 11", true),
        ("< 10", false),
        ("<= 10", true),
        ("<= 9", false),
        ("> 9", true),
        ("> 10", false),
        (">= 10", true),
        (">= 11", false),
    ] {
        let v = verdict(&format!("{cases} {cmp}"), &boot);
        assert_eq!(v.ok, ok, "{v}");
        assert_eq!(v.detail, format!("10 lines (want {cmp})"));
    }
}

#[test]
fn count_against_expressions() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    assert_met(&verdict("count /^hash-mmu: base_shift=/ == 5", &boot));
    assert_met(&verdict("count /^    ok / == smp * 10", &boot));
    assert_met(&verdict("count /^ok \\d+ / == max(numa_nodes, 2)", &boot));
    assert_met(&verdict("count /^Kernel panic/ == 0", &boot));
    let v = verdict("count /^    not ok / == 0", &boot_from_log(SLOF_MMOTM, 1));
    assert_failed(&v, "5 lines (want == 0)");
    let v = verdict(
        "count /^    not ok / <= 2",
        &boot_from_log(VOF_64K_MMOTM, 1),
    );
    assert_failed(&v, "3 lines (want <= 2)");
}

#[test]
fn count_before_counts_only_lines_before_the_first_match() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    // One more hash-mmu line (the H_ENTER statistics) follows sparse_init.
    assert_met(&verdict("count /^hash-mmu: / == 12", &boot));
    let v = verdict("count /^hash-mmu: / before /^sparse_init: / == 11", &boot);
    assert_met(&v);
    assert_eq!(v.detail, "11 lines before it (want == 11)");
    let v = verdict("count /^hash-mmu: / before /^sparse_init: / > 11", &boot);
    assert_failed(&v, "11 lines before it (want > 11)");
    // The first match of the second pattern ends the count ...
    assert_met(&verdict(
        "count /^    ok / before /^    KTAP version 1$/ == 0",
        &boot,
    ));
    assert_met(&verdict("count /^    ok / before /^ok \\d+ / == 3", &boot));
    // ... and is not counted itself.
    assert_met(&verdict(
        "count /^sparse_init: / before /^sparse_init: / == 0",
        &boot,
    ));
    let v = verdict(
        "count /^    not ok / before /^Kernel panic/ == 5 # all before the panic",
        &boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE),
    );
    assert_met(&v);
}

#[test]
fn count_before_fails_when_the_second_pattern_matches_nothing() {
    let v = verdict(
        "count /^hash-mmu: / before /failed -1$/ >= 0",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
    );
    assert_failed(&v, "no line matches failed -1$");
}

#[test]
fn count_before_with_holes_in_each() {
    let lines = node_lines(&[(0, G, 0), (G, 2 * G, 1)]);
    let boot = boot_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let v = run(
        "each dt_memory\n  count /^  node / before /^  node +${node}: \\[mem ${base:#018x}-/ == index\nend",
        &boot,
        &mut vars_two_nodes(),
    );
    assert_eq!(v.len(), 2);
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    assert_eq!(v[1].detail, "1 lines before it (want == 1)");
}

#[test]
fn count_before_errors() {
    let slashes = "expected a pattern between slashes";
    assert_parse_err("count /a/ before == 1", 1, slashes);
    assert_parse_err("count /a/ before", 1, slashes);
    assert_parse_err("count /a/ before /b", 1, "pattern not closed with '/'");
    assert_parse_err("count /a/ before /(b/ == 1", 1, "bad regex: ");
    assert_parse_err(
        "count /a/ before /b/",
        1,
        "count needs a comparison after the pattern",
    );
    assert_parse_err("count /a/ before /b/ c == 1", 1, "count needs a comparison");
    assert_parse_err("count /a/ after /b/ == 1", 1, "count needs a comparison");
    assert_parse_err(
        "count /a/ before /${nosuch}/ == 1",
        1,
        "unknown variable 'nosuch'",
    );
}

#[test]
fn a_failing_expression_fails_its_directive() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    let v = verdict("count /^    ok / == 10 / numa_nodes", &boot);
    assert_failed(&v, "division by zero");
    // Without QEMU's tree the dt_* variables have no value.
    let mut no_dt = Vars::for_machine(&Machine::default(), None);
    let v = run("check dt_sections == 128", &boot, &mut no_dt);
    assert_failed(&v[0], "variable 'dt_sections' has no value");
}

// ---------------------------------------------------------------------------------------
// order

#[test]
fn order_met_gives_the_kernel_lines() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    let v = verdict(
        "order\n  /^hash-mmu: translation on/\n\n  # the sparse model\n  /^sparse_init: /\n  \
         /^KTAP version 1$/\n  /^reboot: Power down$/ # last\nend # order",
        &boot,
    );
    assert_met(&v);
    assert_eq!(v.line, 1);
    assert_eq!(v.directive, "order");
    let at = |p: &str| boot.messages.iter().position(|m| m.starts_with(p)).unwrap() + 1;
    let want = [
        at("hash-mmu: translation on"),
        at("sparse_init: "),
        at("KTAP version 1"),
        at("reboot: Power down"),
    ];
    assert_eq!(want, [25, 26, 35, 56]);
    assert_eq!(v.detail, format!("in order at kernel lines {want:?}"));
}

#[test]
fn order_failed_when_out_of_order() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    let v = verdict(
        "order\n  /^sparse_init: /\n  /^hash-mmu: translation on/\nend",
        &boot,
    );
    assert_failed(
        &v,
        "line 3's pattern ^hash-mmu: translation on matches only before the previous one",
    );
}

#[test]
fn order_failed_when_a_pattern_matches_nothing() {
    let v = verdict(
        "order\n  /^sparse_init: /\n  /^KTAP version 1$/\n  /^reboot: Power down$/\nend",
        &boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE),
    );
    assert_failed(&v, "line 4's pattern ^reboot: Power down$ matches no line");
}

#[test]
fn order_needs_distinct_lines_for_repeated_patterns() {
    let boot = boot_of(&["a", "b", "a"]);
    assert_met(&verdict("order\n/a/\n/b/\n/a/\nend", &boot));
    assert_failed(
        &verdict("order\n/b/\n/b/\nend", &boot),
        "line 3's pattern b matches only before the previous one",
    );
    let v = verdict("order\n/a/\n/a/\nend", &boot);
    assert_eq!(v.detail, "in order at kernel lines [1, 3]");
}

// ---------------------------------------------------------------------------------------
// capture and check

/// Every number of the `sparse_init:` line.
const SPARSE_INIT: &str = r"capture /^sparse_init: order=\S+ sections=(?P<sections>\d+) nodes=(?P<nodes>\d+) vmemmap_pages=(?P<vmemmap_pages>\d+) psize=(?P<psize>\d+[KM]) mappings=(?P<mappings>\d+) map_failures=(?P<map_failures>\d+) unbacked_sections=(?P<unbacked>\d+) memmap=(?P<memmap>\d+K) usemap=(?P<usemap>\d+B) /
";

/// What the `sparse_init:` line must say when the vmemmap is mapped right.
const SPARSE_CHECKS: &str = "check sections == dt_sections
check vmemmap_pages == ceil_div(dt_sections * 16K, max_page_size)
check mappings == vmemmap_pages
check map_failures == 0
check unbacked == 0
check psize == max_page_size
check memmap == vmemmap_pages * max_page_size
";

#[test]
fn capture_the_sparse_init_line_and_check_it() {
    let mut vars = vars_2g();
    let v = run(
        &format!("{SPARSE_INIT}{SPARSE_CHECKS}"),
        &boot_from_log(SLOF_2G, exit::SUCCESS),
        &mut vars,
    );
    assert_eq!(
        v[0].detail,
        "sections=128 nodes=1 vmemmap_pages=1 psize=16777216 mappings=1 map_failures=0 \
         unbacked=0 memmap=16777216 usemap=1024"
    );
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    assert_eq!(v[2].detail, "1 == 1");
    // Captures stay in the variables.
    assert_eq!(vars.get("mappings"), Some(1));
    assert_eq!(vars.get("usemap"), Some(1024));
    assert_eq!(vars.get("memmap"), Some(16 << 20));
}

#[test]
fn capture_and_check_on_the_2018_boot_with_16m_pages() {
    let v = run(
        &format!("{SPARSE_INIT}{SPARSE_CHECKS}"),
        &boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE),
        &mut vars_2g(),
    );
    let report: Vec<(bool, &str)> = v.iter().map(|v| (v.ok, v.detail.as_str())).collect();
    assert_eq!(
        report,
        [
            (
                true,
                "sections=128 nodes=1 vmemmap_pages=126 psize=16777216 mappings=67 \
                 map_failures=59 unbacked=61 memmap=2113929216 usemap=1024"
            ),
            (true, "128 == 128"),
            (false, "126 == 1"),
            (false, "67 == 126"),
            (false, "59 == 0"),
            (false, "61 == 0"),
            (true, "16777216 == 16777216"),
            (true, "2113929216 == 2113929216"),
        ]
    );
}

#[test]
fn capture_and_check_on_the_2018_boot_with_64k_pages() {
    let v = run(
        &format!("{SPARSE_INIT}{SPARSE_CHECKS}"),
        &boot_from_log(VOF_64K_MMOTM, exit::KERNEL_FAILURE),
        &mut vars_2g_64k(),
    );
    let failed: Vec<&str> = v
        .iter()
        .filter(|v| !v.ok)
        .map(|v| v.detail.as_str())
        .collect();
    // 128 pages of 64K where 32 do: each 64K page mapped four times, but no map failures.
    assert_eq!(failed, ["128 == 32"]);
    assert_eq!(v[1].line, 2);
    // The same numbers against the 16M machine's variables fail differently.
    let v = run(
        &format!("{SPARSE_INIT}{SPARSE_CHECKS}"),
        &boot_from_log(VOF_64K_MMOTM, exit::KERNEL_FAILURE),
        &mut vars_2g(),
    );
    let failed: Vec<&str> = v
        .iter()
        .filter(|v| !v.ok)
        .map(|v| v.detail.as_str())
        .collect();
    assert_eq!(
        failed,
        ["128 == 1", "65536 == 16777216", "8388608 == 2147483648"]
    );
}

#[test]
fn capture_failed_when_no_line_matches_and_later_uses_fail_too() {
    // The VOF debug excerpt starts after sparse_init.
    let mut vars = vars_2g();
    let v = run(
        "capture /^sparse_init: .* mappings=(?P<mappings>\\d+) /\ncheck mappings == 1\n\
         appear /mappings=${mappings}/",
        &boot_from_log(VOF_2G_DEBUG, exit::SUCCESS),
        &mut vars,
    );
    assert_failed(&v[0], "no line matches");
    assert_failed(&v[1], "variable 'mappings' has no value");
    assert_failed(&v[2], "variable 'mappings' has no value");
    assert_eq!(vars.get("mappings"), None);
}

#[test]
fn capture_failed_when_a_group_does_not_take_part() {
    let v = verdict(
        r"capture /^reboot: Power down(?: after (?P<secs>\d+)s)?$/",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
    );
    assert_failed(
        &v,
        "group 'secs' did not take part in the match: reboot: Power down",
    );
}

#[test]
fn capture_failed_when_a_group_is_not_a_number() {
    let v = verdict(
        r"capture /^sparse_init: order=(?P<order>\S+) /",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
    );
    assert_failed(
        &v,
        "order: 'v4.19' is not a number: sparse_init: order=v4.19 ",
    );
}

#[test]
fn captured_values_fill_later_holes() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    let v = run(
        "capture /^hash-mmu: linear mapping: (?P<bolted>\\d+) bolted/\n\
         appear /^    ok 3 hash_bolted_read_back # ${bolted} of ${bolted} bolted/\n\
         check bolted * 16M == memory\n",
        &boot,
        &mut vars_2g(),
    );
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    assert_eq!(v[0].detail, "bolted=128");
}

#[test]
fn check_with_every_comparison() {
    let boot = boot_of(&[]);
    for (cmp, ok) in [
        ("memory == 2G", true),
        ("memory != 2G", false),
        ("smp < 2", true),
        ("smp < 1", false),
        ("smp <= 1", true),
        ("smp <= 0", false),
        ("max_page_size > 64K", true),
        ("max_page_size > 16M", false),
        ("hpt_16m >= 1", true),
        ("numa_nodes >= 1", false),
    ] {
        let v = verdict(&format!("check {cmp}"), &boot);
        assert_eq!(v.ok, ok, "{v}");
    }
    assert_failed(
        &verdict("check memory != 2G", &boot),
        "2147483648 != 2147483648",
    );
    assert_failed(&verdict("check numa_nodes >= 1", &boot), "0 >= 1");
}

// ---------------------------------------------------------------------------------------
// Expressions and numbers

#[test]
fn parse_number_decimal_hex_and_suffixes() {
    let cases: &[(&str, i128)] = &[
        ("0", 0),
        ("42", 42),
        ("007", 7),
        ("0x0", 0),
        ("0x7fffffff", 0x7fff_ffff),
        ("0xDEADbeef", 0xdead_beef),
        ("0xf000000000000007", 0xf000_0000_0000_0007),
        ("16K", 16 << 10),
        ("16M", 16 << 20),
        ("2G", 2 << 30),
        ("1T", 1 << 40),
        ("1024B", 1024),
        ("2064384K", 2_064_384 << 10),
        (I128_MAX, i128::MAX),
    ];
    for &(s, want) in cases {
        assert_eq!(parse_number(s), Some(want), "{s}");
    }
}

#[test]
fn parse_number_rejects_garbage() {
    for s in [
        "",
        "K",
        "B",
        "0x",
        "0xK",
        "0x10K",
        "0xg",
        "12a",
        "--1",
        "-",
        "+1",
        " 1",
        "1 ",
        "1.5",
        "1KB",
        "1k",
        "1_000",
        "0x-1",
        "1e3",
        "0b101",
        "٣",
        // Too big for i128, as written or once scaled.
        "170141183460469231731687303715884105728",
        "170141183460469231731687303715884105727T",
    ] {
        assert_eq!(parse_number(s), None, "{s:?}");
    }
}

#[test]
fn parse_number_hex_ending_in_b() {
    assert_eq!(parse_number("0xB"), Some(0xb));
    assert_eq!(parse_number("0x1B"), Some(0x1b));
    assert_eq!(parse_number("0xAB"), Some(0xab));
    assert_eq!(value("0x1B"), Ok(27));
}

#[test]
fn numbers_in_expressions() {
    assert_eq!(value("16K"), Ok(16384));
    assert_eq!(value("0x10"), Ok(16));
    assert_eq!(value("2G / 16M"), Ok(128));
    assert_eq!(value("1T / 1G"), Ok(1024));
    assert_eq!(value("0x1000000 * 2"), Ok(32 << 20));
    assert_eq!(value("memory"), Ok(2 << 30));
}

#[test]
fn precedence_and_associativity() {
    let cases: &[(&str, i128)] = &[
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("2 * 3 + 4", 10),
        ("10 - 4 - 3", 3),
        ("10 - (4 - 3)", 9),
        ("100 / 10 / 5", 2),
        ("100 / (10 / 5)", 50),
        ("7 % 4", 3),
        ("1 + 7 % 4 * 2", 7),
        ("1 + 2 * 3 - 8 / 4", 5),
        ("((((1))))", 1),
        ("2*3+4*5", 26),
    ];
    for &(e, want) in cases {
        assert_eq!(value(e), Ok(want), "{e}");
    }
}

#[test]
fn unary_minus() {
    let cases: &[(&str, i128)] = &[
        ("-3", -3),
        ("-3 + 5", 2),
        ("--3", 3),
        ("-(2 + 3) * 2", -10),
        ("2 * -3", -6),
        ("2 - -3", 5),
        ("-memory / 2", -(1 << 30)),
        // Division truncates toward zero.
        ("-7 / 2", -3),
        ("-7 % 2", -1),
    ];
    for &(e, want) in cases {
        assert_eq!(value(e), Ok(want), "{e}");
    }
}

#[test]
fn functions() {
    let cases: &[(&str, i128)] = &[
        ("ceil_div(2M, 16M)", 1),
        ("ceil_div(16M, 16M)", 1),
        ("ceil_div(16M + 1, 16M)", 2),
        ("ceil_div(0, 5)", 0),
        ("ceil_div(-7, 2)", -3),
        ("ceil_div(2M, 64K)", 32),
        ("min(3, -4)", -4),
        ("max(3, -4)", 3),
        ("max(min(1, 2), ceil_div(9, 4))", 3),
        ("min(memory, 1G) + max(smp, 4)", (1 << 30) + 4),
        ("2 * ceil_div(dt_sections * 16K, max_page_size)", 2),
    ];
    for &(e, want) in cases {
        assert_eq!(value(e), Ok(want), "{e}");
    }
}

#[test]
fn division_by_zero_fails_the_check() {
    assert_eq!(value("1 / 0"), Err("division by zero".into()));
    assert_eq!(value("1 % 0"), Err("division by zero".into()));
    assert_eq!(value("memory / numa_nodes"), Err("division by zero".into()));
    assert_eq!(value("ceil_div(1, 0)"), Err("ceil_div by zero".into()));
    assert_eq!(
        value("ceil_div(1, smp - 1)"),
        Err("ceil_div by zero".into())
    );
    let v = verdict("check 1 / 0 == 0", &boot_of(&[]));
    assert_failed(&v, "division by zero");
    // In a hole too.
    let v = verdict("appear /${memory / numa_nodes}/", &boot_of(&["1"]));
    assert_failed(&v, "division by zero");
}

/// Found while adding the fuzz target: parsing (and evaluating, printing and dropping)
/// an expression recursed once per nesting level or chained operator, so a line of a
/// few thousand `(` or `-` or `1 +` overflowed the stack (a crash, not an error). Now an
/// expression has at most `MAX_EXPRESSION_TOKENS` tokens.
#[test]
fn deep_expressions_are_errors() {
    let deep = 100_000;
    let too_long = |n: usize| format!("expression too long: {n} tokens (at most 256)");
    let parens = format!("{}1{}", "(".repeat(deep), ")".repeat(deep));
    assert_parse_err(&format!("check {parens} == 1"), 1, &too_long(2 * deep + 1));
    let negs = format!("{}1", "-".repeat(deep));
    assert_parse_err(
        &format!("exit 0\ncheck 1 == {negs}"),
        2,
        &too_long(deep + 1),
    );
    let chain = format!("1{}", " + 1".repeat(deep));
    assert_parse_err(&format!("count /x/ >= {chain}"), 1, &too_long(2 * deep + 1));
    assert_parse_err(
        &format!("appear /${{{chain}}}/"),
        1,
        &too_long(2 * deep + 1),
    );
    assert_parse_err(
        &format!("check min({parens}, 1) == 1"),
        1,
        &too_long(2 * deep + 6),
    );
    // 256 tokens are fine, nested as deep as they allow.
    let nested = format!("{}1{}", "(".repeat(127), ")".repeat(127));
    assert_eq!(value(&nested), Ok(1));
    let chain = format!("1{}", " + 1".repeat(127));
    assert_eq!(value(&chain), Ok(128));
    assert_parse_err(&format!("check {chain} + 1 == 0"), 1, &too_long(257));
}

#[test]
fn overflow_fails_the_check() {
    let overflow = Err("arithmetic overflow".to_string());
    assert_eq!(value(&format!("{I128_MAX} + 1")), overflow);
    assert_eq!(value(&format!("-{I128_MAX} - 2")), overflow);
    assert_eq!(value(&format!("{I128_MAX} * 2")), overflow);
    assert_eq!(value(&format!("-{I128_MAX} - 1")), Ok(i128::MIN));
}

#[test]
fn overflow_in_negation_division_and_ceil_div() {
    let overflow = Err("arithmetic overflow".to_string());
    let min = format!("(-{I128_MAX} - 1)");
    assert_eq!(value(&format!("-{min}")), overflow);
    assert_eq!(value(&format!("{min} / -1")), overflow);
    // The exact answer, 2^126, fits.
    assert_eq!(value(&format!("ceil_div({I128_MAX}, 2)")), Ok(1 << 126));
}

#[test]
fn ceil_div_with_a_negative_divisor() {
    // ceil(7 / -2) = ceil(-3.5) = -3; ceil(-7 / -2) = ceil(3.5) = 4.
    assert_eq!(value("ceil_div(7, -2)"), Ok(-3));
    assert_eq!(value("ceil_div(-7, -2)"), Ok(4));
}

// ---------------------------------------------------------------------------------------
// Patterns: escapes and holes

#[test]
fn escaped_slashes_and_backslashes() {
    let boot = boot_of(&["root=/dev/vda ro", "C:\\", "42 words"]);
    assert_met(&verdict(r"appear /^root=\/dev\/vda ro$/", &boot));
    assert_met(&verdict(
        r"appear /^C:\\$/ # a backslash ends the line",
        &boot,
    ));
    // Other escapes reach the regex as written.
    assert_met(&verdict(r"appear /^\d+ \w+$/", &boot));
    let v = verdict(r"appear /^\/dev/", &boot);
    assert_failed(&v, "no line matches ^/dev");
}

#[test]
fn holes_with_every_format() {
    let m = Machine {
        memory: 0x4000_0000 + 0x0123_4567,
        ..Machine::default()
    };
    let mut vars = Vars::for_machine(&m, None);
    assert_eq!(m.memory, 1_092_830_567);
    let line = "memory 1092830567 0x41234567 41234567 0x0000000041234567 0000041234567 \
                0000000041234567 01092830567 smp 00001";
    let v = run(
        "appear /^memory ${memory} ${memory:#x} ${memory:x} ${memory:#018x} \
         ${memory:013x} ${memory:016x} ${memory:011d} smp ${smp:05d}$/",
        &boot_of(&[line]),
        &mut vars,
    );
    assert_met(&v[0]);
    // Narrower widths than the value do not cut it.
    let v = run(
        "appear /^memory ${memory:02d} /",
        &boot_of(&[line]),
        &mut vars,
    );
    assert_met(&v[0]);
    let v = run(
        "appear /^memory ${memory:#04x} /",
        &boot_of(&[line]),
        &mut vars,
    );
    assert_failed(&v[0], "no line matches ^memory 0x41234567 ");
}

#[test]
fn holes_may_divide_and_call_functions() {
    let boot = boot_from_log(SLOF_2G, exit::SUCCESS);
    assert_met(&verdict(
        "appear /^hash-mmu: linear mapping: ${memory / 16M} bolted 16M pages in 1T segments \\(${memory / 1M} MiB\\)$/",
        &boot,
    ));
    assert_met(&verdict(
        "appear /^sparse_init: .* vmemmap_pages=${ceil_div(dt_sections * 16K, max_page_size)} /",
        &boot,
    ));
    assert_met(&verdict(
        "appear /rounded up to ${ceil_div(dt_sections * 16K, max_page_size)} vmemmap pages of 16M = ${max_page_size / 1K} KiB$/ # note / slash",
        &boot,
    ));
}

#[test]
fn hole_values_are_matched_literally() {
    // A negative value's '-' is escaped, not a regex operator.
    let boot = boot_of(&["delta -1", "x{2}"]);
    assert_met(&verdict("appear /^delta ${0 - 1}$/", &boot));
    // Holes fill in repetition counts.
    assert_met(&verdict("appear /^x\\{${smp + 1}\\}$/", &boot));
    // A substituted value that makes the regex invalid fails the directive (the file
    // was checked with every hole set to 0).
    let v = verdict("appear /^x{${0 - 1}}/", &boot);
    assert_failed(&v, "bad regex after substitution");
}

// ---------------------------------------------------------------------------------------
// each dt_memory

/// The kernel's `Early memory node ranges` lines for `ranges`.
fn node_lines(ranges: &[(u64, u64, u32)]) -> Vec<String> {
    let mut out = vec!["Early memory node ranges".to_string()];
    for &(base, end, node) in ranges {
        out.push(format!(
            "  node {node:>3}: [mem {base:#018x}-{:#018x}]",
            end - 1
        ));
    }
    out
}

const NODE_LINE: &str = r"appear /^  node +${node}: \[mem ${base:#018x}-${last:#018x}\]$/";

#[test]
fn each_dt_memory_over_two_nodes() {
    let ranges = [(0, G, 0), (G, 2 * G, 1)];
    let lines = node_lines(&ranges);
    let boot = boot_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let v = run(
        &format!("exit success\neach dt_memory\n  {NODE_LINE}\n  check size == 1G\nend\n"),
        &boot,
        &mut vars_two_nodes(),
    );
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    let got: Vec<(usize, &str, &str)> = v
        .iter()
        .map(|v| (v.line, v.directive.as_str(), v.detail.as_str()))
        .collect();
    let node_line = NODE_LINE;
    assert_eq!(
        got,
        [
            (1, "exit success", "exit status 0"),
            (
                3,
                &*format!("[dt_memory 0: 0x0-0x3fffffff node 0] {node_line}"),
                "  node   0: [mem 0x0000000000000000-0x000000003fffffff]"
            ),
            (
                4,
                "[dt_memory 0: 0x0-0x3fffffff node 0] check size == 1G",
                "1073741824 == 1073741824"
            ),
            (
                3,
                &*format!("[dt_memory 1: 0x40000000-0x7fffffff node 1] {node_line}"),
                "  node   1: [mem 0x0000000040000000-0x000000007fffffff]"
            ),
            (
                4,
                "[dt_memory 1: 0x40000000-0x7fffffff node 1] check size == 1G",
                "1073741824 == 1073741824"
            ),
        ]
    );
}

#[test]
fn each_dt_memory_fails_per_element() {
    // The kernel printed node 0 only.
    let lines = node_lines(&[(0, G, 0)]);
    let boot = boot_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let v = run(
        &format!("each dt_memory\n  {NODE_LINE}\nend"),
        &boot,
        &mut vars_two_nodes(),
    );
    assert_eq!(v.len(), 2);
    assert_met(&v[0]);
    assert_failed(
        &v[1],
        r"no line matches ^  node +1: \[mem 0x0000000040000000-0x000000007fffffff\]$",
    );
    assert!(
        v[1].directive
            .starts_with("[dt_memory 1: 0x40000000-0x7fffffff node 1] ")
    );
}

#[test]
fn each_dt_memory_element_variables() {
    let ranges = [(0, 24 * M, 0), (32 * M, 0x1_0000_0000, 3)];
    let lines: Vec<String> = ranges
        .iter()
        .enumerate()
        .map(|(i, &(base, end, node))| {
            format!(
                "range {i}: base={base:x} end={end:#x} last={:#018x} size={:05} node={node:03} \
                 sections={}",
                end - 1,
                (end - base) / M,
                (end - base).div_ceil(16 * M)
            )
        })
        .collect();
    let boot = boot_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let mut vars = Vars::for_machine(&Machine::default(), Some(ranges.to_vec()));
    let v = run(
        "each dt_memory\n  appear /^range ${index}: base=${base:x} end=${end:#x} \
         last=${last:#018x} size=${size / 1M:05d} node=${node:03d} \
         sections=${ceil_div(size, 16M)}$/\n  \
         check last == end - 1\n  check index < dt_ranges\n  check end <= dt_end\nend",
        &boot,
        &mut vars,
    );
    assert_eq!(v.len(), 8);
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    assert_eq!(v[0].detail, lines[0]);
    assert_eq!(v[4].detail, lines[1]);
    assert_eq!(
        lines[1],
        "range 1: base=2000000 end=0x100000000 last=0x00000000ffffffff size=04064 node=003 \
         sections=254"
    );
    // The element's variables do not leak out of the block.
    assert_eq!(vars.get("base"), None);
}

#[test]
fn each_dt_memory_with_count_absent_and_order() {
    let ranges = [(0, G, 0), (G, 2 * G, 1)];
    let lines = node_lines(&ranges);
    let boot = boot_of(&lines.iter().map(String::as_str).collect::<Vec<_>>());
    let v = run(
        r"each dt_memory   # every range
  count /^  node +${node}: / == 1
  absent /\[mem ${base:#018x}-${end:#018x}\]/   # end is exclusive
  order
    /^Early memory node ranges$/
    /^  node +${node}: \[mem ${base:#018x}-/
  end
  check base % 16M == 0
end
",
        &boot,
        &mut vars_two_nodes(),
    );
    assert_eq!(v.len(), 8);
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    assert_eq!(v[2].directive, "[dt_memory 0: 0x0-0x3fffffff node 0] order");
    assert_eq!(v[6].detail, "in order at kernel lines [1, 3]");
}

#[test]
fn each_dt_memory_without_a_tree_or_memory() {
    let e = parse(&format!(
        "each dt_memory\n  {NODE_LINE}\n  check size > 0\nend"
    ));
    let boot = boot_of(&[]);
    let v = e.evaluate(&boot, &mut Vars::for_machine(&Machine::default(), None));
    assert_eq!(v.len(), 1);
    assert_failed(&v[0], "QEMU's device tree was not dumped");
    assert_eq!((v[0].line, v[0].directive.as_str()), (1, "each dt_memory"));
    let v = e.evaluate(
        &boot,
        &mut Vars::for_machine(&Machine::default(), Some(vec![])),
    );
    assert_eq!(v.len(), 1);
    assert_failed(&v[0], "QEMU's device tree has no memory");
}

// ---------------------------------------------------------------------------------------
// ktap

/// Two suites with a case of the same name; `b.same` fails, `b.skipped` is skipped.
const TWO_SUITES: &str = "KTAP version 1
1..2
    KTAP version 1
    # Subtest: a
    1..2
    ok 1 same
    ok 2 only_a
ok 1 a
    KTAP version 1
    # Subtest: b
    1..2
    not ok 1 same # broken
    ok 2 skipped # SKIP not here
not ok 2 b
";

#[test]
fn ktap_all_ok() {
    let v = verdict("ktap all-ok", &boot_from_log(SLOF_2G, exit::SUCCESS));
    assert_met(&v);
    assert_eq!(v.detail, "10 cases ok");
    assert_met(&verdict(
        "ktap all-ok",
        &boot_from_log(VOF_2G_DEBUG, exit::SUCCESS),
    ));
    let v = verdict(
        "ktap all-ok",
        &boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE),
    );
    assert_failed(
        &v,
        "not ok: sparse.sparse_sections_valid # section 8 [mem 0x0000000008000000-0x0000000008ffffff]",
    );
    for case in [
        "sparse.sparse_vmemmap_mapped_once",
        "sparse.sparse_usemaps",
        "sparse.sparse_pfn_round_trip",
        "sparse.sparse_memmap_size",
    ] {
        assert!(v.detail.contains(case), "{} lacks {case}", v.detail);
    }
    assert!(!v.detail.contains("sparse_struct_pages"), "{}", v.detail);
    // A skipped case is not ok.
    assert_failed(
        &verdict("ktap all-ok", &boot_with_ktap(TWO_SUITES)),
        "b.skipped # SKIP",
    );
}

#[test]
fn ktap_all_ok_without_a_document() {
    let v = verdict("ktap all-ok", &boot_of(&["no self-checks"]));
    assert_failed(&v, "KTAP: no 'KTAP version' line");
}

#[test]
fn ktap_ok_names() {
    let boot = boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE);
    let v = verdict(
        "ktap ok hash.hash_translation_on sparse_struct_pages sparse.sparse_vmemmap_backings",
        &boot,
    );
    assert_met(&v);
    assert_eq!(v.detail, "3 named cases ok");
    let v = verdict(
        "ktap ok sparse_struct_pages sparse.sparse_usemaps sparse_memmap_size",
        &boot,
    );
    assert_failed(
        &v,
        "not ok: sparse.sparse_usemaps sparse.sparse_memmap_size",
    );
    assert_failed(
        &verdict("ktap ok a.same b.skipped", &boot_with_ktap(TWO_SUITES)),
        "not ok: b.skipped",
    );
}

#[test]
fn ktap_not_ok_is_the_exact_failure_set() {
    let slof = boot_from_log(SLOF_MMOTM, exit::KERNEL_FAILURE);
    let v = verdict(
        "ktap not-ok sparse_sections_valid sparse.sparse_vmemmap_mapped_once sparse_usemaps \
         sparse_pfn_round_trip sparse_memmap_size",
        &slof,
    );
    assert_met(&v);
    assert_eq!(v.detail, "exactly these 5 of 10 cases not ok");

    let vof = boot_from_log(VOF_64K_MMOTM, exit::KERNEL_FAILURE);
    assert_met(&verdict(
        "ktap not-ok sparse.sparse_vmemmap_mapped_once sparse_pfn_round_trip sparse_memmap_size",
        &vof,
    ));
    // Unexpected failures and named cases that passed are both reported.
    let v = verdict(
        "ktap not-ok sparse_vmemmap_mapped_once sparse_usemaps",
        &vof,
    );
    assert_failed(
        &v,
        "not ok but not named: [sparse.sparse_memmap_size sparse.sparse_pfn_round_trip]; \
         named but ok: [sparse.sparse_usemaps]",
    );
    // On a good boot every named case is ok.
    let v = verdict(
        "ktap not-ok sparse_usemaps",
        &boot_from_log(SLOF_2G, exit::SUCCESS),
    );
    assert_failed(
        &v,
        "not ok but not named: []; named but ok: [sparse.sparse_usemaps]",
    );
    // A skipped case counts as not ok.
    assert_met(&verdict(
        "ktap not-ok b.same skipped",
        &boot_with_ktap(TWO_SUITES),
    ));
}

#[test]
fn ktap_names_resolve_by_path_or_unique_last_component() {
    let boot = boot_with_ktap(TWO_SUITES);
    assert_met(&verdict("ktap ok a.same only_a a.only_a", &boot));
    assert_failed(
        &verdict("ktap ok same", &boot),
        "'same' names several KTAP cases",
    );
    assert_failed(
        &verdict("ktap not-ok same", &boot),
        "'same' names several KTAP cases",
    );
    let slof = boot_from_log(SLOF_2G, exit::SUCCESS);
    for name in [
        "sparse_nonexistent",
        "hash.sparse_usemaps",
        "sparse",
        "usemaps",
        "sparse.",
    ] {
        assert_failed(
            &verdict(&format!("ktap ok {name}"), &slof),
            &format!("no KTAP case named '{name}'"),
        );
        assert_failed(
            &verdict(&format!("ktap not-ok {name}"), &slof),
            &format!("no KTAP case named '{name}'"),
        );
    }
}

#[test]
fn ktap_none() {
    // A boot that died before its self-checks: the SLOF log up to sparse_init.
    let cut = SLOF_2G.find("[    0.467163]").unwrap();
    let v = verdict(
        "ktap none",
        &boot_from_log(&SLOF_2G[..cut], exit::KERNEL_FAILURE),
    );
    assert_met(&v);
    assert_eq!(v.detail, "no KTAP document");
    let v = verdict("ktap none", &boot_from_log(SLOF_2G, exit::SUCCESS));
    assert_failed(&v, "a KTAP document with 10 cases");
    // A document cut short is malformed, not absent.
    let cut = SLOF_2G.find("[    0.474591] ok 1 hash").unwrap();
    let v = verdict(
        "ktap none",
        &boot_from_log(&SLOF_2G[..cut], exit::KERNEL_FAILURE),
    );
    assert_failed(&v, "a malformed KTAP document: KTAP line ");
    let v = verdict(
        "ktap all-ok",
        &boot_from_log(&SLOF_2G[..cut], exit::KERNEL_FAILURE),
    );
    assert_failed(&v, "KTAP line ");
}

// ---------------------------------------------------------------------------------------
// Machine variables

#[test]
fn machine_variables_without_a_tree() {
    let vars = Vars::for_machine(&Machine::default(), None);
    let got = |name| vars.get(name);
    assert_eq!(got("memory"), Some(2 << 30));
    assert_eq!(got("smp"), Some(1));
    assert_eq!(got("numa_nodes"), Some(0));
    assert_eq!(got("hpt_16m"), Some(1));
    assert_eq!(got("max_page_size"), Some(16 << 20));
    for &(name, _) in MACHINE_VARIABLES {
        assert_eq!(got(name).is_none(), name.starts_with("dt_"), "{name}");
    }
    assert_eq!(vars.dt_memory, None);
}

#[test]
fn every_machine_variable_has_a_value_with_a_tree() {
    let vars = vars_2g();
    for &(name, what) in MACHINE_VARIABLES {
        assert!(vars.get(name).is_some(), "{name} ({what})");
        assert!(!what.is_empty());
        // ... and the parser knows it.
        parse(&format!("check {name} >= 0"));
    }
}

#[test]
fn machine_variables_with_64k_pages_and_numa() {
    let m = Machine {
        hpt_16m: false,
        numa: vec![G, G, 2 * G],
        smp: 4,
        memory: 4 * G,
        ..Machine::default()
    };
    let vars = Vars::for_machine(&m, None);
    assert_eq!(vars.get("hpt_16m"), Some(0));
    assert_eq!(vars.get("max_page_size"), Some(64 << 10));
    assert_eq!(vars.get("numa_nodes"), Some(3));
    assert_eq!(vars.get("smp"), Some(4));
    assert_eq!(vars.get("memory"), Some(4 << 30));
    assert_eq!(vars_2g_64k().get("max_page_size"), Some(65536));
}

#[test]
fn dt_variables_for_one_range() {
    let vars = vars_2g();
    assert_eq!(vars.get("dt_memory"), Some(2 << 30));
    assert_eq!(vars.get("dt_ranges"), Some(1));
    assert_eq!(vars.get("dt_nodes"), Some(1));
    assert_eq!(vars.get("dt_end"), Some(2 << 30));
    assert_eq!(vars.get("dt_sections"), Some(128));
    assert_eq!(vars.dt_memory, Some(vec![(0, 2 * G, 0)]));
}

#[test]
fn dt_variables_for_two_nodes_of_1g() {
    let vars = vars_two_nodes();
    assert_eq!(vars.get("dt_memory"), Some(2 << 30));
    assert_eq!(vars.get("dt_ranges"), Some(2));
    assert_eq!(vars.get("dt_nodes"), Some(2));
    assert_eq!(vars.get("dt_end"), Some(2 << 30));
    assert_eq!(vars.get("dt_sections"), Some(128));
    assert_eq!(vars.get("numa_nodes"), Some(2));
}

#[test]
fn dt_sections_count_partly_filled_sections_once() {
    // [0, 24M) and [24M, 40M) of one node (not merged: the tree had them apart) share
    // section 1: sections 0, 1, 2.
    let ranges = vec![(0, 24 * M, 0), (24 * M, 40 * M, 0)];
    let vars = Vars::for_machine(&Machine::default(), Some(ranges));
    assert_eq!(vars.get("dt_sections"), Some(3));
    assert_eq!(vars.get("dt_memory"), Some(40 << 20));
    assert_eq!(vars.get("dt_ranges"), Some(2));
    assert_eq!(vars.get("dt_nodes"), Some(1));
    assert_eq!(vars.get("dt_end"), Some(40 << 20));

    // An unaligned start and a hole: [16M + 4K, 48M) is sections 1 and 2; [2G, 2G + 8M)
    // of node 1 is section 128.
    let ranges = vec![(16 * M + 4 * K, 48 * M, 0), (2 * G, 2 * G + 8 * M, 1)];
    let vars = Vars::for_machine(&Machine::default(), Some(ranges));
    assert_eq!(vars.get("dt_sections"), Some(3));
    assert_eq!(vars.get("dt_memory"), Some(((32 << 20) - 4096) + (8 << 20)));
    assert_eq!(vars.get("dt_nodes"), Some(2));
    assert_eq!(vars.get("dt_end"), Some((2 << 30) + (8 << 20)));

    // Ranges out of order: dt_end is the highest end.
    let ranges = vec![(G, 2 * G, 1), (0, 16 * M, 0)];
    let vars = Vars::for_machine(&Machine::default(), Some(ranges));
    assert_eq!(vars.get("dt_end"), Some(2 << 30));
    assert_eq!(vars.get("dt_sections"), Some(65));
}

#[test]
fn dt_variables_for_no_memory() {
    let vars = Vars::for_machine(&Machine::default(), Some(vec![]));
    for name in [
        "dt_memory",
        "dt_ranges",
        "dt_nodes",
        "dt_end",
        "dt_sections",
    ] {
        assert_eq!(vars.get(name), Some(0), "{name}");
    }
}

#[test]
fn dt_sections_ignore_empty_ranges() {
    let vars = Vars::for_machine(&Machine::default(), Some(vec![(24 * M, 24 * M, 0)]));
    assert_eq!(vars.get("dt_sections"), Some(0));
}

#[test]
fn dt_vmemmap_psize_follows_linux_rule() {
    let with = |hpt_16m, ranges: Vec<(u64, u64, u32)>| {
        let m = Machine {
            hpt_16m,
            ..Machine::default()
        };
        Vars::for_machine(&m, Some(ranges)).get("dt_vmemmap_psize")
    };
    let (p16m, p64k) = (Some(16 << 20), Some(64 << 10));
    assert_eq!(with(true, vec![(0, 2 * G, 0)]), p16m);
    assert_eq!(with(false, vec![(0, 2 * G, 0)]), p64k);
    assert_eq!(with(true, vec![(0, G, 0)]), p16m);
    assert_eq!(with(true, vec![(0, G - 16 * M, 0)]), p64k);
    assert_eq!(with(true, vec![(0, 512 * M, 0)]), p64k);
    // The tree's memory in all: two nodes of 512M make 1G.
    assert_eq!(with(true, vec![(0, 512 * M, 0), (512 * M, G, 1)]), p16m);
    assert_eq!(with(true, vec![]), p64k);
    let no_tree = Vars::for_machine(&Machine::default(), None);
    assert_eq!(no_tree.get("dt_vmemmap_psize"), None);
    assert!(parse("check dt_vmemmap_psize == 16M").needs_device_tree());
}

#[test]
fn vmemmap_pages_against_dt_vmemmap_psize() {
    let text = format!(
        "{SPARSE_INIT}check vmemmap_pages == ceil_div(dt_sections * 16K, dt_vmemmap_psize)\n\
         check psize == dt_vmemmap_psize\n"
    );
    let v = run(
        &text,
        &boot_from_log(SLOF_2G, exit::SUCCESS),
        &mut vars_2g(),
    );
    assert!(v.iter().all(|v| v.ok), "{v:#?}");
    let v = run(
        &text,
        &boot_from_log(VOF_64K_MMOTM, exit::KERNEL_FAILURE),
        &mut vars_2g_64k(),
    );
    let report: Vec<(bool, &str)> = v[1..].iter().map(|v| (v.ok, v.detail.as_str())).collect();
    assert_eq!(report, [(false, "128 == 32"), (true, "65536 == 65536")]);
}

#[test]
fn vars_set_and_get() {
    let mut vars = Vars::default();
    assert_eq!(vars.get("x"), None);
    vars.set("x", -5);
    assert_eq!(vars.get("x"), Some(-5));
    vars.set("x", 7);
    assert_eq!(vars.get("x"), Some(7));
}

// ---------------------------------------------------------------------------------------
// needs_device_tree, states_exit

#[test]
fn needs_device_tree_only_for_dt_variables_and_each() {
    let without = [
        "exit success",
        "appear /^sparse_init: /",
        "absent /dt_memory/",
        "count /x/ == memory / 16M",
        "count /x/ before /${memory}/ == 0",
        "capture /mappings=(?P<mappings>\\d+)/\ncheck mappings == 1",
        "check max_page_size == 16M",
        "appear /${memory:#x}/",
        "order\n  /a/\n  /${smp}/\nend",
        "ktap all-ok",
        "ktap none",
        "ktap not-ok sparse_usemaps",
    ];
    for text in without {
        assert!(!parse(text).needs_device_tree(), "{text}");
    }
    let with = [
        "check dt_sections == 128",
        "check 128 == dt_sections",
        "count /x/ == dt_ranges",
        "appear /end ${dt_end:#x}/",
        "absent /${-dt_nodes}/",
        "count /a/ before /${dt_end:#x}/ == 0",
        "order\n  /a/\n  /${dt_memory}/\nend",
        "capture /x=(?P<x>\\d+)/\ncheck x <= dt_end",
        "check 1 == ceil_div(dt_sections * 16K, max_page_size)",
        "each dt_memory\n  check size > 0\nend",
        "exit success\nktap all-ok\ncheck smp == 1\ncheck dt_nodes == 1",
    ];
    for text in with {
        assert!(parse(text).needs_device_tree(), "{text}");
    }
}

#[test]
fn states_exit() {
    assert!(parse("exit success").states_exit());
    assert!(parse("appear /a/\n\nexit 0 1   # either").states_exit());
    assert!(!parse("appear /a/\nktap all-ok").states_exit());
    assert!(!parse("").states_exit());
    assert!(!parse("# exit success").states_exit());
}

#[test]
fn parse_errors_display_file_and_line() {
    let e = parse_err("\n\nexit sometimes");
    assert_eq!(
        e.to_string(),
        "t.expect:3: exit: 'sometimes' is not success (0), failure (1) or timeout (124), \
         the statuses a judged boot can have"
    );
    let as_error: &dyn std::error::Error = &e;
    assert_eq!(as_error.to_string(), e.to_string());
}

#[test]
fn ktap_all_ok_needs_at_least_one_case() {
    let boot = Boot {
        exit: 0,
        messages: Vec::new(),
        ktap: crate::ktap::parse("KTAP version 1\n1..0\n"),
    };
    assert!(boot.ktap.is_ok());
    let v = parse("ktap all-ok").evaluate(&boot, &mut vars_2g());
    assert!(!v[0].ok, "{}", v[0]);
    assert_eq!(v[0].detail, "the KTAP document has no test cases");
}

#[test]
fn captures_may_not_take_each_variables_names() {
    for name in RANGE_VARIABLES {
        assert_parse_err(
            &format!("capture /x (?P<{name}>\\d+)/"),
            1,
            &format!("'{name}' is an 'each' variable"),
        );
    }
}
