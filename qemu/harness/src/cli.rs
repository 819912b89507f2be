//! The `qemu/run` command line (option names are a contract; see the README).

use std::path::PathBuf;
use std::time::Duration;

use crate::machine::{Firmware, Machine, parse_size};

pub const RUN_USAGE: &str = "\
usage: qemu/run [options] [-- extra qemu args]

Build the kernel (release) if needed and boot it under qemu-system-ppc64 -M pseries,
streaming the console. Default machine: SLOF, -m 2G, 16M hash pages allowed.

options:
  --vof              boot through QEMU's Virtual Open Firmware (-M pseries,x-vof=on)
  --fdt              boot without firmware: r5 = 0, r3 = QEMU's flattened device tree
  -m SIZE            memory size (e.g. 512M, 2G, 64G; a bare number is MiB)
  --no-16m           keep QEMU's default 64K hash page-size cap (no 16M pages)
  --cpu MODEL        CPU model (power8, power9, power10, ...)
  --numa SIZE,...    one NUMA node per size (total = -m)
  --smp N            number of CPUs
  --maxmem SIZE      allow hot-pluggable memory up to SIZE (-m X,slots=4,maxmem=SIZE)
  --dimm SIZE        cold-plug a pc-dimm of SIZE (repeatable; needs --maxmem)
  --reserve-off      back guest RAM with memory-backend-ram objects with reserve=off
                     (-object memory-backend-ram,id=ram,size=SIZE,reserve=off
                     -machine memory-backend=ram; --numa nodes' and --dimm backends get
                     reserve=off too): QEMU reserves no host swap for the guest, so a
                     guest larger than the host can reserve starts (e.g. -m 64G on a
                     24 GiB host, where plain -m 64G fails with \"cannot set up guest
                     memory\"); host memory is used only where the guest writes
  --append \"ARGS\"    kernel command line
  --initrd FILE      initrd image
  --timeout SECONDS  kill QEMU after this long (default 60; none with --gdb)
  --gdb              start QEMU's gdbstub on tcp::1234 and wait for a debugger
  --kernel ELF       boot this ELF instead of building
  --log FILE         console log file (default target/qemu/run.log)
  -h, --help         this text

exit status: 0 kernel reported success, 1 kernel reported failure, 2 bad options,
3 build failure, 4 QEMU missing or failed before the kernel ran, 124 timeout.
";

#[derive(Clone, Debug)]
pub struct RunArgs {
    pub machine: Machine,
    pub timeout: Option<Duration>,
    pub kernel: Option<PathBuf>,
    pub log: Option<PathBuf>,
    pub help: bool,
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Parse `qemu/run` arguments (without the program name).
pub fn parse_run_args<I: IntoIterator<Item = String>>(args: I) -> Result<RunArgs, String> {
    parse_run_args_with(args, &mut |_, _| Ok(false))
}

/// A command's own options beside `qemu/run`'s: called with each option `qemu/run` does
/// not know and the remaining arguments (to take a value from); returns whether it took
/// the option.
pub type ExtraOptions<'a> =
    dyn FnMut(&str, &mut dyn Iterator<Item = String>) -> Result<bool, String> + 'a;

/// [`parse_run_args`] for a command that takes more options (`qemu/bisect-check`).
pub fn parse_run_args_with<I: IntoIterator<Item = String>>(
    args: I,
    extra: &mut ExtraOptions,
) -> Result<RunArgs, String> {
    let mut m = Machine::default();
    let mut memory = None;
    let mut timeout = None;
    let mut kernel = None;
    let mut log = None;
    let mut help = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--" => {
                m.extra.extend(it.by_ref());
                break;
            }
            "--vof" => m.firmware = Firmware::Vof,
            "--fdt" => m.firmware = Firmware::None,
            "-m" => memory = Some(parse_size(&value("-m")?)?),
            "--no-16m" => m.hpt_16m = false,
            "--cpu" => m.cpu = Some(value("--cpu")?),
            "--numa" => {
                m.numa = value("--numa")?
                    .split(',')
                    .map(parse_size)
                    .collect::<Result<_, _>>()?;
            }
            "--smp" => {
                let v = value("--smp")?;
                m.smp = v
                    .parse()
                    .ok()
                    .filter(|&n| n >= 1)
                    .ok_or_else(|| format!("--smp: bad CPU count '{v}'"))?;
            }
            "--maxmem" => m.maxmem = Some(parse_size(&value("--maxmem")?)?),
            "--dimm" => m.dimms.push(parse_size(&value("--dimm")?)?),
            "--reserve-off" => m.reserve_off = true,
            "--append" => m.append = value("--append")?,
            "--initrd" => m.initrd = Some(PathBuf::from(value("--initrd")?)),
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| s.is_finite() && *s > 0.0)
                    .ok_or_else(|| format!("--timeout: bad number of seconds '{v}'"))?;
                timeout = Some(Duration::from_secs_f64(secs));
            }
            "--gdb" => m.gdb = true,
            "--kernel" => kernel = Some(PathBuf::from(value("--kernel")?)),
            "--log" => log = Some(PathBuf::from(value("--log")?)),
            "-h" | "--help" => help = true,
            other => {
                if !extra(other, &mut it)? {
                    return Err(format!("unknown option '{other}' (see --help)"));
                }
            }
        }
    }
    if !m.numa.is_empty() {
        let total: u64 = m.numa.iter().sum();
        match memory {
            Some(mem) if mem != total => {
                return Err(format!(
                    "-m ({} MiB) differs from the sum of --numa sizes ({} MiB)",
                    mem >> 20,
                    total >> 20
                ));
            }
            _ => memory = Some(total),
        }
    }
    if let Some(mem) = memory {
        m.memory = mem;
    }
    // QEMU's pseries hotplug rules: memory blocks are 256 MiB, maxmem must exceed -m.
    const BLOCK: u64 = 256 << 20;
    match m.maxmem {
        None if !m.dimms.is_empty() => return Err("--dimm needs --maxmem".into()),
        Some(max) if max <= m.memory || max < m.memory + m.dimms.iter().sum::<u64>() => {
            return Err(format!(
                "--maxmem ({} MiB) must exceed -m and hold the DIMMs",
                max >> 20
            ));
        }
        Some(max) if max % BLOCK != 0 || m.dimms.iter().any(|d| d % BLOCK != 0) => {
            return Err("--maxmem and --dimm sizes must be multiples of 256M".into());
        }
        _ => {}
    }
    let timeout = match timeout {
        Some(t) => Some(t),
        None if m.gdb => None,
        None => Some(DEFAULT_TIMEOUT),
    };
    Ok(RunArgs {
        machine: m,
        timeout,
        kernel,
        log,
        help,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &[&str]) -> Result<RunArgs, String> {
        parse_run_args(s.iter().map(|s| s.to_string()))
    }

    #[test]
    fn maxmem_and_dimms() {
        let a = parse(&["--maxmem", "8G", "--dimm", "1G", "--dimm", "512M"]).unwrap();
        assert_eq!(a.machine.maxmem, Some(8 << 30));
        assert_eq!(a.machine.dimms, [1 << 30, 512 << 20]);
        let line = a
            .machine
            .qemu_args(std::path::Path::new("k"), None)
            .join(" ");
        assert!(line.contains("-m 2048M,slots=4,maxmem=8192M"), "{line}");
        assert!(line.contains("-object memory-backend-ram,id=dimm1-mem,size=512M -device pc-dimm,id=dimm1,memdev=dimm1-mem"), "{line}");
        assert!(
            parse(&["--dimm", "1G"])
                .unwrap_err()
                .contains("needs --maxmem")
        );
        let err = |a: &[&str]| parse(a).unwrap_err();
        assert!(err(&["--maxmem", "2G", "--dimm", "1G"]).contains("must exceed"));
        assert!(err(&["--maxmem", "2G"]).contains("must exceed"));
        assert!(err(&["--maxmem", "4G", "--dimm", "100M"]).contains("256M"));
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.machine.firmware, Firmware::Slof);
        assert_eq!(a.machine.memory, 2 << 30);
        assert!(a.machine.hpt_16m);
        assert!(!a.machine.reserve_off);
        assert_eq!(a.timeout, Some(DEFAULT_TIMEOUT));
    }

    #[test]
    fn reserve_off_for_guests_larger_than_the_host() {
        let a = parse(&["--vof", "-m", "64G", "--reserve-off"]).unwrap();
        assert!(a.machine.reserve_off);
        assert_eq!(a.machine.memory, 64 << 30);
        let line = a
            .machine
            .qemu_args(std::path::Path::new("k"), None)
            .join(" ");
        assert!(
            line.contains(
                "-m 65536M -object memory-backend-ram,id=ram,size=65536M,reserve=off \
                 -machine memory-backend=ram -kernel k"
            ),
            "{line}"
        );
        // With --numa the nodes' backends carry it.
        let a = parse(&["--reserve-off", "--numa", "16G,48G"]).unwrap();
        let line = a
            .machine
            .qemu_args(std::path::Path::new("k"), None)
            .join(" ");
        assert!(
            line.contains(
                "-m 65536M -object memory-backend-ram,id=ram-node0,size=16384M,reserve=off \
                 -numa node,nodeid=0,memdev=ram-node0 \
                 -object memory-backend-ram,id=ram-node1,size=49152M,reserve=off"
            ),
            "{line}"
        );
        assert!(!line.contains("memory-backend=ram"), "{line}");
        assert!(RUN_USAGE.contains("--reserve-off"));
    }

    #[test]
    fn all_options() {
        let a = parse(&[
            "--vof",
            "-m",
            "4G",
            "--no-16m",
            "--cpu",
            "power8",
            "--numa",
            "1G,3G",
            "--smp",
            "2",
            "--append",
            "debug x=\"a b\"",
            "--initrd",
            "/i",
            "--timeout",
            "2.5",
            "--kernel",
            "/k",
            "--log",
            "/l",
            "--",
            "-d",
            "int",
        ])
        .unwrap();
        let m = &a.machine;
        assert_eq!(m.firmware, Firmware::Vof);
        assert_eq!(m.memory, 4 << 30);
        assert!(!m.hpt_16m);
        assert_eq!(m.cpu.as_deref(), Some("power8"));
        assert_eq!(m.numa, vec![1 << 30, 3 << 30]);
        assert_eq!(m.smp, 2);
        assert_eq!(m.append, "debug x=\"a b\"");
        assert_eq!(a.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(a.kernel, Some(PathBuf::from("/k")));
        assert_eq!(m.extra, ["-d", "int"]);
    }

    #[test]
    fn numa_sets_memory_and_must_agree_with_m() {
        assert_eq!(parse(&["--numa", "1G,1G"]).unwrap().machine.memory, 2 << 30);
        assert!(parse(&["--numa", "1G,1G", "-m", "3G"]).is_err());
        assert!(parse(&["--numa", "1G,,1G"]).is_err());
    }

    #[test]
    fn errors_name_the_option() {
        assert!(parse(&["--bogus"]).unwrap_err().contains("--bogus"));
        assert!(parse(&["-m"]).unwrap_err().contains("-m needs a value"));
        assert!(parse(&["--smp", "0"]).unwrap_err().contains("--smp"));
        assert!(
            parse(&["--timeout", "-1"])
                .unwrap_err()
                .contains("--timeout")
        );
        assert!(parse(&["--gdb"]).unwrap().timeout.is_none());
        assert!(
            parse(&["--gdb", "--timeout", "5"])
                .unwrap()
                .timeout
                .is_some()
        );
    }
}
