//! What the device tree says must not be handed out: the FDT memory reservation map,
//! `/reserved-memory` children, and the initrd named in `/chosen`.

use alloc::string::String;
use alloc::vec::Vec;

use super::memory::{MemoryError, be_cells, cells, fdt_err, prop, read_number, reg_pairs};
use crate::fdt::Fdt;

/// Where a reservation comes from (the caller name in `memblock=debug` lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// The blob's memory reservation map.
    RsvMap,
    /// A `/reserved-memory` child, by node name.
    ReservedMemory(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub base: u64,
    pub size: u64,
    pub source: Source,
}

/// A `/reserved-memory` child this kernel does not honour (e.g. a dynamic allocation by
/// `size` alone), reported rather than dropped silently.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unhonoured {
    pub name: String,
    pub why: &'static str,
}

/// The reservation map plus `/reserved-memory`. Zero-size entries are skipped.
pub fn reservations(fdt: &Fdt) -> Result<(Vec<Reservation>, Vec<Unhonoured>), MemoryError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for r in fdt.reservations() {
        let r = r.map_err(|e| fdt_err(fdt, e))?;
        if r.size != 0 {
            out.push(Reservation {
                base: r.address,
                size: r.size,
                source: Source::RsvMap,
            });
        }
    }
    if let Some(rm) = fdt
        .find_node("/reserved-memory")
        .map_err(|e| fdt_err(fdt, e))?
    {
        let ac = cells(fdt, &rm, "/reserved-memory", "#address-cells", 2)?;
        let sc = cells(fdt, &rm, "/reserved-memory", "#size-cells", 1)?;
        for child in rm.children() {
            let node = child.map_err(|e| fdt_err(fdt, e))?;
            let Some(reg) = prop(fdt, &node, "reg")? else {
                skipped.push(Unhonoured {
                    name: node.name.into(),
                    why: "no reg (dynamic allocation is not supported)",
                });
                continue;
            };
            let (pairs, trailing) = reg_pairs(reg.value, ac, sc);
            if trailing != 0 {
                skipped.push(Unhonoured {
                    name: node.name.into(),
                    why: "reg ends with a partial entry, which is ignored",
                });
            }
            for (base, size) in pairs.into_iter().filter(|p| p.1 != 0) {
                out.push(Reservation {
                    base,
                    size,
                    source: Source::ReservedMemory(node.name.into()),
                });
            }
        }
    }
    Ok((out, skipped))
}

/// Memory an Open Firmware implementation still owns: every memory node's `reg` minus
/// its `available` (IEEE 1275: the unclaimed part). Nodes without `available` give nothing.
/// Ranges are sorted and merged.
pub fn firmware_claimed(fdt: &Fdt) -> Result<Vec<(u64, u64)>, MemoryError> {
    let root = fdt.root();
    let ac = cells(fdt, &root, "/", "#address-cells", 2)?;
    let sc = cells(fdt, &root, "/", "#size-cells", 1)?;
    let mut claimed: Vec<(u64, u64)> = Vec::new();
    for child in root.children() {
        let node = child.map_err(|e| fdt_err(fdt, e))?;
        if prop(fdt, &node, "device_type")?.and_then(|p| p.as_str()) != Some("memory") {
            continue;
        }
        let (Some(reg), Some(avail)) = (prop(fdt, &node, "reg")?, prop(fdt, &node, "available")?)
        else {
            continue;
        };
        let free = reg_pairs(avail.value, ac, sc).0;
        claimed.extend(subtract(&reg_pairs(reg.value, ac, sc).0, &free));
    }
    claimed.sort_unstable();
    claimed.dedup_by(|next, prev| {
        let touches = prev.0 + prev.1 >= next.0;
        if touches {
            prev.1 = (next.0 + next.1).max(prev.0 + prev.1) - prev.0;
        }
        touches
    });
    Ok(claimed)
}

/// `ranges` minus `holes` (both `(base, size)`), sorted; used to reserve only the part of
/// the firmware's memory that nothing else reserves, so releasing it later frees nothing
/// another reservation still needs.
pub fn subtract(ranges: &[(u64, u64)], holes: &[(u64, u64)]) -> Vec<(u64, u64)> {
    let mut holes: Vec<(u64, u64)> = holes.iter().filter(|h| h.1 != 0).copied().collect();
    holes.sort_unstable();
    let mut out = Vec::new();
    for &(base, size) in ranges {
        let end = base.saturating_add(size);
        let mut at = base;
        for &(hb, hs) in &holes {
            let he = hb.saturating_add(hs);
            if he <= at || hb >= end {
                continue;
            }
            if hb > at {
                out.push((at, hb - at));
            }
            at = at.max(he);
        }
        if at < end {
            out.push((at, end - at));
        }
    }
    out.sort_unstable();
    out
}

/// `/chosen linux,initrd-start` / `linux,initrd-end` (one or two cells each) as
/// `(start, end)`; `None` when absent or empty.
pub fn chosen_initrd(fdt: &Fdt) -> Result<Option<(u64, u64)>, MemoryError> {
    let Some(chosen) = fdt.find_node("/chosen").map_err(|e| fdt_err(fdt, e))? else {
        return Ok(None);
    };
    let num = |name: &'static str| -> Result<Option<u64>, MemoryError> {
        match prop(fdt, &chosen, name)? {
            None => Ok(None),
            Some(p) if p.value.len() == 4 || p.value.len() == 8 => {
                let c: Vec<u32> = be_cells(p.value).collect();
                Ok(Some(read_number(&c)))
            }
            Some(p) => Err(MemoryError::BadProperty {
                path: "/chosen".into(),
                prop: name,
                why: alloc::format!("{} bytes, 4 or 8 expected", p.value.len()),
            }),
        }
    };
    match (num("linux,initrd-start")?, num("linux,initrd-end")?) {
        (Some(s), Some(e)) if e > s => Ok(Some((s, e))),
        (Some(s), Some(e)) if e == s => Ok(None),
        (Some(s), Some(e)) => Err(MemoryError::BadProperty {
            path: "/chosen".into(),
            prop: "linux,initrd-end",
            why: alloc::format!("0x{e:x} is below linux,initrd-start 0x{s:x}"),
        }),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fdt::Writer;

    #[test]
    fn rsvmap_reserved_memory_and_initrd() {
        let mut w = Writer::new();
        w.reservations.push((0x400000, 0x100000));
        w.reservations.push((0x800000, 0));
        w.begin("")
            .prop_u32s("#address-cells", &[2])
            .prop_u32s("#size-cells", &[2])
            .begin("chosen")
            .prop_u32s("linux,initrd-start", &[0x0200_0000])
            .prop_u32s("linux,initrd-end", &[0, 0x0210_0000])
            .end()
            .begin("reserved-memory")
            .prop_u32s("#address-cells", &[2])
            .prop_u32s("#size-cells", &[1])
            .begin("fw@7000000")
            .prop_u32s("reg", &[0, 0x0700_0000, 0x10000, 0, 0x0800_0000, 0x2000])
            .end()
            .begin("pool")
            .prop_u32s("size", &[0x100000])
            .end()
            .end()
            .end();
        let blob = w.finish().unwrap();
        let fdt = Fdt::new(&blob).unwrap();
        let (r, skipped) = reservations(&fdt).unwrap();
        assert_eq!(
            r.iter().map(|r| (r.base, r.size)).collect::<Vec<_>>(),
            [
                (0x400000, 0x100000),
                (0x0700_0000, 0x10000),
                (0x0800_0000, 0x2000)
            ]
        );
        assert_eq!(r[1].source, Source::ReservedMemory("fw@7000000".into()));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].name, "pool");
        assert_eq!(
            chosen_initrd(&fdt).unwrap(),
            Some((0x0200_0000, 0x0210_0000))
        );
    }

    #[test]
    fn firmware_claims_are_reg_minus_available() {
        let mut w = Writer::new();
        w.begin("")
            .prop_u32s("#address-cells", &[2])
            .prop_u32s("#size-cells", &[2])
            .begin("memory@0")
            .prop_str("device_type", "memory")
            .prop_u32s("reg", &[0, 0, 0, 0x8000_0000])
            // Free: 0x4000..0x400000 and 0x600000..0x7d000000 (unsorted on purpose).
            .prop_u32s(
                "available",
                &[0, 0x60_0000, 0, 0x7ca0_0000, 0, 0x4000, 0, 0x3f_c000],
            )
            .end()
            .end();
        let blob = w.finish().unwrap();
        let claimed = firmware_claimed(&Fdt::new(&blob).unwrap()).unwrap();
        assert_eq!(
            claimed,
            [
                (0, 0x4000),
                (0x40_0000, 0x20_0000),
                (0x7d00_0000, 0x300_0000)
            ]
        );
    }

    #[test]
    fn subtract_cuts_holes() {
        assert_eq!(
            subtract(
                &[(0, 0x1000), (0x4000, 0x4000)],
                &[(0x800, 0x100), (0x3000, 0x2000), (0x7000, 0x10)]
            ),
            [
                (0, 0x800),
                (0x900, 0x700),
                (0x5000, 0x2000),
                (0x7010, 0xff0)
            ]
        );
        assert_eq!(subtract(&[(0x10, 0x10)], &[(0, 0x100)]), []);
        assert_eq!(subtract(&[(0x10, 0x10)], &[]), [(0x10, 0x10)]);
    }

    #[test]
    fn initrd_end_below_start_is_an_error() {
        let mut w = Writer::new();
        w.begin("")
            .begin("chosen")
            .prop_u32s("linux,initrd-start", &[0x3000])
            .prop_u32s("linux,initrd-end", &[0x2000])
            .end()
            .end();
        let blob = w.finish().unwrap();
        let e = chosen_initrd(&Fdt::new(&blob).unwrap()).unwrap_err();
        assert!(e.to_string().contains("below linux,initrd-start"), "{e}");
    }
}
