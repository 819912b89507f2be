//! The flattener against a model of the client interface built from QEMU-dumped blobs.
extern crate std;
use super::*;
use crate::fdt::{Fdt, Node};
use std::string::{String, ToString};
use std::vec::Vec;

/// One node of the model firmware tree.
struct MNode {
    path: String,
    parent: Option<u32>,
    child: Option<u32>,
    peer: Option<u32>,
    props: Vec<(String, Vec<u8>)>,
}

/// A model of the client interface over a blob. `slof_paths`: package-to-path reports the
/// length without the NUL (SLOF) instead of with it (VOF). `fail_after`: the N-th call fails.
struct Model {
    nodes: Vec<MNode>,
    slof_paths: bool,
    calls: usize,
    fail_after: Option<usize>,
    /// getprop returns the bytes copied instead of the property's length (not IEEE 1275).
    truncating_getprop: bool,
    /// Calls per service.
    by_service: std::collections::BTreeMap<&'static str, usize>,
}

impl Model {
    fn new(blob: &[u8]) -> Model {
        let fdt = Fdt::new(blob).unwrap();
        let mut m = Model {
            nodes: Vec::new(),
            slof_paths: false,
            calls: 0,
            fail_after: None,
            truncating_getprop: false,
            by_service: Default::default(),
        };
        m.add(fdt.root(), None, "");
        m
    }
    fn add(&mut self, n: Node, parent: Option<u32>, ppath: &str) -> u32 {
        let h = self.nodes.len() as u32 + 1;
        let path = if parent.is_none() {
            "/".to_string()
        } else if ppath == "/" {
            std::format!("/{}", n.name)
        } else {
            std::format!("{ppath}/{}", n.name)
        };
        let mut props: Vec<(String, Vec<u8>)> = n
            .properties()
            .map(|p| {
                let p = p.unwrap();
                (p.name.to_string(), p.value.to_vec())
            })
            .collect();
        // Firmware also lists "name".
        props.push((
            "name".into(),
            n.name.split('@').next().unwrap().as_bytes().to_vec(),
        ));
        self.nodes.push(MNode {
            path: path.clone(),
            parent,
            child: None,
            peer: None,
            props,
        });
        let mut prev: Option<u32> = None;
        for c in n.children() {
            let ch = self.add(c.unwrap(), Some(h), &path);
            match prev {
                None => self.nodes[h as usize - 1].child = Some(ch),
                Some(p) => self.nodes[p as usize - 1].peer = Some(ch),
            }
            prev = Some(ch);
        }
        h
    }
    fn tick(&mut self) -> Result<(), &'static str> {
        self.calls += 1;
        match self.fail_after {
            Some(n) if self.calls >= n => Err("injected client-interface failure"),
            _ => Ok(()),
        }
    }
    fn node(&self, h: u32) -> &MNode {
        &self.nodes[h as usize - 1]
    }
}

impl OfTree for Model {
    type Error = &'static str;
    fn root(&mut self) -> Result<u32, Self::Error> {
        self.tick()?;
        Ok(1)
    }
    fn child(&mut self, node: u32) -> Result<Option<u32>, Self::Error> {
        self.tick()?;
        Ok(self.node(node).child)
    }
    fn peer(&mut self, node: u32) -> Result<Option<u32>, Self::Error> {
        self.tick()?;
        Ok(self.node(node).peer)
    }
    fn parent(&mut self, node: u32) -> Result<Option<u32>, Self::Error> {
        self.tick()?;
        Ok(self.node(node).parent)
    }
    fn package_to_path(&mut self, node: u32, buf: &mut [u8]) -> Result<usize, Self::Error> {
        self.tick()?;
        let p = self.node(node).path.as_bytes();
        let n = p.len().min(buf.len());
        buf[..n].copy_from_slice(&p[..n]);
        if n < buf.len() {
            buf[n] = 0;
        }
        Ok(if self.slof_paths {
            p.len()
        } else {
            p.len() + 1
        })
    }
    fn nextprop(&mut self, node: u32, prev: &str, buf: &mut [u8]) -> Result<bool, Self::Error> {
        self.tick()?;
        let props = &self.node(node).props;
        let idx = if prev.is_empty() {
            0
        } else {
            match props.iter().position(|(n, _)| n == prev) {
                Some(i) => i + 1,
                None => return Err("nextprop: unknown previous property"),
            }
        };
        match props.get(idx) {
            None => Ok(false),
            Some((n, _)) => {
                buf[..n.len()].copy_from_slice(n.as_bytes());
                buf[n.len()] = 0;
                Ok(true)
            }
        }
    }
    fn getproplen(&mut self, node: u32, name: &str) -> Result<Option<usize>, Self::Error> {
        self.tick()?;
        *self.by_service.entry("getproplen").or_default() += 1;
        Ok(self
            .node(node)
            .props
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.len()))
    }
    fn getprop(
        &mut self,
        node: u32,
        name: &str,
        buf: &mut [u8],
    ) -> Result<Option<usize>, Self::Error> {
        self.tick()?;
        *self.by_service.entry("getprop").or_default() += 1;
        let Some((_, v)) = self.node(node).props.iter().find(|(n, _)| n == name) else {
            return Ok(None);
        };
        let n = v.len().min(buf.len());
        buf[..n].copy_from_slice(&v[..n]);
        Ok(Some(if self.truncating_getprop { n } else { v.len() }))
    }
}

/// A node's path and its sorted (name, value) properties.
type NodeSummary = (String, Vec<(String, Vec<u8>)>);

/// Every node's path and sorted (name, value) list, "phandle" dropped.
fn summary(blob: &[u8]) -> Vec<NodeSummary> {
    fn walk(n: Node, path: String, out: &mut Vec<NodeSummary>) {
        let mut props: Vec<(String, Vec<u8>)> = n
            .properties()
            .map(|p| p.unwrap())
            .filter(|p| p.name != "phandle")
            .map(|p| (p.name.to_string(), p.value.to_vec()))
            .collect();
        props.sort();
        out.push((path.clone(), props));
        for c in n.children() {
            let c = c.unwrap();
            walk(c, std::format!("{path}/{}", c.name), out);
        }
    }
    let fdt = Fdt::new(blob).unwrap();
    fdt.validate().unwrap();
    let mut out = Vec::new();
    walk(fdt.root(), String::new(), &mut out);
    out
}

const FIXTURES: [(&str, &[u8]); 7] = [
    (
        "2g",
        include_bytes!("../../../tests/fixtures/dtb/pseries-2g.dtb"),
    ),
    (
        "3g",
        include_bytes!("../../../tests/fixtures/dtb/pseries-3g.dtb"),
    ),
    (
        "4g",
        include_bytes!("../../../tests/fixtures/dtb/pseries-4g.dtb"),
    ),
    (
        "smp4",
        include_bytes!("../../../tests/fixtures/dtb/pseries-smp4.dtb"),
    ),
    (
        "numa2",
        include_bytes!("../../../tests/fixtures/dtb/pseries-numa2.dtb"),
    ),
    (
        "numa4",
        include_bytes!("../../../tests/fixtures/dtb/pseries-numa4.dtb"),
    ),
    (
        "maxmem",
        include_bytes!("../../../tests/fixtures/dtb/pseries-2g-maxmem.dtb"),
    ),
];

#[test]
fn flattening_a_qemu_tree_reproduces_it() {
    for slof in [false, true] {
        for (name, blob) in FIXTURES {
            let mut m = Model::new(blob);
            m.slof_paths = slof;
            let f = flatten(&mut m, &[(0x400000, 0x200000)], 0).unwrap();
            assert_eq!(summary(&f.blob), summary(blob), "{name} slof={slof}");
            assert_eq!(f.nodes, m.nodes.len(), "{name}");
            let fdt = Fdt::new(&f.blob).unwrap();
            assert_eq!(fdt.header().version, 17);
            assert!(fdt.header().size_dt_struct > 0);
            let rsv: Vec<_> = fdt.reservations().map(|r| r.unwrap()).collect();
            assert_eq!((rsv[0].address, rsv[0].size), (0x400000, 0x200000));
            // Every node got a phandle (the package handle when the firmware had none).
            let cpus = fdt.find_node("/cpus").unwrap().unwrap();
            assert!(cpus.property("phandle").unwrap().is_some(), "{name}");
        }
    }
}

#[test]
fn properties_are_read_whole_at_every_size_around_the_probe() {
    let mut w = Writer::new();
    let sizes = [0, 1, PROBE - 1, PROBE, PROBE + 1, 3 * PROBE + 5, 70_000];
    w.begin("");
    for (i, &n) in sizes.iter().enumerate() {
        let v: Vec<u8> = (0..n).map(|b| (b * 7 + i) as u8).collect();
        w.prop(&std::format!("p{i}"), &v);
    }
    w.end();
    let blob = w.finish().unwrap();
    for truncating in [false, true] {
        let mut m = Model::new(&blob);
        m.truncating_getprop = truncating;
        let f = flatten(&mut m, &[], 0).unwrap();
        assert_eq!(summary(&f.blob), summary(&blob), "truncating={truncating}");
        // One getprop per property; the four at or above the probe are measured and
        // read again.
        assert_eq!(m.by_service["getproplen"], 4, "truncating={truncating}");
        assert_eq!(m.by_service["getprop"], sizes.len() + 4);
    }
}

#[test]
fn a_qemu_tree_costs_one_getprop_per_property_and_no_getproplen() {
    for (name, blob) in FIXTURES {
        let mut m = Model::new(blob);
        let f = flatten(&mut m, &[], 0).unwrap();
        let listed: usize = m.nodes.iter().map(|n| n.props.len() - 1).sum();
        let big = m
            .nodes
            .iter()
            .flat_map(|n| &n.props)
            .filter(|(_, v)| v.len() >= PROBE)
            .count();
        assert_eq!(m.by_service["getprop"], listed + big, "{name}");
        assert_eq!(
            m.by_service.get("getproplen").copied().unwrap_or(0),
            big,
            "{name}"
        );
        assert!(f.properties >= listed, "{name}");
    }
}

#[test]
fn paths_longer_than_the_buffer_are_fetched_again() {
    let mut w = Writer::new();
    let long = "n".repeat(200);
    w.begin("")
        .begin(&long)
        .begin(&long)
        .prop_u32s("x", &[7])
        .end()
        .end()
        .end();
    let blob = w.finish().unwrap();
    let mut m = Model::new(&blob);
    let f = flatten(&mut m, &[], 0).unwrap();
    assert_eq!(summary(&f.blob), summary(&blob));
}

#[test]
fn a_failing_call_anywhere_is_an_error_not_a_partial_tree() {
    let blob = FIXTURES[0].1;
    let total = {
        let mut m = Model::new(blob);
        flatten(&mut m, &[], 0).unwrap();
        m.calls
    };
    for n in (1..=total).step_by(7) {
        let mut m = Model::new(blob);
        m.fail_after = Some(n);
        let e = flatten(&mut m, &[], 0).err().expect("must fail");
        assert_eq!(e.to_string(), "injected client-interface failure");
    }
}

#[test]
fn the_deepest_tree_the_reader_accepts_flattens_and_a_cycle_is_refused() {
    let mut w = Writer::new();
    w.begin("");
    for i in 0..(MAX_DEPTH - 1) {
        w.begin(&std::format!("d{i}"));
    }
    for _ in 0..MAX_DEPTH {
        w.end();
    }
    let blob = w.finish().unwrap();
    let mut m = Model::new(&blob);
    let f = flatten(&mut m, &[], 0).unwrap();
    assert_eq!(summary(&f.blob), summary(&blob));
    // Firmware whose deepest node claims the root as its child would walk forever.
    let mut m = Model::new(&blob);
    let last = m.nodes.len() - 1;
    m.nodes[last].child = Some(1);
    assert!(matches!(
        flatten(&mut m, &[], 0),
        Err(FlattenError::TooDeep)
    ));
}

#[test]
fn unusable_paths_are_errors() {
    let blob = FIXTURES[0].1;
    let mut m = Model::new(blob);
    m.nodes[3].path = "no-slash".into();
    assert!(matches!(
        flatten(&mut m, &[], 0),
        Err(FlattenError::BadPath(4))
    ));
}
