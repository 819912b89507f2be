//! The Open Firmware client interface (IEEE 1275), as SLOF and VOF provide it.
//!
//! The interface is big-endian and 32-bit: `__of_call` (of_call.S) switches to that mode
//! and back. Arguments travel in a block of big-endian 32-bit cells
//! `service-name, nargs, nret, args..., rets...`; every address in it is physical and
//! below 4 GiB (the kernel image, its stack and statics are). Each call runs inside a
//! [`FirmwareWindow`](super::exceptions::FirmwareWindow).

use core::ffi::CStr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::exceptions::FirmwareWindow;
use super::hcall::HStatus;
use super::virt_to_phys;

unsafe extern "C" {
    fn __of_call(args_phys: u64, entry: u64) -> i64;
}

/// A device-tree node handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phandle(pub u32);

/// How a client-interface call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfError {
    /// The firmware returned -1 from the call itself (unknown service, bad arguments).
    CallFailed { service: &'static str },
    /// The call succeeded but reported failure in its return cell (-1: no such node or
    /// property, 0 for a handle).
    Failed { service: &'static str },
    /// An argument was unusable before reaching the firmware (e.g. a too-long path).
    BadArgument { service: &'static str },
    /// The hypervisor refused to switch interrupts back to big-endian, so the
    /// firmware's vectors could not be restored and the firmware was not called.
    NoWindow {
        service: &'static str,
        status: HStatus,
    },
    /// The kernel has left the firmware behind (its memory may be reused): no more calls.
    Gone { service: &'static str },
}

impl core::fmt::Display for OfError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            OfError::CallFailed { service } => write!(f, "OF client call {service} failed"),
            OfError::Failed { service } => write!(f, "OF {service} returned failure"),
            OfError::BadArgument { service } => write!(f, "OF {service}: unusable argument"),
            OfError::NoWindow { service, status } => write!(
                f,
                "OF {service} not called: big-endian interrupts refused ({status})"
            ),
            OfError::Gone { service } => {
                write!(
                    f,
                    "OF {service} not called: the firmware has been left behind"
                )
            }
        }
    }
}

/// Most argument plus return cells a call may have.
const MAX_CELLS: usize = 10;

/// Longest path or property name passed to the firmware (NUL included).
const NAME_MAX: usize = 256;

/// Client-interface calls made so far (reported at the end of the tree walk).
static CALLS: AtomicUsize = AtomicUsize::new(0);
/// Set by [`leave_firmware`]: the firmware's memory is no longer reserved.
static GONE: AtomicBool = AtomicBool::new(false);

/// Number of client-interface calls made since boot.
pub fn calls() -> usize {
    CALLS.load(Ordering::Relaxed)
}

/// From now on every call fails with [`OfError::Gone`]: the kernel stops treating the
/// firmware's memory as reserved.
pub fn leave_firmware() {
    GONE.store(true, Ordering::Release);
}

/// An open instance (ihandle).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ihandle(pub u32);

/// The client interface entry the firmware passed in r5.
#[derive(Clone, Copy, Debug)]
pub struct OfClient {
    entry: u64,
}

#[repr(C, align(8))]
struct Args {
    cells: [u32; 3 + MAX_CELLS],
}

/// A NUL-terminated copy of `s` in a buffer the firmware can read.
struct CName {
    buf: [u8; NAME_MAX],
}

/// The 32-bit physical address of kernel memory handed to the firmware. The whole kernel
/// image (stacks, statics, heap) lies below 4 GiB; anything else is a kernel bug.
fn phys32(va: u64) -> u32 {
    let pa = virt_to_phys(va);
    assert!(pa < 1 << 32, "OF argument at 0x{pa:x} is above 4 GiB");
    pa as u32
}

impl CName {
    fn new(s: &str, service: &'static str) -> Result<Self, OfError> {
        if s.len() >= NAME_MAX || s.as_bytes().contains(&0) {
            return Err(OfError::BadArgument { service });
        }
        let mut buf = [0u8; NAME_MAX];
        buf[..s.len()].copy_from_slice(s.as_bytes());
        Ok(CName { buf })
    }
    fn phys(&self) -> u32 {
        phys32(self.buf.as_ptr() as u64)
    }
}

impl OfClient {
    /// # Safety
    /// `entry` must be the client-interface entry point the firmware passed in r5, and the
    /// firmware must still be intact (not overwritten by the kernel).
    pub const unsafe fn new(entry: u64) -> Self {
        OfClient { entry }
    }

    /// Raw call: `args` in, `rets` out (host-endian values; converted here).
    pub fn call(
        &self,
        service: &'static CStr,
        args: &[u32],
        rets: &mut [u32],
    ) -> Result<(), OfError> {
        let name = service.to_str().unwrap_or("?");
        if GONE.load(Ordering::Acquire) {
            return Err(OfError::Gone { service: name });
        }
        let (nargs, nret) = (args.len(), rets.len());
        // QEMU's VOF accepts at most 10 argument and return cells in all.
        if nargs + nret > MAX_CELLS {
            return Err(OfError::BadArgument { service: name });
        }
        if super::fault::of_call(name) {
            return Err(OfError::CallFailed { service: name });
        }
        let mut block = Args {
            cells: [0; 3 + MAX_CELLS],
        };
        block.cells[0] = phys32(service.as_ptr() as u64).to_be();
        block.cells[1] = (nargs as u32).to_be();
        block.cells[2] = (nret as u32).to_be();
        for (i, a) in args.iter().enumerate() {
            block.cells[3 + i] = a.to_be();
        }
        let rc = {
            let _window = FirmwareWindow::open().map_err(|status| OfError::NoWindow {
                service: name,
                status,
            })?;
            CALLS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: entry is the live client interface (OfClient::new's contract); the
            // block and every buffer its cells point to are kernel memory below 4 GiB that
            // outlives the call; __of_call preserves the kernel's non-volatile state.
            unsafe { __of_call(virt_to_phys(&raw mut block as u64), self.entry) }
        };
        if rc != 0 {
            return Err(OfError::CallFailed { service: name });
        }
        for (i, r) in rets.iter_mut().enumerate() {
            // SAFETY: volatile read of cells the firmware wrote behind the compiler.
            *r = u32::from_be(unsafe { core::ptr::read_volatile(&block.cells[3 + nargs + i]) });
        }
        Ok(())
    }

    /// `finddevice`: the node at a path, or an error when there is none.
    pub fn finddevice(&self, path: &str) -> Result<Phandle, OfError> {
        let service = "finddevice";
        let p = CName::new(path, service)?;
        let mut r = [0u32; 1];
        self.call(c"finddevice", &[p.phys()], &mut r)?;
        if r[0] == 0 || r[0] == u32::MAX {
            return Err(OfError::Failed { service });
        }
        Ok(Phandle(r[0]))
    }

    /// `getprop` into `buf`; returns the property's full length (which may exceed
    /// `buf.len()`, in which case only `buf.len()` bytes were copied).
    pub fn getprop(&self, node: Phandle, name: &str, buf: &mut [u8]) -> Result<usize, OfError> {
        let service = "getprop";
        let n = CName::new(name, service)?;
        let mut r = [0u32; 1];
        let addr = phys32(buf.as_mut_ptr() as u64);
        self.call(
            c"getprop",
            &[node.0, n.phys(), addr, buf.len() as u32],
            &mut r,
        )?;
        if r[0] as i32 == -1 {
            return Err(OfError::Failed { service });
        }
        // The firmware wrote `buf` through its physical address; __of_call is opaque to
        // the compiler (an extern call), which is what orders our reads after it. The
        // fence documents that dependency.
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        Ok(r[0] as usize)
    }

    /// `getprop` of a single big-endian cell.
    pub fn getprop_u32(&self, node: Phandle, name: &str) -> Result<u32, OfError> {
        let mut b = [0u8; 4];
        match self.getprop(node, name, &mut b)? {
            4 => Ok(u32::from_be_bytes(b)),
            _ => Err(OfError::Failed { service: "getprop" }),
        }
    }

    /// `child`: first child of a node.
    pub fn child(&self, node: Phandle) -> Result<Option<Phandle>, OfError> {
        let mut r = [0u32; 1];
        self.call(c"child", &[node.0], &mut r)?;
        Ok((r[0] != 0 && r[0] != u32::MAX).then_some(Phandle(r[0])))
    }

    /// `peer`: next sibling of a node (`Phandle(0)` gives the root).
    pub fn peer(&self, node: Phandle) -> Result<Option<Phandle>, OfError> {
        let mut r = [0u32; 1];
        self.call(c"peer", &[node.0], &mut r)?;
        Ok((r[0] != 0 && r[0] != u32::MAX).then_some(Phandle(r[0])))
    }

    /// `parent`: the node's parent, `None` for the root.
    pub fn parent(&self, node: Phandle) -> Result<Option<Phandle>, OfError> {
        let mut r = [0u32; 1];
        self.call(c"parent", &[node.0], &mut r)?;
        Ok((r[0] != 0 && r[0] != u32::MAX).then_some(Phandle(r[0])))
    }

    /// `getproplen`: the property's length, `None` when it does not exist.
    pub fn getproplen(&self, node: Phandle, name: &str) -> Result<Option<usize>, OfError> {
        let n = CName::new(name, "getproplen")?;
        let mut r = [0u32; 1];
        self.call(c"getproplen", &[node.0, n.phys()], &mut r)?;
        Ok((r[0] as i32 >= 0).then_some(r[0] as usize))
    }

    /// `nextprop`: the name of the property after `prev` (`""` for the first) into `buf`,
    /// NUL-terminated; `false` when there is none. `buf` must be large: SLOF writes names
    /// longer than IEEE 1275's 32 bytes.
    pub fn nextprop(&self, node: Phandle, prev: &str, buf: &mut [u8]) -> Result<bool, OfError> {
        let service = "nextprop";
        if buf.len() < NAME_MAX {
            return Err(OfError::BadArgument { service });
        }
        let p = CName::new(prev, service)?;
        let mut r = [0u32; 1];
        let addr = phys32(buf.as_mut_ptr() as u64);
        self.call(c"nextprop", &[node.0, p.phys(), addr], &mut r)?;
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        match r[0] as i32 {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(OfError::Failed { service }),
        }
    }

    /// `package-to-path` into `buf`; returns the length the firmware reports (SLOF
    /// without the NUL, VOF with it).
    pub fn package_to_path(&self, node: Phandle, buf: &mut [u8]) -> Result<usize, OfError> {
        let service = "package-to-path";
        // VOF writes up to 256 bytes whatever length it is given.
        if buf.len() < NAME_MAX {
            return Err(OfError::BadArgument { service });
        }
        let mut r = [0u32; 1];
        let addr = phys32(buf.as_mut_ptr() as u64);
        self.call(
            c"package-to-path",
            &[node.0, addr, buf.len() as u32],
            &mut r,
        )?;
        core::sync::atomic::compiler_fence(Ordering::SeqCst);
        match r[0] as i32 {
            n if n >= 0 => Ok(n as usize),
            _ => Err(OfError::Failed { service }),
        }
    }

    /// `instance-to-package`: the node behind an open instance.
    pub fn instance_to_package(&self, ih: Ihandle) -> Result<Phandle, OfError> {
        let mut r = [0u32; 1];
        self.call(c"instance-to-package", &[ih.0], &mut r)?;
        if r[0] == 0 || r[0] == u32::MAX {
            return Err(OfError::Failed {
                service: "instance-to-package",
            });
        }
        Ok(Phandle(r[0]))
    }

    /// `open` a device by path.
    pub fn open(&self, path: &str) -> Result<Ihandle, OfError> {
        let p = CName::new(path, "open")?;
        let mut r = [0u32; 1];
        self.call(c"open", &[p.phys()], &mut r)?;
        if r[0] == 0 || r[0] == u32::MAX {
            return Err(OfError::Failed { service: "open" });
        }
        Ok(Ihandle(r[0]))
    }

    /// `close` an instance.
    pub fn close(&self, ih: Ihandle) -> Result<(), OfError> {
        self.call(c"close", &[ih.0], &mut [])
    }

    /// `call-method` `method` on instance `ih` with `args` (at most 6); returns the
    /// method's results after its catch result, which must be 0.
    pub fn call_method<const N: usize>(
        &self,
        method: &str,
        ih: Ihandle,
        args: &[u32],
    ) -> Result<[u32; N], OfError> {
        let service = "call-method";
        let m = CName::new(method, service)?;
        let mut a = [0u32; 8];
        if args.len() > 6 || N + 1 + 2 + args.len() > MAX_CELLS {
            return Err(OfError::BadArgument { service });
        }
        a[0] = m.phys();
        a[1] = ih.0;
        a[2..2 + args.len()].copy_from_slice(args);
        let mut r = [0u32; MAX_CELLS];
        self.call(c"call-method", &a[..2 + args.len()], &mut r[..N + 1])?;
        if r[0] != 0 {
            return Err(OfError::Failed { service });
        }
        let mut out = [0u32; N];
        out.copy_from_slice(&r[1..N + 1]);
        Ok(out)
    }
}
