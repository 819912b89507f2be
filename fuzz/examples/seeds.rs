//! Write the hand-made seeds of the committed corpus:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example seeds -- fuzz/corpus
//! ```
//!
//! writes `fdt/*` (QEMU's own trees from `tests/fixtures/dtb/` as `qemu-*`; a small tree
//! that exercises every part of memory discovery and reservations; malformed variants:
//! truncated, bad magic, bad version, blocks and offsets out of range, unterminated
//! names, bad tokens, deep nesting, hostile memory properties, ...), `memblock/*` (a few
//! hundred bytes of operation sequences), `cmdline/*` and `expect/*` (every file of
//! `qemu/expect/` under its own name, expectation files and matrix files; one directive
//! of each kind; malformed variants: unknown directives, bad regexes and formats, huge
//! numbers, unclosed patterns, holes, blocks and quotes, a long line, NUL bytes, CRLF,
//! invalid UTF-8, broken matrix lines). Seeds keep these names; the
//! fuzzer's own finds beside them are named by their SHA-1, and `qemu/fuzz --merge` keeps
//! only those that add coverage to the seeds.

use std::path::Path;

use sparsek::fdt::{
    FDT_BEGIN_NODE as BEGIN, FDT_END as END, FDT_END_NODE as END_NODE, FDT_MAGIC as MAGIC,
    FDT_NOP as NOP, FDT_PROP as PROP,
};

/// A raw FDT builder that can also build what the project's writer refuses to.
#[derive(Clone, Default)]
struct Raw {
    rsv: Vec<(u64, u64)>,
    structs: Vec<u8>,
    strings: Vec<u8>,
}

impl Raw {
    fn word(&mut self, w: u32) -> &mut Self {
        self.structs.extend_from_slice(&w.to_be_bytes());
        self
    }
    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }
    fn begin(&mut self, name: &str) -> &mut Self {
        self.word(BEGIN);
        self.structs.extend_from_slice(name.as_bytes());
        self.structs.push(0);
        self.pad();
        self
    }
    fn end(&mut self) -> &mut Self {
        self.word(END_NODE)
    }
    fn name_offset(&mut self, name: &str) -> u32 {
        let mut needle = name.as_bytes().to_vec();
        needle.push(0);
        if let Some(i) = self.strings.windows(needle.len()).position(|w| w == needle) {
            return i as u32;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(&needle);
        off
    }
    fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let off = self.name_offset(name);
        self.word(PROP).word(value.len() as u32).word(off);
        self.structs.extend_from_slice(value);
        self.pad();
        self
    }
    fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }
    fn str(&mut self, name: &str, s: &str) -> &mut Self {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }
    /// Header (version 17), reservation map, structure block, strings block.
    fn blob(&self) -> Vec<u8> {
        let rsv_off = 40u32;
        let rsv_len = 16 * (self.rsv.len() as u32 + 1);
        let st_off = rsv_off + rsv_len;
        let str_off = st_off + self.structs.len() as u32;
        let total = str_off + self.strings.len() as u32;
        let mut b = Vec::new();
        for w in [
            MAGIC,
            total,
            st_off,
            str_off,
            rsv_off,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structs.len() as u32,
        ] {
            b.extend_from_slice(&w.to_be_bytes());
        }
        for &(a, s) in self.rsv.iter().chain([(0, 0)].iter()) {
            b.extend_from_slice(&a.to_be_bytes());
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&self.structs);
        b.extend_from_slice(&self.strings);
        b
    }
}

fn set32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// A small pseries-like tree touching everything discovery and reservations read.
fn small() -> Raw {
    let mut r = Raw {
        rsv: vec![(0x0200_0000, 0x1000), (0x7000_0000, 0x10_0000)],
        ..Raw::default()
    };
    r.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .str("compatible", "qemu,pseries");
    r.begin("chosen")
        .str("bootargs", "memblock=debug loglevel=8")
        .cells("linux,initrd-start", &[0x0300_0000])
        .cells("linux,initrd-end", &[0, 0x0310_0000])
        .end();
    r.begin("rtas")
        .cells("ibm,associativity-reference-points", &[4, 4])
        .end();
    r.begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 0, 0, 0x4000_0000])
        .cells("available", &[0, 0x10_0000, 0, 0x3000_0000])
        .cells("ibm,associativity", &[4, 0, 0, 0, 0])
        .end();
    r.begin("memory@40000000")
        .str("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x4000_0000])
        .cells("ibm,associativity", &[4, 1, 1, 1, 1])
        .str("status", "okay")
        .end();
    r.begin("memory@100000000")
        .str("device_type", "memory")
        .cells("reg", &[1, 0, 0, 0x1000_0000])
        .str("status", "disabled")
        .end();
    r.begin("reserved-memory")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .prop("ranges", &[]);
    r.begin("fw@38000000")
        .cells("reg", &[0, 0x3800_0000, 0, 0x100_0000])
        .end();
    r.begin("pool").cells("size", &[0, 0x100_0000]).end();
    r.end();
    r.begin("ibm,dynamic-reconfiguration-memory")
        .cells("ibm,lmb-size", &[0, 0x1000_0000])
        .cells(
            "ibm,associativity-lookup-arrays",
            &[2, 4, 0, 0, 0, 0, 1, 1, 1, 1],
        )
        .cells(
            "ibm,dynamic-memory",
            &[
                2,
                0,
                0x8000_0000,
                0,
                0x8000_0000,
                0,
                0x8, //
                0,
                0x9000_0000,
                0,
                0x9000_0001,
                1,
                0x108,
            ],
        )
        .end();
    r.end().word(END);
    r
}

/// The same with `ibm,dynamic-memory-v2` instead of v1.
fn small_v2() -> Raw {
    let mut r = Raw::default();
    r.begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2]);
    r.begin("rtas")
        .cells("ibm,associativity-reference-points", &[4])
        .end();
    r.begin("memory@0")
        .str("device_type", "memory")
        .cells("reg", &[0, 0, 0, 0x1000_0000])
        .end();
    r.begin("ibm,dynamic-reconfiguration-memory")
        .cells("ibm,lmb-size", &[0, 0x1000_0000])
        .cells("ibm,associativity-lookup-arrays", &[1, 4, 0, 0, 0, 1])
        .cells(
            "ibm,dynamic-memory-v2",
            &[
                2,
                4,
                0,
                0x1000_0000,
                0,
                0,
                0x8,
                2,
                0,
                0x5000_0000,
                0,
                0,
                0x20,
            ],
        )
        .end();
    r.end().word(END);
    r
}

fn fdt_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/dtb");
    let mut dtbs: Vec<_> = std::fs::read_dir(&fixtures)
        .expect("tests/fixtures/dtb")
        .map(|e| e.expect("fixture").path())
        .filter(|p| p.extension().is_some_and(|e| e == "dtb"))
        .collect();
    dtbs.sort();
    for p in dtbs {
        let name = format!("qemu-{}", p.file_stem().unwrap().to_string_lossy());
        out.push((name, std::fs::read(&p).expect("read fixture")));
    }
    let mut add = |name: &str, b: Vec<u8>| out.push((name.to_string(), b));
    let good = small().blob();
    add("small", good.clone());
    add("small-dr-v2", small_v2().blob());

    // Header faults.
    add("empty", Vec::new());
    add("header-only", good[..40].to_vec());
    add("truncated-half", good[..good.len() / 2].to_vec());
    add("truncated-by-one", good[..good.len() - 1].to_vec());
    let patched = |off: usize, v: u32| {
        let mut b = good.clone();
        set32(&mut b, off, v);
        b
    };
    add("bad-magic", patched(0, 0xfeed_d00d));
    add("totalsize-small", patched(4, 39));
    add("totalsize-huge", patched(4, 0xffff_ffff));
    add("struct-out-of-range", patched(8, 0xffff_fff0));
    add("struct-misaligned", patched(8, 58));
    add("strings-out-of-range", patched(12, good.len() as u32));
    add("rsvmap-out-of-range", patched(16, good.len() as u32 - 8));
    add("rsvmap-misaligned", patched(16, 44));
    add("rsvmap-in-header", patched(16, 8));
    add("version-15", patched(20, 15));
    add("last-comp-18", patched(24, 18));
    add("size-strings-huge", patched(32, 0x8000_0000));
    add("size-struct-huge", patched(36, 0xffff_ffff));
    add("size-struct-short", patched(36, 16));
    {
        // Version 16: no size_dt_struct, the structure block runs to the end.
        let mut b = patched(20, 16);
        set32(&mut b, 36, 0);
        add("version-16", b);
    }
    {
        // The reservation map's terminator overwritten: it runs into the structure block.
        let mut b = good.clone();
        b[40 + 32..40 + 48].fill(0xff);
        add("rsvmap-unterminated", b);
    }

    // Structure faults, each a small raw tree.
    let tree = |f: &dyn Fn(&mut Raw)| {
        let mut r = Raw::default();
        f(&mut r);
        r.blob()
    };
    add(
        "node-name-unterminated",
        tree(&|r| {
            r.begin("").word(BEGIN);
            r.structs.extend_from_slice(b"abcd");
        }),
    );
    add(
        "prop-name-unterminated",
        tree(&|r| {
            r.begin("").word(PROP).word(0).word(0).end().word(END);
            r.strings.extend_from_slice(b"reg");
        }),
    );
    add(
        "prop-name-offset-bad",
        tree(&|r| {
            r.begin("")
                .word(PROP)
                .word(4)
                .word(0x1000)
                .word(1)
                .end()
                .word(END);
            r.strings.extend_from_slice(b"reg\0");
        }),
    );
    add(
        "prop-len-huge",
        tree(&|r| {
            r.begin("").str("model", "x");
            r.word(PROP).word(0xffff_fff0).word(0).end().word(END);
        }),
    );
    add(
        "bad-token",
        tree(&|r| {
            r.begin("").word(NOP).word(7).end().word(END);
        }),
    );
    add(
        "root-not-first",
        tree(&|r| {
            r.word(END_NODE).begin("").end().word(END);
        }),
    );
    add(
        "leading-nop",
        tree(&|r| {
            // NOPs may stand before the root (the reader once mis-placed the root's body).
            r.word(NOP).begin("").str("model", "x").end().word(END);
        }),
    );
    add(
        "root-named",
        tree(&|r| {
            r.begin("root").end().word(END);
        }),
    );
    add(
        "unbalanced-end",
        tree(&|r| {
            r.begin("").end().end().word(END);
        }),
    );
    add(
        "missing-end",
        tree(&|r| {
            r.begin("").begin("chosen").end();
        }),
    );
    add(
        "end-inside-node",
        tree(&|r| {
            r.begin("").begin("chosen").word(END);
        }),
    );
    add(
        "second-root",
        tree(&|r| {
            r.begin("")
                .end()
                .begin("")
                .begin("chosen")
                .end()
                .end()
                .word(END);
        }),
    );
    add(
        "prop-after-child",
        tree(&|r| {
            r.begin("")
                .begin("chosen")
                .end()
                .str("model", "x")
                .end()
                .word(END);
        }),
    );
    for (name, depth) in [("depth-64", 64), ("depth-65", 65), ("depth-300", 300)] {
        add(
            name,
            tree(&|r| {
                for _ in 0..depth {
                    r.begin("n");
                }
                for _ in 0..depth {
                    r.end();
                }
                r.word(END);
            }),
        );
    }

    // Memory-discovery faults on a well-formed blob.
    let mem = |f: &dyn Fn(&mut Raw)| {
        let mut r = Raw::default();
        r.begin("");
        f(&mut r);
        r.end().word(END);
        r.blob()
    };
    add(
        "address-cells-3",
        mem(&|r| {
            r.cells("#address-cells", &[3]);
        }),
    );
    add(
        "size-cells-long",
        mem(&|r| {
            r.cells("#size-cells", &[1, 1]);
        }),
    );
    add(
        "reg-partial",
        mem(&|r| {
            r.begin("memory@0")
                .str("device_type", "memory")
                .cells("reg", &[0, 0, 0x1000_0000, 0])
                .end();
        }),
    );
    add(
        "reg-beyond-physmem",
        mem(&|r| {
            r.begin("memory@0")
                .str("device_type", "memory")
                .cells(
                    "reg",
                    &[0xffff_ffff, 0xffff_f000, 0x10_0000, 0, 0x123, 0x800],
                )
                .end();
        }),
    );
    add(
        "initrd-backwards",
        mem(&|r| {
            r.begin("chosen")
                .cells("linux,initrd-start", &[0x2000])
                .cells("linux,initrd-end", &[0x1000])
                .end();
        }),
    );
    add(
        "lookup-arrays-short",
        mem(&|r| {
            r.begin("ibm,dynamic-reconfiguration-memory")
                .cells("ibm,lmb-size", &[0x1000_0000])
                .cells(
                    "ibm,associativity-lookup-arrays",
                    &[0xffff_ffff, 0xffff_ffff],
                )
                .end();
        }),
    );
    add(
        "dynamic-memory-v2-overflow",
        mem(&|r| {
            r.begin("ibm,dynamic-reconfiguration-memory")
                .cells("ibm,lmb-size", &[0x1000_0000])
                .cells(
                    "ibm,dynamic-memory-v2",
                    &[1, 3, 0xffff_ffff, 0xe000_0000, 0, 0x8],
                )
                .end();
        }),
    );
    add(
        "dynamic-memory-v2-huge-count",
        mem(&|r| {
            // 2^32 - 1 LMBs in one set: must not be expanded one by one.
            r.begin("ibm,dynamic-reconfiguration-memory")
                .cells("ibm,lmb-size", &[0x1000_0000])
                .cells("ibm,dynamic-memory-v2", &[1, 0xffff_ffff, 0, 0, 0, 0, 0x8])
                .end();
        }),
    );
    out
}

fn memblock_seeds() -> Vec<(String, Vec<u8>)> {
    // Operation bytes (see sparsek::mm::memblock::fuzzing): op % 14, then its arguments.
    let mut out = vec![
        // add [0, 64 units), reserve a piece, allocate, free, query.
        (
            "add-reserve-alloc".into(),
            vec![
                1, 0, 0xff, 3, 8, 4, 10, 3, 2, 0, 0x50, 0, 4, 8, 2, 13, 0, 0x40,
            ],
        ),
        // two nodes, hotplug and nomap flags, movable_node, bounded allocation.
        (
            "nodes-flags".into(),
            vec![
                0, 0, 0xd0, 1, 1, 0, 0x40, 0xd0, 2, 0xe1, 9, 1, 5, 0x20, 4, 0, 11, 3, 3, 0x90,
                0xc0, 1,
            ],
        ),
        // limit, range allocation, remove, set node.
        (
            "limit-range".into(),
            vec![
                1, 0, 0xff, 8, 0xa0, 12, 0xe5, 2, 0x81, 0xc0, 2, 0x10, 8, 7, 0, 0x30, 2, 6, 0x40,
                4, 1,
            ],
        ),
    ];
    let mut x = 0x5eed_0000_0000_0001u64;
    for i in 0..4 {
        let bytes = (0..96)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        out.push((format!("random-{i}"), bytes));
    }
    out
}

fn cmdline_seeds() -> Vec<(String, Vec<u8>)> {
    [
        ("typical", "console=hvc0 memblock=debug loglevel=8"),
        (
            "flags",
            "debug quiet selftest.panic selftest.poweroff_at_entry=1",
        ),
        ("quotes", "name=\"a b\" \"bare name\" x=\"unterminated y"),
        (
            "numbers",
            "loglevel=0x7 loglevel=010 loglevel=-1 loglevel=+15 loglevel=99999999999999999999",
        ),
        (
            "dashes",
            "selftest-fault=program selftest.fault=nope memblock=Debug = ==",
        ),
        ("spaces", " \t\n\r\x0b\x0c a=\u{a0}b \u{2003}c"),
        (
            "faults",
            "fail_memblock=3 fail_hcall=H_ENTER:131 fail-hcall=h_remove:1:H_PTEG_FULL \
             fail_hcall=H_READ:0x10:-4 fail_of=getprop:7 dtb=initrd selftest.fault=stack",
        ),
        (
            "faults-bad",
            "fail_memblock=0 fail_hcall=H_ENTER fail_hcall=H_ENTER:1:H_SUCCESS \
             fail_hcall=H_PROTECT:1 fail_of=claim:1 fail_of=getprop: fail_of dtb=firmware",
        ),
    ]
    .iter()
    .map(|(n, s)| (n.to_string(), s.as_bytes().to_vec()))
    .collect()
}

fn expect_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../qemu/expect");
    let mut files: Vec<_> = std::fs::read_dir(&shipped)
        .expect("qemu/expect")
        .map(|e| e.expect("qemu/expect entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "expect" || e == "txt"))
        .collect();
    files.sort();
    for p in files {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read(&p).expect("read qemu/expect file")));
    }
    let boot_ok = std::fs::read_to_string(shipped.join("boot-ok.expect")).expect("boot-ok");
    let matrix = std::fs::read_to_string(shipped.join("matrix.txt")).expect("matrix.txt");
    let mut add = |name: &str, text: &[u8]| out.push((name.to_string(), text.to_vec()));

    // Well-formed: every directive, format and function once.
    add(
        "all-directives",
        br"exit success failure timeout 0 1 124
appear /^sparsek version /   # a comment after the pattern
absent /^Kernel panic/
count /^  node +\d+: / >= 1
count /bolt/ before /failed -1$/ != 0
count /x\/y # not a comment/ < dt_ranges + 1
order
  /^Kernel command line: /   # comment
  /^sparse_init: /
end
capture /^sparse_init: .* sections=(?P<sections>\d+) /
check sections * 16M <= dt_end + (-1 * -1) % 7
check ceil_div(memory, max_page_size) == min(max(smp, numa_nodes), hpt_16m) / 1
check dt_vmemmap_psize > 0
each dt_memory
  appear /^  node +${node}: \[mem ${base:#018x}-${last:#018x}\]$/
  count /${index:x}|${size:0x}|${end:#x}|${node:08d}|${base / 1M:04x}/ >= 0
  check size == end - base
end
ktap all-ok
ktap ok hash.hash_translation_on sparse_usemaps
ktap not-ok sparse.sparse_usemaps
ktap none
",
    );
    add(
        "captures",
        br"capture /^Memory: (?P<avail>\d+)K\/(?P<total>\d+)K available /
capture /^hash-mmu: H_ENTER (?P<h_enter>\d+), H_REMOVE (?P<h_remove>\d+), /
capture /^\[    (?P<neg>-\d+)/
capture /(?P<hex>0x[0-9a-f]+)/
check avail <= total
check h_enter - h_remove > 0
count /^.*$/ > h_enter / 1000
",
    );

    // Malformed files.
    add(
        "unknown-directive",
        b"exit success\nexist success\nappear /x/\n",
    );
    add("unknown-ktap", b"ktap all-ok x\nktap ok\nktap maybe y\n");
    add("bad-exit", b"exit\nexit 2\nexit succes\n");
    add(
        "bad-regex",
        br"appear /(unclosed/
absent /[z-a]/
capture /(?P<1x>\d)/
count /a{99999999}/ == 1
appear /\p{NoSuchClass}/
",
    );
    add(
        "bad-holes",
        br"appear /${memory/
appear /${}/
appear /${memory:y}/
appear /${memory:#0d}/
appear /${memory:00x}/
appear /${nosuch}/
appear /${memory:}/
appear /${ceil_div(1)}/
capture /(?P<a>\d)${memory}/
",
    );
    add(
        "bad-expressions",
        br"check 1 ==
check == 1
check 1 = 1
check (1 == 1
check 1 == 1)
check foo(1, 2) == 1
check min(1) == 1
check 1 $ 2 == 3
check 1 == 2 == 3
check x == 1
check 12Q == 1
check 0x == 0
check --1 == -(-(1))
",
    );
    add(
        "huge-numbers",
        br"check 170141183460469231731687303715884105727 + 1 == 0
check -170141183460469231731687303715884105727 - 2 == 0
check 99999999999999999999999999999999999999999 == 1
check 0xffffffffffffffffffffffffffffffffff == 1
check 1T * 1T * 1T * 1T == 0
check 1 / 0 == 0
check 1 % 0 == 0
check ceil_div(1, 0) == 0
check -170141183460469231731687303715884105727 - 1 == ceil_div(-170141183460469231731687303715884105727 - 1, -1)
count /x/ >= 18446744073709551616
",
    );
    add(
        "unclosed",
        br"appear /abc
appear /abc\
appear /${memory
order
  /a/
",
    );
    add("each-unclosed", b"each dt_memory\n  appear /a/\n");
    add(
        "each-bad",
        b"each dt_memory\nend\neach dt_other\nend\neach dt_memory\n  each dt_memory\n  end\nend\n",
    );
    add(
        "each-capture",
        br"each dt_memory
  capture /(?P<x>\d+)/
  exit success
end
end
",
    );
    add("order-short", b"order\n  /a/\nend\norder /a/\nend\n");
    add(
        "capture-twice",
        br"capture /(?P<memory>\d+)/
capture /(?P<x>\d+)/
capture /(?P<x>\d+)/
capture /(?P<node>\d+)/
capture /(\d+)/
",
    );
    add(
        "comments",
        b"# only\n   # indented\n\n\t\nexit success # after\n#exit failure\nappear /#/ # x\ncheck 1 == 1#2\n",
    );
    add(
        "nul-bytes",
        b"exit success\0\nappear /a\0b/\n\0ktap none\ncheck 1 ==\x001\n",
    );
    add("crlf", boot_ok.replace('\n', "\r\n").as_bytes());
    add("cr-only", boot_ok.replace('\n', "\r").as_bytes());
    add(
        "invalid-utf8",
        b"exit success\nappear /\xff\xfe\xc3/\ncheck \xe2\x82 == 1\nappear /\xc3\xa9t\xc3\xa9/\n",
    );
    add(
        "unicode",
        "appear /caf\u{e9} \u{1F600}/\ncheck \u{2212}1 == 1\nappear /${memory\u{2003}}/\n"
            .as_bytes(),
    );
    {
        // A long pattern on one line, and a long expression.
        let mut long = b"appear /^".to_vec();
        for i in 0..512 {
            long.extend_from_slice(format!("(a{i}|b)").as_bytes());
        }
        long.extend_from_slice(b"$/\ncheck ");
        for _ in 0..512 {
            long.extend_from_slice(b"1 + ");
        }
        long.extend_from_slice(b"1 == 513\n");
        add("long-line", &long);
    }

    // The two crashes found on the way in (now errors): a format width Rust's formatting
    // refuses, expressions nested deeper than the stack.
    add("format-width-huge", b"appear /^${memory:#070000x}$/\n");
    add(
        "deep-nesting",
        format!(
            "check {}1{} == 1\ncheck {}1 == 1\n",
            "(".repeat(300),
            ")".repeat(300),
            "-".repeat(300)
        )
        .as_bytes(),
    );
    // Patterns too costly to compile in the ASan build: only the other parsers see them.
    add("regex-costly", b"appear /\\w{1000}/\nappear /\\pL{300}/\n");

    // Matrix files: the shipped one with CRLF, and broken lines.
    add("matrix-crlf", matrix.replace('\n', "\r\n").as_bytes());
    // The fuzz target's stand-in directory has a malformed `broken.expect`.
    add(
        "matrix-broken-file",
        b"x | --vof --append 'a b' | boot-ok v4.19.expect\ny | --vof | broken\n",
    );
    add(
        "matrix-bad",
        br#"# NAME | options | files
a | --vof -m 2G | boot-ok
a | --vof | boot-ok
b c | --vof | boot-ok
d | --append "debug | boot-ok
e | --append 'x | boot-ok
f | --vof \
g | --kernel k | boot-ok
h | -h | boot-ok
i | --vof |
j | --vof | no-such-file
k | --append "a | b" | boot-ok v4.19
l | --vof -m 99999999T | boot-ok
m | --no-such-option | boot-ok
n --vof boot-ok
"#,
    );
    out
}

fn main() {
    let dir = std::env::args_os()
        .nth(1)
        .expect("usage: cargo run --example seeds -- DIR");
    let dir = Path::new(&dir);
    for (target, seeds) in [
        ("fdt", fdt_seeds()),
        ("memblock", memblock_seeds()),
        ("cmdline", cmdline_seeds()),
        ("expect", expect_seeds()),
    ] {
        let d = dir.join(target);
        std::fs::create_dir_all(&d).expect("create seed directory");
        for (name, bytes) in &seeds {
            std::fs::write(d.join(name), bytes).expect("write seed");
        }
        println!("{}: {} seeds", d.display(), seeds.len());
    }
}
