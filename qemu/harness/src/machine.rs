//! A QEMU pseries machine configuration and the command line that boots it.

use std::path::{Path, PathBuf};

/// What runs before the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// SLOF, QEMU's default pseries firmware.
    Slof,
    /// QEMU's Virtual Open Firmware (`-M pseries,x-vof=on`).
    Vof,
    /// No firmware: a one-instruction boot ROM enters the kernel with r5 = 0 and r3 =
    /// QEMU's flattened device tree.
    None,
}

/// A machine to boot. `Machine::default()` is the one from the 2018 report: SLOF, 2 GiB,
/// 16M hash pages allowed.
#[derive(Clone, Debug)]
pub struct Machine {
    pub firmware: Firmware,
    /// Total memory in bytes.
    pub memory: u64,
    /// Allow 16M hash pages (`cap-hpt-max-page-size=16M`); QEMU's default allows 64K.
    pub hpt_16m: bool,
    pub cpu: Option<String>,
    /// One NUMA node per entry (bytes); empty = no NUMA topology.
    pub numa: Vec<u64>,
    pub smp: u32,
    /// Hot-pluggable memory: `-m SIZE,slots=4,maxmem=MAXMEM` (bytes).
    pub maxmem: Option<u64>,
    /// Cold-plugged `pc-dimm` devices (bytes each); needs `maxmem`.
    pub dimms: Vec<u64>,
    /// Back guest RAM with `memory-backend-ram` objects created with `reserve=off`, so
    /// that QEMU does not reserve swap space for it: a guest larger than the host can
    /// reserve (64G on a 24 GiB host: plain `-m 64G` fails with "cannot set up guest
    /// memory") still starts, and host memory is only used where the guest writes. Without
    /// NUMA nodes: `-object memory-backend-ram,id=ram,size=SIZE,reserve=off -machine
    /// memory-backend=ram`; NUMA nodes' and DIMMs' backends get `reserve=off` too.
    pub reserve_off: bool,
    pub append: String,
    pub initrd: Option<PathBuf>,
    /// Start QEMU's gdbstub on tcp::1234 and wait for a debugger.
    pub gdb: bool,
    /// Appended verbatim after everything else.
    pub extra: Vec<String>,
}

impl Default for Machine {
    fn default() -> Self {
        Machine {
            firmware: Firmware::Slof,
            memory: 2 << 30,
            hpt_16m: true,
            cpu: None,
            numa: Vec::new(),
            smp: 1,
            maxmem: None,
            dimms: Vec::new(),
            reserve_off: false,
            append: String::new(),
            initrd: None,
            gdb: false,
            extra: Vec::new(),
        }
    }
}

/// Machine capabilities that only matter on real hardware; set so that TCG does not warn.
const QUIET_CAPS: &str = "cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off";

/// The boot ROM for `Firmware::None`: QEMU starts the CPU at 0x100 of the `-bios` image
/// (big-endian, real mode, r3 = FDT); one `ba 0x400000` jumps to the kernel.
pub fn boot_rom_bytes() -> Vec<u8> {
    const BA_0X400000: u32 = (18 << 26) | 0x0040_0000 | 2;
    let mut rom = vec![0u8; 0x100];
    rom.extend_from_slice(&BA_0X400000.to_be_bytes());
    rom
}

/// Parse a QEMU-style size: a number with an optional K/M/G/T suffix (binary units);
/// a bare number means MiB, as for QEMU's `-m`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mult) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_uppercase() {
                'K' => 1u64 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("bad size '{s}': unknown unit '{c}'")),
            };
            (&t[..i], m)
        }
        _ => (t, 1 << 20),
    };
    let n: u64 = num.parse().map_err(|_| format!("bad size '{s}'"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size '{s}' too large"))?;
    if bytes == 0 {
        return Err(format!("bad size '{s}': zero"));
    }
    Ok(bytes)
}

/// A size as QEMU takes it, in MiB.
fn mib(bytes: u64) -> String {
    format!("{}M", bytes >> 20)
}

/// The id of the machine's RAM backend when [`Machine::reserve_off`] makes one.
pub const MAIN_RAM_ID: &str = "ram";

impl Machine {
    /// A `memory-backend-ram` object's properties (`reserve=off` when asked).
    fn ram_backend(&self, id: &str, size: u64) -> String {
        let mut o = format!("memory-backend-ram,id={id},size={}", mib(size));
        if self.reserve_off {
            o.push_str(",reserve=off");
        }
        o
    }

    /// The `-M` argument.
    pub fn machine_arg(&self) -> String {
        let mut m = String::from("pseries");
        if self.firmware == Firmware::Vof {
            m.push_str(",x-vof=on");
        }
        if self.hpt_16m {
            m.push_str(",cap-hpt-max-page-size=16M");
        }
        m.push(',');
        m.push_str(QUIET_CAPS);
        m
    }

    /// Full QEMU argument list (without the binary). `boot_rom` is the file holding
    /// [`boot_rom_bytes`] when the firmware is `None`.
    pub fn qemu_args(&self, kernel: &Path, boot_rom: Option<&Path>) -> Vec<String> {
        let mut a: Vec<String> = ["-nographic", "-vga", "none"].map(String::from).to_vec();
        a.push("-M".into());
        a.push(self.machine_arg());
        if let Some(cpu) = &self.cpu {
            a.extend(["-cpu".into(), cpu.clone()]);
        }
        match self.maxmem {
            Some(max) => a.extend([
                "-m".into(),
                format!(
                    "{},slots={DIMM_SLOTS},maxmem={}",
                    mib(self.memory),
                    mib(max)
                ),
            ]),
            None => a.extend(["-m".into(), mib(self.memory)]),
        }
        if self.smp > 1 {
            a.extend(["-smp".into(), self.smp.to_string()]);
        }
        // NUMA nodes bring their own backends (and QEMU refuses a machine backend then).
        if self.reserve_off && self.numa.is_empty() {
            a.extend([
                "-object".into(),
                self.ram_backend(MAIN_RAM_ID, self.memory),
                "-machine".into(),
                format!("memory-backend={MAIN_RAM_ID}"),
            ]);
        }
        for (i, &size) in self.numa.iter().enumerate() {
            a.extend([
                "-object".into(),
                self.ram_backend(&format!("ram-node{i}"), size),
                "-numa".into(),
                format!("node,nodeid={i},memdev=ram-node{i}"),
            ]);
        }
        for (i, &size) in self.dimms.iter().enumerate() {
            a.extend([
                "-object".into(),
                self.ram_backend(&format!("dimm{i}-mem"), size),
                "-device".into(),
                format!("pc-dimm,id=dimm{i},memdev=dimm{i}-mem"),
            ]);
        }
        if self.firmware == Firmware::None
            && let Some(rom) = boot_rom
        {
            a.extend(["-bios".into(), rom.display().to_string()]);
        }
        a.extend(["-kernel".into(), kernel.display().to_string()]);
        if !self.append.is_empty() {
            a.extend(["-append".into(), self.append.clone()]);
        }
        if let Some(initrd) = &self.initrd {
            a.extend(["-initrd".into(), initrd.display().to_string()]);
        }
        // Failure status contract: ibm,os-term makes QEMU exit 1; never reboot.
        a.extend([
            "-action".into(),
            "panic=exit-failure".into(),
            "-no-reboot".into(),
        ]);
        if self.gdb {
            a.extend(["-s".into(), "-S".into()]);
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

impl Machine {
    /// The flattened device tree QEMU builds for this machine (before the guest's
    /// client-architecture-support), as `-M pseries,dumpdtb=FILE` writes it.
    pub fn dump_dtb(&self, file: &Path) -> Result<Vec<u8>, String> {
        let mut args = self.qemu_args(Path::new("/dev/null"), None);
        let m = args.iter().position(|a| a == "-M").ok_or("no -M")? + 1;
        args[m] = format!("{},dumpdtb={}", args[m], file.display());
        // No kernel is needed to build the tree (and -append/-initrd need one).
        for opt in ["-kernel", "-append", "-initrd"] {
            if let Some(k) = args.iter().position(|a| a == opt) {
                args.drain(k..k + 2);
            }
        }
        let out = std::process::Command::new(crate::qemu_binary())
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run QEMU: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "QEMU dumpdtb failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))
    }
}

impl Machine {
    /// [`Machine::dump_dtb`] into `file`, and the memory that tree describes (see
    /// [`memory_ranges`]).
    pub fn dumped_memory(&self, file: &Path) -> Result<(Vec<u8>, Vec<MemoryRange>), String> {
        let blob = self.dump_dtb(file)?;
        let ranges = memory_ranges(&blob).map_err(|e| format!("{}: {e}", file.display()))?;
        Ok((blob, ranges))
    }
}

/// A range of memory: base, end (exclusive), NUMA node.
pub type MemoryRange = (u64, u64, u32);

/// The memory a flattened device tree describes in its `memory` nodes: every `reg` entry
/// as `(base, end exclusive, node)`, the node read from `ibm,associativity` at the first
/// reference point of `/rtas` (node 0 without them), sorted, touching ranges of one node
/// merged. Memory added later through `ibm,dynamic-reconfiguration-memory` is not in it.
pub fn memory_ranges(blob: &[u8]) -> Result<Vec<MemoryRange>, String> {
    use sparsek::fdt::Fdt;
    let e = |e: sparsek::fdt::FdtError| format!("device tree: {e}");
    let fdt = Fdt::new(blob).map_err(e)?;
    let cells = |p: &[u8]| -> Vec<u32> {
        p.chunks_exact(4)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()))
            .collect()
    };
    let depth = match fdt.find_node("/rtas").map_err(e)? {
        Some(rtas) => rtas
            .property("ibm,associativity-reference-points")
            .map_err(e)?
            .and_then(|p| cells(p.value).first().copied()),
        None => None,
    };
    let mut out = Vec::new();
    for n in fdt.root().children() {
        let n = n.map_err(e)?;
        let ty = n.property("device_type").map_err(e)?;
        if ty.and_then(|p| p.as_str()) != Some("memory") {
            continue;
        }
        let reg = n
            .property("reg")
            .map_err(e)?
            .ok_or("a memory node without reg")?;
        let node = match (depth, n.property("ibm,associativity").map_err(e)?) {
            (Some(d), Some(a)) => *cells(a.value)
                .get(d as usize)
                .ok_or("ibm,associativity shorter than the reference point")?,
            _ => 0,
        };
        for r in cells(reg.value).chunks_exact(4) {
            let base = (u64::from(r[0]) << 32) | u64::from(r[1]);
            let size = (u64::from(r[2]) << 32) | u64::from(r[3]);
            let end = base
                .checked_add(size)
                .ok_or_else(|| format!("memory at {base:#x} + {size:#x} wraps around 2^64"))?;
            out.push((base, end, node));
        }
    }
    out.sort();
    out.dedup_by(|next, prev| {
        let joins = prev.1 == next.0 && prev.2 == next.2;
        if joins {
            prev.1 = next.1;
        }
        joins
    });
    Ok(out)
}

/// Slots for hot-pluggable memory when `maxmem` is set.
pub const DIMM_SLOTS: u32 = 4;

/// Quote a command line for display (copy-pasteable into a POSIX shell).
pub fn shell_quote(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=,./:+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1024"), Ok(1 << 30));
        assert!(parse_size("2X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("0G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }

    #[test]
    fn default_machine_is_the_2018_report() {
        let a = Machine::default().qemu_args(Path::new("/k"), None);
        let line = shell_quote(&a);
        assert!(line.starts_with("-nographic -vga none -M pseries,cap-hpt-max-page-size=16M,"));
        assert!(line.contains(" -m 2048M -kernel /k -action panic=exit-failure -no-reboot"));
        assert!(!line.contains("x-vof"));
    }

    #[test]
    fn options_map_to_qemu_arguments() {
        let m = Machine {
            firmware: Firmware::Vof,
            hpt_16m: false,
            cpu: Some("power10".into()),
            memory: 3 << 30,
            numa: vec![1 << 30, 2 << 30],
            smp: 2,
            append: "debug a=\"b c\"".into(),
            gdb: true,
            extra: vec!["-d".into(), "int".into()],
            ..Machine::default()
        };
        let a = m.qemu_args(Path::new("/k"), None);
        let line = shell_quote(&a);
        assert!(line.contains("-M pseries,x-vof=on,cap-cfpc"), "{line}");
        assert!(!line.contains("cap-hpt-max-page-size"));
        assert!(line.contains("-cpu power10 -m 3072M -smp 2"));
        assert!(line.contains(
            "-object memory-backend-ram,id=ram-node0,size=1024M -numa node,nodeid=0,memdev=ram-node0"
        ));
        assert!(line.contains("size=2048M -numa node,nodeid=1,memdev=ram-node1"));
        assert!(line.contains("-append 'debug a=\"b c\"'"));
        assert!(line.ends_with("-s -S -d int"));
    }

    #[test]
    fn reserve_off_backs_ram_with_unreserved_objects() {
        let big = Machine {
            firmware: Firmware::Vof,
            memory: 64 << 30,
            reserve_off: true,
            ..Machine::default()
        };
        let line = shell_quote(&big.qemu_args(Path::new("/k"), None));
        assert!(
            line.contains(
                " -m 65536M -object memory-backend-ram,id=ram,size=65536M,reserve=off \
                 -machine memory-backend=ram -kernel /k"
            ),
            "{line}"
        );
        // Off by default: plain -m, no backend object.
        let plain = Machine {
            reserve_off: false,
            ..big.clone()
        };
        let line = shell_quote(&plain.qemu_args(Path::new("/k"), None));
        assert!(line.contains(" -m 65536M -kernel /k"), "{line}");
        assert!(!line.contains("memory-backend") && !line.contains("reserve="));
        // With NUMA the nodes' own backends are unreserved and no machine backend is set
        // (QEMU refuses one next to -numa memdev=).
        let numa = Machine {
            numa: vec![8 << 30, 24 << 30, 32 << 30],
            ..big.clone()
        };
        let a = numa.qemu_args(Path::new("/k"), None);
        let line = shell_quote(&a);
        assert!(
            line.contains(
                " -m 65536M -object memory-backend-ram,id=ram-node0,size=8192M,reserve=off \
             -numa node,nodeid=0,memdev=ram-node0 \
             -object memory-backend-ram,id=ram-node1,size=24576M,reserve=off \
             -numa node,nodeid=1,memdev=ram-node1 \
             -object memory-backend-ram,id=ram-node2,size=32768M,reserve=off \
             -numa node,nodeid=2,memdev=ram-node2 -kernel"
            ),
            "{line}"
        );
        assert!(
            !a.iter().any(|x| x.starts_with("memory-backend=")),
            "{line}"
        );
        // DIMMs' backends too; the machine's RAM keeps its own.
        let dimms = Machine {
            maxmem: Some(8 << 30),
            dimms: vec![1 << 30],
            memory: 2 << 30,
            ..big
        };
        let line = shell_quote(&dimms.qemu_args(Path::new("/k"), None));
        assert!(line.contains(
            " -m 2048M,slots=4,maxmem=8192M -object memory-backend-ram,id=ram,size=2048M,reserve=off \
             -machine memory-backend=ram \
             -object memory-backend-ram,id=dimm0-mem,size=1024M,reserve=off \
             -device pc-dimm,id=dimm0,memdev=dimm0-mem"
        ), "{line}");
    }

    #[test]
    fn firmware_none_uses_the_boot_rom() {
        let m = Machine {
            firmware: Firmware::None,
            ..Machine::default()
        };
        let a = m.qemu_args(Path::new("/k"), Some(Path::new("/rom")));
        assert!(shell_quote(&a).contains("-bios /rom -kernel /k"));
        let rom = boot_rom_bytes();
        assert_eq!(rom.len(), 0x104);
        assert_eq!(&rom[0x100..], &[0x48, 0x40, 0x00, 0x02]);
    }
}

#[cfg(test)]
mod memory_range_tests {
    use super::memory_ranges;
    use sparsek::fdt::Writer;

    fn tree(reg: &[u32]) -> Vec<u8> {
        let mut w = Writer::new();
        w.begin("")
            .prop_u32s("#address-cells", &[2])
            .prop_u32s("#size-cells", &[2])
            .begin("memory@0")
            .prop_str("device_type", "memory")
            .prop_u32s("reg", reg)
            .end()
            .end();
        w.finish().unwrap()
    }

    #[test]
    fn ranges_and_a_range_that_wraps() {
        let two_halves = [0, 0, 0, 0x4000_0000, 0, 0x4000_0000, 0, 0x4000_0000];
        assert_eq!(
            memory_ranges(&tree(&two_halves)),
            Ok(vec![(0, 0x8000_0000, 0)])
        );
        let e = memory_ranges(&tree(&[0xffff_ffff, 0xffff_0000, 0, 0x2_0000])).unwrap_err();
        assert!(e.contains("wraps around 2^64"), "{e}");
    }
}
