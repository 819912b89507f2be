//! A reader for flattened device trees (FDT, "DTB"), versions 16 and 17.
//!
//! Every read is bounded by the blob: a malformed tree gives an [`FdtError`] naming what is
//! wrong and the byte offset where it was found, never a panic or an out-of-bounds read.
//!
//! ```text
//!   0x00  header (10 big-endian u32: magic d00dfeed, totalsize, off_dt_struct,
//!         off_dt_strings, off_mem_rsvmap, version, last_comp_version,
//!         boot_cpuid_phys, size_dt_strings, size_dt_struct)
//!         memory reservation map: {u64 address, u64 size}..., ended by {0, 0}
//!         structure block: BEGIN_NODE name | PROP len nameoff value | NOP | END_NODE ... END
//!         strings block: NUL-terminated property names
//! ```

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// The structure block's tokens (Devicetree Specification 5.4.1).
pub const FDT_BEGIN_NODE: u32 = 1;
pub const FDT_END_NODE: u32 = 2;
pub const FDT_PROP: u32 = 3;
pub const FDT_NOP: u32 = 4;
pub const FDT_END: u32 = 9;
pub const HEADER_SIZE: usize = 40;
/// Deepest node nesting accepted (Linux's unflattener allows 64).
pub const MAX_DEPTH: usize = 64;

/// What is wrong with a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdtErrorKind {
    Truncated,
    BadMagic(u32),
    TotalSizeTooSmall,
    TotalSizeBeyondBuffer,
    UnsupportedVersion(u32),
    /// `last_comp_version` newer than 17: the blob cannot be read as version 17.
    IncompatibleVersion(u32),
    BlockOutOfBounds(&'static str),
    Misaligned(&'static str),
    BadToken(u32),
    UnterminatedName,
    BadStringOffset(u32),
    TooDeep,
    UnbalancedEndNode,
    MissingEnd,
    RootNotFirst,
}

/// A malformed device tree: what and where (byte offset from the start of the blob).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdtError {
    pub kind: FdtErrorKind,
    pub offset: usize,
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use FdtErrorKind::*;
        match self.kind {
            Truncated => write!(f, "blob truncated")?,
            BadMagic(m) => write!(f, "bad magic 0x{m:08x} (expected 0x{FDT_MAGIC:08x})")?,
            TotalSizeTooSmall => write!(f, "totalsize smaller than the header")?,
            TotalSizeBeyondBuffer => write!(f, "totalsize larger than the memory given")?,
            UnsupportedVersion(v) => write!(f, "unsupported version {v} (16 or 17 expected)")?,
            IncompatibleVersion(v) => write!(
                f,
                "last compatible version {v} is newer than 17 (the newest this reader reads)"
            )?,
            BlockOutOfBounds(b) => write!(f, "{b} lies outside the blob")?,
            Misaligned(b) => write!(f, "{b} is misaligned")?,
            BadToken(t) => write!(f, "unknown structure token 0x{t:08x}")?,
            UnterminatedName => write!(f, "node or property name not terminated")?,
            BadStringOffset(o) => {
                write!(f, "property name offset 0x{o:x} outside the strings block")?
            }
            TooDeep => write!(f, "nodes nested deeper than {MAX_DEPTH}")?,
            UnbalancedEndNode => write!(f, "END_NODE without a matching BEGIN_NODE")?,
            MissingEnd => write!(f, "structure block ends without FDT_END")?,
            RootNotFirst => write!(f, "structure block does not start with the root node")?,
        }
        write!(f, " at offset 0x{:x}", self.offset)
    }
}

fn err<T>(kind: FdtErrorKind, offset: usize) -> Result<T, FdtError> {
    Err(FdtError { kind, offset })
}

fn be32(b: &[u8], off: usize) -> Result<u32, FdtError> {
    match b.get(off..off + 4) {
        Some(s) => Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]])),
        None => err(FdtErrorKind::Truncated, off),
    }
}

fn be64(b: &[u8], off: usize) -> Result<u64, FdtError> {
    Ok(((be32(b, off)? as u64) << 32) | be32(b, off + 4)? as u64)
}

/// The decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub totalsize: u32,
    pub off_dt_struct: u32,
    pub off_dt_strings: u32,
    pub off_mem_rsvmap: u32,
    pub version: u32,
    pub last_comp_version: u32,
    pub boot_cpuid_phys: u32,
    pub size_dt_strings: u32,
    pub size_dt_struct: u32,
}

/// A validated flattened device tree.
#[derive(Clone, Copy)]
pub struct Fdt<'a> {
    blob: &'a [u8],
    header: Header,
    structs: Span,
    strings: Span,
    /// Offset of the root's BEGIN_NODE (NOPs may come first).
    root: usize,
}

/// A byte range of the blob (`Range` is not `Copy`).
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// One memory reservation map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reservation {
    pub address: u64,
    pub size: u64,
}

/// A node of the tree: its name and the offset of its BEGIN_NODE token.
#[derive(Clone, Copy)]
pub struct Node<'a> {
    fdt: Fdt<'a>,
    pub name: &'a str,
    /// Offset of the first token after the node's name.
    body: usize,
    /// Offset of the BEGIN_NODE token.
    pub offset: usize,
}

/// A property: name and raw (big-endian) value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Property<'a> {
    pub name: &'a str,
    pub value: &'a [u8],
}

impl<'a> Property<'a> {
    /// The value as a string without its terminating NUL (first string of a list).
    pub fn as_str(&self) -> Option<&'a str> {
        let end = self.value.iter().position(|&b| b == 0)?;
        core::str::from_utf8(&self.value[..end]).ok()
    }
    /// The value as one big-endian u32 cell.
    pub fn as_u32(&self) -> Option<u32> {
        (self.value.len() == 4)
            .then(|| be32(self.value, 0).ok())
            .flatten()
    }
    /// Big-endian u32 cells (a trailing partial cell is ignored).
    pub fn cells(&self) -> impl Iterator<Item = u32> + 'a {
        self.value
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// One structure-block item.
enum Token<'a> {
    Begin(&'a str, usize),
    End,
    Prop(Property<'a>),
    Finish,
}

impl<'a> Fdt<'a> {
    /// Validate the header and the placement of its blocks.
    pub fn new(blob: &'a [u8]) -> Result<Self, FdtError> {
        use FdtErrorKind::*;
        if blob.len() < HEADER_SIZE {
            return err(Truncated, blob.len());
        }
        let magic = be32(blob, 0)?;
        if magic != FDT_MAGIC {
            return err(BadMagic(magic), 0);
        }
        let f = |i: usize| be32(blob, i * 4);
        let header = Header {
            totalsize: f(1)?,
            off_dt_struct: f(2)?,
            off_dt_strings: f(3)?,
            off_mem_rsvmap: f(4)?,
            version: f(5)?,
            last_comp_version: f(6)?,
            boot_cpuid_phys: f(7)?,
            size_dt_strings: f(8)?,
            size_dt_struct: f(9)?,
        };
        if (header.totalsize as usize) < HEADER_SIZE {
            return err(TotalSizeTooSmall, 4);
        }
        if header.totalsize as usize > blob.len() {
            return err(TotalSizeBeyondBuffer, 4);
        }
        if header.version < 16 {
            return err(UnsupportedVersion(header.version), 20);
        }
        // A newer version is fine as long as it says it can be read as one we know.
        if header.last_comp_version > 17 {
            return err(IncompatibleVersion(header.last_comp_version), 24);
        }
        let blob = &blob[..header.totalsize as usize];
        let total = blob.len();
        let within = |off: u32, size: u32, what: &'static str, at: usize| {
            let end = off as u64 + size as u64;
            if (off as usize) < HEADER_SIZE || end > total as u64 {
                err(BlockOutOfBounds(what), at)
            } else {
                Ok(Span {
                    start: off as usize,
                    end: end as usize,
                })
            }
        };
        // Version 16 has no size_dt_struct: the block runs to the end of the blob.
        let struct_size = if header.version >= 17 {
            header.size_dt_struct
        } else {
            header.totalsize.saturating_sub(header.off_dt_struct)
        };
        let structs = within(header.off_dt_struct, struct_size, "structure block", 8)?;
        let strings = within(
            header.off_dt_strings,
            header.size_dt_strings,
            "strings block",
            12,
        )?;
        within(header.off_mem_rsvmap, 16, "memory reservation map", 16)?;
        if !header.off_dt_struct.is_multiple_of(4) {
            return err(Misaligned("structure block"), 8);
        }
        if !header.off_mem_rsvmap.is_multiple_of(8) {
            return err(Misaligned("memory reservation map"), 16);
        }
        let mut fdt = Fdt {
            blob,
            header,
            structs,
            strings,
            root: structs.start,
        };
        // NOPs may precede the root (libfdt allows it); the root is the first real token.
        match fdt.token(fdt.structs.start)? {
            (Token::Begin("", at), _) => {
                fdt.root = at;
                Ok(fdt)
            }
            _ => err(RootNotFirst, fdt.structs.start),
        }
    }

    /// Validate a blob in memory whose size is known only from its header.
    ///
    /// # Safety
    /// `ptr` must be readable for `min(max_len, max(HEADER_SIZE, totalsize))` bytes (the
    /// header is read first, then at most `max_len` bytes of the size it gives), for as
    /// long as the returned tree is used.
    pub unsafe fn from_ptr(ptr: *const u8, max_len: usize) -> Result<Fdt<'a>, FdtError> {
        // SAFETY: the caller guarantees at least the header is readable.
        let head = unsafe { core::slice::from_raw_parts(ptr, HEADER_SIZE.min(max_len)) };
        if head.len() < HEADER_SIZE {
            return err(FdtErrorKind::Truncated, head.len());
        }
        let magic = be32(head, 0)?;
        if magic != FDT_MAGIC {
            return err(FdtErrorKind::BadMagic(magic), 0);
        }
        let total = (be32(head, 4)? as usize).min(max_len);
        // SAFETY: the caller guarantees min(totalsize, max_len) bytes are readable.
        Fdt::new(unsafe { core::slice::from_raw_parts(ptr, total) })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    pub fn as_bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// The memory reservation map (stops at the terminating {0, 0} entry).
    pub fn reservations(&self) -> impl Iterator<Item = Result<Reservation, FdtError>> + 'a {
        let blob = self.blob;
        let mut off = self.header.off_mem_rsvmap as usize;
        let mut done = false;
        core::iter::from_fn(move || {
            if done {
                return None;
            }
            let r = (|| {
                Ok(Reservation {
                    address: be64(blob, off)?,
                    size: be64(blob, off + 8)?,
                })
            })();
            match r {
                Ok(Reservation {
                    address: 0,
                    size: 0,
                }) => {
                    done = true;
                    None
                }
                Ok(res) => {
                    off += 16;
                    Some(Ok(res))
                }
                Err(e) => {
                    done = true;
                    Some(Err(e))
                }
            }
        })
    }

    fn string_at(&self, nameoff: u32, at: usize) -> Result<&'a str, FdtError> {
        let start = self.strings.start + nameoff as usize;
        if nameoff as usize >= self.strings.len() {
            return err(FdtErrorKind::BadStringOffset(nameoff), at);
        }
        let s = &self.blob[start..self.strings.end];
        let end = s.iter().position(|&b| b == 0).ok_or(FdtError {
            kind: FdtErrorKind::UnterminatedName,
            offset: start,
        })?;
        core::str::from_utf8(&s[..end]).map_err(|_| FdtError {
            kind: FdtErrorKind::UnterminatedName,
            offset: start,
        })
    }

    /// Decode the token at `off`; returns it and the offset of the next one.
    fn token(&self, mut off: usize) -> Result<(Token<'a>, usize), FdtError> {
        loop {
            if off + 4 > self.structs.end {
                return err(FdtErrorKind::MissingEnd, off);
            }
            let tok = be32(self.blob, off)?;
            let at = off;
            off += 4;
            match tok {
                FDT_NOP => continue,
                FDT_BEGIN_NODE => {
                    let s = &self.blob[off..self.structs.end];
                    let len = s.iter().position(|&b| b == 0).ok_or(FdtError {
                        kind: FdtErrorKind::UnterminatedName,
                        offset: off,
                    })?;
                    let name = core::str::from_utf8(&s[..len]).map_err(|_| FdtError {
                        kind: FdtErrorKind::UnterminatedName,
                        offset: off,
                    })?;
                    return Ok((Token::Begin(name, at), (off + len + 1 + 3) & !3));
                }
                FDT_END_NODE => return Ok((Token::End, off)),
                FDT_PROP => {
                    let len = be32(self.blob, off)? as usize;
                    let nameoff = be32(self.blob, off + 4)?;
                    let vstart = off + 8;
                    let vend = vstart
                        .checked_add(len)
                        .filter(|&e| e <= self.structs.end)
                        .ok_or(FdtError {
                            kind: FdtErrorKind::BlockOutOfBounds("property value"),
                            offset: at,
                        })?;
                    let name = self.string_at(nameoff, at)?;
                    return Ok((
                        Token::Prop(Property {
                            name,
                            value: &self.blob[vstart..vend],
                        }),
                        (vend + 3) & !3,
                    ));
                }
                FDT_END => return Ok((Token::Finish, off)),
                t => return err(FdtErrorKind::BadToken(t), at),
            }
        }
    }

    /// The root node.
    pub fn root(&self) -> Node<'a> {
        // Validated by new(): the first token (after any NOPs) is BEGIN_NODE "".
        let start = self.root;
        Node {
            fdt: *self,
            name: "",
            body: (start + 8) & !3,
            offset: start,
        }
    }

    /// Check the whole structure block: every token valid, nesting balanced, ends with END.
    pub fn validate(&self) -> Result<(), FdtError> {
        let mut off = self.structs.start;
        let mut depth = 0usize;
        loop {
            let (tok, next) = self.token(off)?;
            match tok {
                Token::Begin(..) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return err(FdtErrorKind::TooDeep, off);
                    }
                }
                Token::End => {
                    if depth == 0 {
                        return err(FdtErrorKind::UnbalancedEndNode, off);
                    }
                    depth -= 1;
                }
                Token::Prop(_) => {}
                Token::Finish => {
                    return if depth == 0 {
                        Ok(())
                    } else {
                        err(FdtErrorKind::MissingEnd, off)
                    };
                }
            }
            off = next;
        }
    }

    /// The path of the node whose structure contains byte `offset` (for error messages:
    /// an [`FdtError`] from [`Fdt::validate`] or a node lookup names an offset, this names
    /// the node). Tokens before the offset are read as far as they are well formed.
    pub fn path_at(&self, offset: usize) -> String {
        let mut stack: Vec<&str> = Vec::new();
        let mut off = self.structs.start;
        while off < offset {
            match self.token(off) {
                Ok((Token::Begin(name, _), next)) => {
                    stack.push(name);
                    off = next;
                }
                Ok((Token::End, next)) => {
                    stack.pop();
                    off = next;
                }
                Ok((Token::Prop(_), next)) => off = next,
                _ => break,
            }
        }
        let mut path = String::new();
        for comp in stack.iter().skip(1) {
            path.push('/');
            path.push_str(comp);
        }
        if path.is_empty() {
            path.push('/');
        }
        path
    }

    /// Find a node by absolute path (`/`, `/chosen`, `/cpus/PowerPC,POWER9@0`). A path
    /// component without a unit address matches a node name with any unit address.
    pub fn find_node(&self, path: &str) -> Result<Option<Node<'a>>, FdtError> {
        let mut node = self.root();
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            match node.child(comp)? {
                Some(n) => node = n,
                None => return Ok(None),
            }
        }
        Ok(Some(node))
    }
}

impl<'a> Node<'a> {
    /// The node's properties in order.
    pub fn properties(&self) -> impl Iterator<Item = Result<Property<'a>, FdtError>> + 'a {
        let fdt = self.fdt;
        let mut off = Some(self.body);
        core::iter::from_fn(move || {
            let cur = off?;
            match fdt.token(cur) {
                Ok((Token::Prop(p), next)) => {
                    off = Some(next);
                    Some(Ok(p))
                }
                Ok(_) => {
                    off = None;
                    None
                }
                Err(e) => {
                    off = None;
                    Some(Err(e))
                }
            }
        })
    }

    pub fn property(&self, name: &str) -> Result<Option<Property<'a>>, FdtError> {
        for p in self.properties() {
            let p = p?;
            if p.name == name {
                return Ok(Some(p));
            }
        }
        Ok(None)
    }

    /// The node's direct children in order.
    pub fn children(&self) -> impl Iterator<Item = Result<Node<'a>, FdtError>> + 'a {
        let fdt = self.fdt;
        // Skip own properties, then walk siblings at depth 1.
        let mut off = Some(self.body);
        let mut depth = 0usize;
        core::iter::from_fn(move || {
            loop {
                let cur = off?;
                let (tok, next) = match fdt.token(cur) {
                    Ok(t) => t,
                    Err(e) => {
                        off = None;
                        return Some(Err(e));
                    }
                };
                off = Some(next);
                match tok {
                    Token::Prop(_) => {}
                    Token::Begin(name, at) => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            off = None;
                            return Some(err(FdtErrorKind::TooDeep, at));
                        }
                        if depth == 1 {
                            return Some(Ok(Node {
                                fdt,
                                name,
                                body: next,
                                offset: at,
                            }));
                        }
                    }
                    Token::End => {
                        if depth == 0 {
                            off = None;
                            return None;
                        }
                        depth -= 1;
                    }
                    Token::Finish => {
                        off = None;
                        return Some(err(FdtErrorKind::MissingEnd, cur));
                    }
                }
            }
        })
    }

    /// The child called `name` (or `name@anything` when `name` has no unit address).
    pub fn child(&self, name: &str) -> Result<Option<Node<'a>>, FdtError> {
        for c in self.children() {
            let c = c?;
            if node_name_matches(c.name, name) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

/// Does the node name `full` (`memory@0`) match the path component `comp` (`memory@0` or
/// `memory`)?
pub fn node_name_matches(full: &str, comp: &str) -> bool {
    full == comp || (!comp.contains('@') && full.split('@').next() == Some(comp))
}

mod writer;
pub use writer::{Writer, WriterError};

#[cfg(test)]
mod tests;
