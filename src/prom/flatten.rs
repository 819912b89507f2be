//! Flatten an Open Firmware device tree into an FDT blob, as Linux's prom_init does
//! before it leaves the firmware behind.
//!
//! The tree is walked depth first through the client-interface services `peer`, `child`,
//! `parent`, `package-to-path`, `nextprop`, `getprop` and `getproplen`, behind the
//! [`OfTree`] trait: the kernel implements it with real client-interface calls, host tests
//! with a model built from a QEMU-dumped blob. Each property is read with one `getprop`
//! into a [`PROBE`]-byte buffer (IEEE 1275's getprop returns the full length); only a
//! property that may not have fit is measured with `getproplen` and read again, so a
//! tree costs about two calls per property rather than three. For each node:
//!
//! ```text
//!   name     = last component of package-to-path ("" for the root)
//!   props    = every property nextprop lists, in firmware order, except "name"
//!              (derivable from the node name, as Linux also skips it), plus
//!              "phandle" = the package handle when the firmware has none
//! ```

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::fdt::{MAX_DEPTH, Writer, WriterError};

/// Largest property the flattener copies; anything larger is taken as a firmware fault.
pub const MAX_PROPERTY: usize = 1 << 20;
/// Most nodes flattened before the walk is taken as runaway.
pub const MAX_NODES: usize = 1 << 16;
/// Most properties of one node before `nextprop` is taken as looping.
pub const MAX_PROPERTIES: usize = 4096;
/// Bytes read by the first `getprop` of a property; one at least this long is measured
/// with `getproplen` and read again (also guarding against a firmware that returns the
/// bytes copied instead of the property's length).
pub const PROBE: usize = 1024;
/// Property names are at most 31 characters by IEEE 1275, but SLOF writes longer ones;
/// the name buffer is generous.
pub const PROP_NAME_BUF: usize = 256;

/// The client-interface services the flattener needs. Handles are package handles
/// (phandles); `None` means "no such node".
pub trait OfTree {
    type Error: fmt::Display;
    /// The root node (`peer(0)`).
    fn root(&mut self) -> Result<u32, Self::Error>;
    fn child(&mut self, node: u32) -> Result<Option<u32>, Self::Error>;
    fn peer(&mut self, node: u32) -> Result<Option<u32>, Self::Error>;
    fn parent(&mut self, node: u32) -> Result<Option<u32>, Self::Error>;
    /// `package-to-path` into `buf`; returns the length the firmware reports (SLOF
    /// counts without the NUL, VOF with it; either may exceed `buf.len()`).
    fn package_to_path(&mut self, node: u32, buf: &mut [u8]) -> Result<usize, Self::Error>;
    /// `nextprop`: write the name of the property after `prev` (`""` for the first) into
    /// `buf` NUL-terminated; `false` when there is none.
    fn nextprop(&mut self, node: u32, prev: &str, buf: &mut [u8]) -> Result<bool, Self::Error>;
    /// `getproplen`; `None` when the property does not exist.
    fn getproplen(&mut self, node: u32, name: &str) -> Result<Option<usize>, Self::Error>;
    /// `getprop` into `buf`; returns the property's full length (which may exceed
    /// `buf.len()`: then only `buf.len()` bytes were copied), `None` when the property
    /// does not exist.
    fn getprop(
        &mut self,
        node: u32,
        name: &str,
        buf: &mut [u8],
    ) -> Result<Option<usize>, Self::Error>;
}

/// Why flattening failed.
#[derive(Debug)]
pub enum FlattenError<E> {
    /// A client-interface call failed.
    Firmware(E),
    /// The walk returned to a node without a parent before finishing.
    NoParent(u32),
    /// `package-to-path` gave nothing usable.
    BadPath(u32),
    /// A property name was not NUL-terminated UTF-8 within the buffer.
    BadPropertyName(u32),
    PropertyTooLarge {
        node: u32,
        len: usize,
    },
    TooManyNodes,
    TooManyProperties(u32),
    TooDeep,
    /// `getprop` returned a different length than `getproplen`.
    LengthChanged {
        node: u32,
        expected: usize,
        got: usize,
    },
    Writer(WriterError),
}

impl<E: fmt::Display> fmt::Display for FlattenError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlattenError::Firmware(e) => write!(f, "{e}"),
            FlattenError::NoParent(n) => write!(f, "node 0x{n:x} has no parent"),
            FlattenError::BadPath(n) => write!(f, "package-to-path of node 0x{n:x} unusable"),
            FlattenError::BadPropertyName(n) => {
                write!(f, "node 0x{n:x}: property name not terminated")
            }
            FlattenError::PropertyTooLarge { node, len } => write!(
                f,
                "node 0x{node:x}: property of {len} bytes exceeds {MAX_PROPERTY}"
            ),
            FlattenError::TooManyNodes => write!(f, "more than {MAX_NODES} nodes"),
            FlattenError::TooManyProperties(n) => {
                write!(f, "node 0x{n:x}: more than {MAX_PROPERTIES} properties")
            }
            FlattenError::TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}"),
            FlattenError::LengthChanged {
                node,
                expected,
                got,
            } => write!(
                f,
                "node 0x{node:x}: getprop returned {got} bytes, getproplen said {expected}"
            ),
            FlattenError::Writer(e) => write!(f, "{e}"),
        }
    }
}

impl<E> From<WriterError> for FlattenError<E> {
    fn from(e: WriterError) -> Self {
        FlattenError::Writer(e)
    }
}

/// What a flattening produced.
pub struct Flattened {
    pub blob: Vec<u8>,
    pub nodes: usize,
    pub properties: usize,
}

/// Walk the whole tree and emit it as a version 17 FDT with the given reservation map and
/// `boot_cpuid_phys`.
pub fn flatten<T: OfTree>(
    tree: &mut T,
    reservations: &[(u64, u64)],
    boot_cpuid_phys: u32,
) -> Result<Flattened, FlattenError<T::Error>> {
    let mut w = Writer::new();
    w.reservations.extend_from_slice(reservations);
    w.boot_cpuid_phys = boot_cpuid_phys;
    let mut path = vec![0u8; 256];
    let mut value = Vec::new();

    let root = tree.root().map_err(FlattenError::Firmware)?;
    let mut node = root;
    let mut depth = 0usize;
    emit_node(tree, &mut w, node, true, &mut path, &mut value)?;
    loop {
        if let Some(c) = tree.child(node).map_err(FlattenError::Firmware)? {
            depth += 1;
            if depth >= MAX_DEPTH {
                return Err(FlattenError::TooDeep);
            }
            node = c;
            emit_node(tree, &mut w, node, false, &mut path, &mut value)?;
            continue;
        }
        // A leaf: close nodes until one has a next sibling.
        loop {
            w.end();
            if depth == 0 {
                let (nodes, properties) = w.counts();
                return Ok(Flattened {
                    blob: w.finish()?,
                    nodes,
                    properties,
                });
            }
            if let Some(p) = tree.peer(node).map_err(FlattenError::Firmware)? {
                node = p;
                emit_node(tree, &mut w, node, false, &mut path, &mut value)?;
                break;
            }
            node = tree
                .parent(node)
                .map_err(FlattenError::Firmware)?
                .ok_or(FlattenError::NoParent(node))?;
            depth -= 1;
        }
    }
}

fn emit_node<T: OfTree>(
    tree: &mut T,
    w: &mut Writer,
    node: u32,
    is_root: bool,
    path: &mut Vec<u8>,
    value: &mut Vec<u8>,
) -> Result<(), FlattenError<T::Error>> {
    if w.counts().0 >= MAX_NODES {
        return Err(FlattenError::TooManyNodes);
    }
    let name = if is_root {
        ""
    } else {
        node_name(tree, node, path)?
    };
    w.begin(name);

    let mut prev = [0u8; PROP_NAME_BUF];
    let mut next = [0u8; PROP_NAME_BUF];
    let mut has_phandle = false;
    for listed in 0.. {
        if listed > MAX_PROPERTIES {
            return Err(FlattenError::TooManyProperties(node));
        }
        let prev_name = cstr(&prev).ok_or(FlattenError::BadPropertyName(node))?;
        next.fill(0);
        if !tree
            .nextprop(node, prev_name, &mut next)
            .map_err(FlattenError::Firmware)?
        {
            break;
        }
        let pname = cstr(&next).ok_or(FlattenError::BadPropertyName(node))?;
        if pname.is_empty() {
            break;
        }
        if pname != "name" {
            value.clear();
            value.resize(PROBE, 0);
            let probed = tree
                .getprop(node, pname, value)
                .map_err(FlattenError::Firmware)?;
            // Listed but unreadable: skipped, as Linux does.
            let len = match probed {
                None => None,
                Some(len) if len < PROBE => Some(len),
                Some(_) => whole_property(tree, node, pname, value)?,
            };
            if let Some(len) = len {
                has_phandle |= pname == "phandle" || pname == "linux,phandle";
                w.prop(pname, &value[..len]);
            }
        }
        prev = next;
    }
    if !has_phandle {
        w.prop_u32s("phandle", &[node]);
    }
    Ok(())
}

/// A property that may not have fitted the probe: its length from `getproplen`, then all
/// of it into `value`. `None` when it vanished.
fn whole_property<T: OfTree>(
    tree: &mut T,
    node: u32,
    pname: &str,
    value: &mut Vec<u8>,
) -> Result<Option<usize>, FlattenError<T::Error>> {
    let Some(len) = tree
        .getproplen(node, pname)
        .map_err(FlattenError::Firmware)?
    else {
        return Ok(None);
    };
    if len > MAX_PROPERTY {
        return Err(FlattenError::PropertyTooLarge { node, len });
    }
    value.clear();
    value.resize(len, 0);
    match tree
        .getprop(node, pname, value)
        .map_err(FlattenError::Firmware)?
    {
        Some(got) if got == len => Ok(Some(len)),
        got => Err(FlattenError::LengthChanged {
            node,
            expected: len,
            got: got.unwrap_or(0),
        }),
    }
}

/// The last component of the node's path.
fn node_name<'p, T: OfTree>(
    tree: &mut T,
    node: u32,
    path: &'p mut Vec<u8>,
) -> Result<&'p str, FlattenError<T::Error>> {
    loop {
        path.fill(0);
        let len = tree
            .package_to_path(node, path)
            .map_err(FlattenError::Firmware)?;
        // SLOF reports the length without the NUL, VOF with it: grow until both fit.
        if len + 1 > path.len() {
            if path.len() >= 4096 {
                return Err(FlattenError::BadPath(node));
            }
            path.resize(path.len() * 2, 0);
            continue;
        }
        let end = path[..len].iter().position(|&b| b == 0).unwrap_or(len);
        let full = core::str::from_utf8(&path[..end]).map_err(|_| FlattenError::BadPath(node))?;
        let name = full.rsplit('/').next().unwrap_or("");
        if name.is_empty() || !full.starts_with('/') {
            return Err(FlattenError::BadPath(node));
        }
        return Ok(name);
    }
}

fn cstr(buf: &[u8]) -> Option<&str> {
    let end = buf.iter().position(|&b| b == 0)?;
    core::str::from_utf8(&buf[..end]).ok()
}

#[cfg(test)]
mod tests;
