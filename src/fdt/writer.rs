//! An FDT writer: builds a version 17 blob (header, memory reservation map, structure
//! block, deduplicated strings block) in memory. The Open Firmware flattener
//! ([`crate::prom::flatten`]) emits through it, and host tests build blobs with it.
//!
//! Calls chain; the first misuse (a name with NUL or `/`, an `end` without `begin`, a
//! second root, memory exhaustion) is remembered and reported by [`Writer::finish`], so the
//! blob is never silently wrong.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use super::{FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_PROP, HEADER_SIZE, MAX_DEPTH};

/// Why a blob could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriterError {
    BadNodeName(String),
    BadPropertyName(String),
    PropertyOutsideNode(String),
    UnbalancedEnd,
    SecondRoot(String),
    TooDeep,
    Unfinished(usize),
    TooLarge(usize),
    OutOfMemory(usize),
}

impl fmt::Display for WriterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterError::BadNodeName(n) => write!(f, "node name {n:?} contains NUL or '/'"),
            WriterError::BadPropertyName(n) => write!(f, "property name {n:?} is empty or has NUL"),
            WriterError::PropertyOutsideNode(n) => write!(f, "property {n:?} outside any node"),
            WriterError::UnbalancedEnd => write!(f, "end of node without a node"),
            WriterError::SecondRoot(n) => write!(f, "node {n:?} after the root was closed"),
            WriterError::TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}"),
            WriterError::Unfinished(d) => write!(f, "{d} node(s) left open"),
            WriterError::TooLarge(n) => write!(f, "blob of {n} bytes exceeds 4 GiB"),
            WriterError::OutOfMemory(n) => write!(f, "out of memory growing the blob by {n} bytes"),
        }
    }
}

/// Builds one flattened device tree.
#[derive(Default)]
pub struct Writer {
    structs: Vec<u8>,
    strings: Vec<u8>,
    string_offsets: BTreeMap<String, u32>,
    /// Memory reservation map entries `(address, size)`, in order.
    pub reservations: Vec<(u64, u64)>,
    /// The header's `boot_cpuid_phys`.
    pub boot_cpuid_phys: u32,
    depth: usize,
    roots: usize,
    error: Option<WriterError>,
    nodes: usize,
    properties: usize,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    fn fail(&mut self, e: WriterError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn push(&mut self, bytes: &[u8]) -> bool {
        // Room for the bytes plus a NUL and padding, so the infallible pushes after it
        // never reallocate.
        if self.structs.try_reserve(bytes.len() + 4).is_err() {
            self.fail(WriterError::OutOfMemory(bytes.len()));
            return false;
        }
        self.structs.extend_from_slice(bytes);
        true
    }

    fn pad(&mut self) {
        while !self.structs.len().is_multiple_of(4) {
            self.structs.push(0);
        }
    }

    /// Open a node (`""` for the root, `memory@0`, ...).
    pub fn begin(&mut self, name: &str) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if name.contains(['\0', '/']) {
            self.fail(WriterError::BadNodeName(name.into()));
        } else if self.depth == 0 && self.roots > 0 {
            self.fail(WriterError::SecondRoot(name.into()));
        } else if self.depth >= MAX_DEPTH {
            self.fail(WriterError::TooDeep);
        } else if self.push(&FDT_BEGIN_NODE.to_be_bytes()) && self.push(name.as_bytes()) {
            self.structs.push(0);
            self.pad();
            if self.depth == 0 {
                self.roots += 1;
            }
            self.depth += 1;
            self.nodes += 1;
        }
        self
    }

    /// Close the innermost open node.
    pub fn end(&mut self) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if self.depth == 0 {
            self.fail(WriterError::UnbalancedEnd);
        } else if self.push(&FDT_END_NODE.to_be_bytes()) {
            self.depth -= 1;
        }
        self
    }

    fn string_offset(&mut self, name: &str) -> Option<u32> {
        if let Some(&o) = self.string_offsets.get(name) {
            return Some(o);
        }
        let o = self.strings.len() as u32;
        if self.strings.try_reserve(name.len() + 1).is_err() {
            self.fail(WriterError::OutOfMemory(name.len() + 1));
            return None;
        }
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(name.into(), o);
        Some(o)
    }

    /// Add a property to the open node.
    pub fn prop(&mut self, name: &str, value: &[u8]) -> &mut Self {
        if self.error.is_some() {
            return self;
        }
        if name.is_empty() || name.contains('\0') {
            self.fail(WriterError::BadPropertyName(name.into()));
            return self;
        }
        if self.depth == 0 {
            self.fail(WriterError::PropertyOutsideNode(name.into()));
            return self;
        }
        let Ok(len) = u32::try_from(value.len()) else {
            self.fail(WriterError::TooLarge(value.len()));
            return self;
        };
        let Some(off) = self.string_offset(name) else {
            return self;
        };
        if self.push(&FDT_PROP.to_be_bytes())
            && self.push(&len.to_be_bytes())
            && self.push(&off.to_be_bytes())
            && self.push(value)
        {
            self.pad();
            self.properties += 1;
        }
        self
    }

    /// A property of big-endian 32-bit cells.
    pub fn prop_u32s(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    /// A NUL-terminated string property.
    pub fn prop_str(&mut self, name: &str, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.prop(name, &v)
    }

    /// Nodes and properties written so far.
    pub fn counts(&self) -> (usize, usize) {
        (self.nodes, self.properties)
    }

    /// The finished blob: header, reservation map, structure block, strings.
    pub fn finish(&self) -> Result<Vec<u8>, WriterError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        if self.depth != 0 {
            return Err(WriterError::Unfinished(self.depth));
        }
        let rsv_off = HEADER_SIZE;
        let rsv_len = (self.reservations.len() + 1) * 16;
        let struct_off = rsv_off + rsv_len;
        let struct_len = self.structs.len() + 4;
        let strings_off = struct_off + struct_len;
        let total = strings_off + self.strings.len();
        if u32::try_from(total).is_err() {
            return Err(WriterError::TooLarge(total));
        }
        let mut b = Vec::new();
        b.try_reserve_exact(total)
            .map_err(|_| WriterError::OutOfMemory(total))?;
        for v in [
            FDT_MAGIC,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            self.boot_cpuid_phys,
            self.strings.len() as u32,
            struct_len as u32,
        ] {
            b.extend_from_slice(&v.to_be_bytes());
        }
        for &(a, s) in &self.reservations {
            b.extend_from_slice(&a.to_be_bytes());
            b.extend_from_slice(&s.to_be_bytes());
        }
        b.extend_from_slice(&[0; 16]);
        b.extend_from_slice(&self.structs);
        b.extend_from_slice(&FDT_END.to_be_bytes());
        b.extend_from_slice(&self.strings);
        Ok(b)
    }
}
