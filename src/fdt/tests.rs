//! Reader tests on hand-built and mutated blobs.
extern crate std;
use super::Writer as Builder;
use super::*;
use std::string::ToString;
use std::vec::Vec;

fn sample() -> Vec<u8> {
    let mut b = Builder::default();
    b.reservations.push((0x400000, 0x10000));
    b.begin("")
        .prop_u32s("#address-cells", &[2])
        .begin("chosen")
        .prop_str("bootargs", "debug loglevel=8")
        .end()
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_u32s("reg", &[0, 0, 0, 0x8000_0000])
        .end()
        .begin("rtas")
        .prop_u32s("power-off", &[0x2003])
        .begin("deep")
        .end()
        .end()
        .end();
    b.finish().unwrap()
}

#[test]
fn finds_nodes_and_properties() {
    let blob = sample();
    let fdt = Fdt::new(&blob).unwrap();
    fdt.validate().unwrap();
    let chosen = fdt.find_node("/chosen").unwrap().unwrap();
    assert_eq!(
        chosen.property("bootargs").unwrap().unwrap().as_str(),
        Some("debug loglevel=8")
    );
    let mem = fdt.find_node("/memory").unwrap().unwrap();
    assert_eq!(mem.name, "memory@0");
    let reg: Vec<u32> = mem.property("reg").unwrap().unwrap().cells().collect();
    assert_eq!(reg, [0, 0, 0, 0x8000_0000]);
    assert_eq!(
        fdt.find_node("/rtas")
            .unwrap()
            .unwrap()
            .property("power-off")
            .unwrap()
            .unwrap()
            .as_u32(),
        Some(0x2003)
    );
    assert!(fdt.find_node("/rtas/deep").unwrap().is_some());
    assert!(fdt.find_node("/nope").unwrap().is_none());
    assert!(fdt.find_node("/memory@1").unwrap().is_none());
    let names: Vec<&str> = fdt.root().children().map(|c| c.unwrap().name).collect();
    assert_eq!(names, ["chosen", "memory@0", "rtas"]);
    let rsv: Vec<_> = fdt.reservations().map(|r| r.unwrap()).collect();
    assert_eq!(
        rsv,
        [Reservation {
            address: 0x400000,
            size: 0x10000
        }]
    );
}

#[test]
fn rejects_bad_headers_with_offsets() {
    let blob = sample();
    assert_eq!(
        Fdt::new(&blob[..20]).err().unwrap().kind,
        FdtErrorKind::Truncated
    );
    let mut bad = blob.clone();
    bad[0] = 0;
    assert_eq!(
        Fdt::new(&bad).err().unwrap().kind,
        FdtErrorKind::BadMagic(0x000d_feed)
    );
    assert_eq!(
        Fdt::new(&blob[..blob.len() - 1]).err().unwrap(),
        FdtError {
            kind: FdtErrorKind::TotalSizeBeyondBuffer,
            offset: 4
        }
    );
    let mut bad = blob.clone();
    bad[20..24].copy_from_slice(&3u32.to_be_bytes());
    assert_eq!(
        Fdt::new(&bad).err().unwrap().kind,
        FdtErrorKind::UnsupportedVersion(3)
    );
    // last_comp_version too new: named as such (not as the supported version 17).
    let mut bad = blob.clone();
    bad[24..28].copy_from_slice(&18u32.to_be_bytes());
    let e = Fdt::new(&bad).err().unwrap();
    assert_eq!(e.kind, FdtErrorKind::IncompatibleVersion(18));
    assert_eq!(
        e.to_string(),
        "last compatible version 18 is newer than 17 (the newest this reader reads) at offset 0x18"
    );
    // A newer version readable as 16 is accepted.
    let mut newer = blob.clone();
    newer[20..24].copy_from_slice(&18u32.to_be_bytes());
    assert_eq!(Fdt::new(&newer).unwrap().header().version, 18);
    let mut bad = blob.clone();
    bad[36..40].copy_from_slice(&0xffffu32.to_be_bytes());
    let e = Fdt::new(&bad).err().unwrap();
    assert_eq!(e.kind, FdtErrorKind::BlockOutOfBounds("structure block"));
    assert_eq!(
        e.to_string(),
        "structure block lies outside the blob at offset 0x8"
    );
}

#[test]
fn rejects_bad_structure() {
    let blob = sample();
    let fdt = Fdt::new(&blob).unwrap();
    let s = fdt.header().off_dt_struct as usize;
    // Corrupt the first property's name offset.
    let mut bad = blob.clone();
    bad[s + 8 + 8..s + 8 + 12].copy_from_slice(&0x1000u32.to_be_bytes());
    let f = Fdt::new(&bad).unwrap();
    assert_eq!(
        f.validate().err().unwrap().kind,
        FdtErrorKind::BadStringOffset(0x1000)
    );
    // An unknown token.
    let mut bad = blob.clone();
    bad[s + 8..s + 12].copy_from_slice(&7u32.to_be_bytes());
    let f = Fdt::new(&bad).unwrap();
    assert_eq!(
        f.validate().err().unwrap(),
        FdtError {
            kind: FdtErrorKind::BadToken(7),
            offset: s + 8
        }
    );
    // A property length running past the structure block.
    let mut bad = blob.clone();
    bad[s + 12..s + 16].copy_from_slice(&0x7fff_fff0u32.to_be_bytes());
    let f = Fdt::new(&bad).unwrap();
    assert_eq!(
        f.validate().err().unwrap().kind,
        FdtErrorKind::BlockOutOfBounds("property value")
    );
    assert!(f.find_node("/chosen").is_err());
}

#[test]
fn every_shortened_structure_block_is_an_error() {
    let blob = sample();
    let full = Fdt::new(&blob).unwrap().header().size_dt_struct;
    for k in 0..full {
        let mut b = blob.clone();
        b[36..40].copy_from_slice(&k.to_be_bytes());
        if let Ok(f) = Fdt::new(&b) {
            assert!(
                f.validate().is_err(),
                "size_dt_struct {k} of {full} validated"
            );
        }
    }
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let blob = sample();
    for len in 0..blob.len() {
        let mut b = blob[..len].to_vec();
        if b.len() >= 8 {
            b[4..8].copy_from_slice(&(len as u32).to_be_bytes());
        }
        assert!(Fdt::new(&b).is_err(), "truncated to {len} accepted");
    }
}

/// Walk everything reachable; true when no query returned an error.
fn walk(node: Node, depth: usize) -> bool {
    let mut ok = node.properties().all(|p| p.is_ok());
    for c in node.children() {
        match c {
            Ok(c) if depth < MAX_DEPTH => ok &= walk(c, depth + 1),
            Ok(_) => {}
            Err(_) => ok = false,
        }
    }
    ok
}

#[test]
fn corrupted_blobs_give_errors_not_panics() {
    let blob = sample();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let interesting = [
        0u32,
        1,
        2,
        3,
        4,
        9,
        0x7fff_ffff,
        0xffff_ffff,
        blob.len() as u32,
    ];
    for _ in 0..20_000 {
        let mut b = blob.clone();
        for _ in 0..1 + next() % 3 {
            let pos = (next() as usize) % (b.len() - 3);
            if next() % 2 == 0 {
                b[pos] = next() as u8;
            } else {
                let v = interesting[(next() as usize) % interesting.len()];
                b[pos & !3..(pos & !3) + 4].copy_from_slice(&v.to_be_bytes());
            }
        }
        let Ok(f) = Fdt::new(&b) else { continue };
        let valid = f.validate().is_ok();
        let walked = walk(f.root(), 0);
        for p in ["/", "/chosen", "/memory", "/rtas/deep", "/x/y"] {
            let _ = f.find_node(p);
        }
        let _ = f.reservations().take(64).count();
        // A tree that validates can be walked without a single error.
        assert!(!valid || walked, "validated blob failed to walk: {b:02x?}");
    }
}

/// A blob around a raw structure block (tokens as big-endian words) and given strings.
fn raw(structs: &[u32], strings: &[u8]) -> Vec<u8> {
    let s: Vec<u8> = structs.iter().flat_map(|w| w.to_be_bytes()).collect();
    let (rsv, st) = (40usize, 56usize);
    let strs = st + s.len();
    let total = strs + strings.len();
    let mut b = Vec::new();
    for v in [
        FDT_MAGIC,
        total as u32,
        st as u32,
        strs as u32,
        rsv as u32,
        17,
        16,
        0,
        strings.len() as u32,
        s.len() as u32,
    ] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(&[0; 16]);
    b.extend_from_slice(&s);
    b.extend_from_slice(strings);
    b
}

#[test]
fn absurd_depth_is_refused_and_located() {
    // Root plus 64 nested unnamed nodes: one level more than the reader accepts.
    let mut s = Vec::new();
    for _ in 0..=MAX_DEPTH {
        s.extend([FDT_BEGIN_NODE, 0]);
    }
    s.extend([FDT_END_NODE; MAX_DEPTH + 1]);
    s.push(FDT_END);
    let blob = raw(&s, b"");
    let fdt = Fdt::new(&blob).unwrap();
    let e = fdt.validate().unwrap_err();
    assert_eq!(e.kind, FdtErrorKind::TooDeep);
    assert_eq!(e.offset, 56 + MAX_DEPTH * 8);
    assert_eq!(fdt.path_at(e.offset).matches('/').count(), MAX_DEPTH - 1);
}

#[test]
fn unterminated_names_are_errors() {
    // A node name running to the end of the structure block.
    let blob = raw(&[FDT_BEGIN_NODE, 0, FDT_BEGIN_NODE, 0x6162_6364], b"");
    let e = Fdt::new(&blob).and_then(|f| f.validate()).unwrap_err();
    assert_eq!(e.kind, FdtErrorKind::UnterminatedName);
    // A property name running to the end of the strings block.
    let blob = raw(
        &[FDT_BEGIN_NODE, 0, FDT_PROP, 0, 0, FDT_END_NODE, FDT_END],
        b"abc",
    );
    let f = Fdt::new(&blob).unwrap();
    let e = f.validate().unwrap_err();
    assert_eq!(e.kind, FdtErrorKind::UnterminatedName, "{e}");
}

#[test]
fn path_at_names_the_node_of_an_error() {
    let mut w = Builder::default();
    w.begin("")
        .begin("cpus")
        .begin("cpu@0")
        .prop_u32s("reg", &[0])
        .end()
        .end()
        .end();
    let blob = w.finish().unwrap();
    let fdt = Fdt::new(&blob).unwrap();
    let cpu = fdt.find_node("/cpus/cpu@0").unwrap().unwrap();
    assert_eq!(fdt.path_at(cpu.offset + 16), "/cpus/cpu@0");
    assert_eq!(fdt.path_at(fdt.root().offset), "/");
}

#[test]
fn nops_before_the_root_are_skipped() {
    // Found by the fdt fuzz target: the reader validated such a tree but walked it from
    // the NOP, so every lookup failed.
    let blob = raw(
        &[
            FDT_NOP,
            FDT_NOP,
            FDT_BEGIN_NODE,
            0,
            FDT_BEGIN_NODE,
            0x6100_0000,
            FDT_END_NODE,
            FDT_END_NODE,
            FDT_END,
        ],
        b"",
    );
    let fdt = Fdt::new(&blob).unwrap();
    fdt.validate().unwrap();
    assert!(walk(fdt.root(), 0));
    assert_eq!(fdt.find_node("/a").unwrap().unwrap().name, "a");
}
