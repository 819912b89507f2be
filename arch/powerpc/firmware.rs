//! The device tree as the boot path provides it: live, through the Open Firmware client
//! interface (SLOF, VOF), or flattened (the r5 == 0 entry). Only the handful of queries
//! early boot needs live here.

use sparsek::fdt::{Fdt, FdtError};

use super::of::{OfClient, OfError};

#[derive(Clone, Copy)]
pub enum Firmware {
    Of(OfClient),
    Fdt(Fdt<'static>),
}

#[derive(Clone, Copy, Debug)]
pub enum FwError {
    Of(OfError),
    Fdt(FdtError),
}

impl From<OfError> for FwError {
    fn from(e: OfError) -> Self {
        FwError::Of(e)
    }
}

impl From<FdtError> for FwError {
    fn from(e: FdtError) -> Self {
        FwError::Fdt(e)
    }
}

impl core::fmt::Display for FwError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FwError::Of(e) => write!(f, "{e}"),
            FwError::Fdt(e) => write!(f, "malformed device tree: {e}"),
        }
    }
}

impl Firmware {
    /// Copy property `name` of node `path` into `buf`. `Ok(None)` when the node or the
    /// property does not exist; otherwise the property's full length.
    pub fn prop(&self, path: &str, name: &str, buf: &mut [u8]) -> Result<Option<usize>, FwError> {
        match self {
            Firmware::Of(of) => {
                let Ok(node) = of.finddevice(path) else {
                    return Ok(None);
                };
                match of.getprop(node, name, buf) {
                    Ok(len) => Ok(Some(len)),
                    Err(OfError::Failed { .. }) => Ok(None),
                    Err(e) => Err(e.into()),
                }
            }
            Firmware::Fdt(fdt) => {
                let Some(node) = fdt.find_node(path)? else {
                    return Ok(None);
                };
                let Some(p) = node.property(name)? else {
                    return Ok(None);
                };
                let n = p.value.len().min(buf.len());
                buf[..n].copy_from_slice(&p.value[..n]);
                Ok(Some(p.value.len()))
            }
        }
    }

    /// A one-cell property; `Ok(None)` when absent or not exactly one cell.
    pub fn prop_u32(&self, path: &str, name: &str) -> Result<Option<u32>, FwError> {
        let mut b = [0u8; 4];
        Ok(match self.prop(path, name, &mut b)? {
            Some(4) => Some(u32::from_be_bytes(b)),
            _ => None,
        })
    }

    /// A one-cell property of the first `device_type = "cpu"` node under /cpus.
    pub fn boot_cpu_prop_u32(&self, name: &str) -> Result<Option<u32>, FwError> {
        match self {
            Firmware::Of(of) => {
                let Ok(cpus) = of.finddevice("/cpus") else {
                    return Ok(None);
                };
                let mut next = of.child(cpus)?;
                while let Some(node) = next {
                    let mut ty = [0u8; 8];
                    if let Ok(4) = of.getprop(node, "device_type", &mut ty)
                        && &ty[..4] == b"cpu\0"
                    {
                        return match of.getprop_u32(node, name) {
                            Ok(v) => Ok(Some(v)),
                            Err(OfError::Failed { .. }) => Ok(None),
                            Err(e) => Err(e.into()),
                        };
                    }
                    next = of.peer(node)?;
                }
                Ok(None)
            }
            Firmware::Fdt(fdt) => {
                let Some(cpus) = fdt.find_node("/cpus")? else {
                    return Ok(None);
                };
                for node in cpus.children() {
                    let node = node?;
                    let is_cpu = node
                        .property("device_type")?
                        .and_then(|p| p.as_str())
                        .is_some_and(|s| s == "cpu");
                    if is_cpu {
                        return Ok(node.property(name)?.and_then(|p| p.as_u32()));
                    }
                }
                Ok(None)
            }
        }
    }
}
