"""Plot qemu/bench's JSON results as a small PNG for the README.

Run through qemu/bench-plot, which provides matplotlib. Only the scaling series is
plotted, chosen as qemu/bench chooses it: configurations whose machine string is
"vof <memory> 16M ..." (the page-size word, not a 16M guest) without "numa=", with kernel
runs, one per memory size, by guest memory on a log2 axis. Left: medians of the times
(error bars from min to max); right: the boot footprint in bytes.

usage: bench_plot.py [--root DIR] [RESULTS.json] [OUT.png]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

PROG = "qemu/bench-plot"

# (label, path into "summary"): the time series on the left panel, in milliseconds.
TIME_SERIES = [
    ("QEMU launch \u2192 sparse_init:", ("sparse_init_ms",)),
    ("floor: launch \u2192 first byte", ("floor_first_byte_ms",)),
    ("phase sparse_init", ("phases_ms", "sparse_init")),
    ("phase memmap_init", ("phases_ms", "memmap_init")),
    ("Boot phases total", ("phases_ms", "total")),
    ("Linux: launch \u2192 Zone ranges", ("linux_zone_ranges_ms",)),
]
# (label, key in summary.footprint): the memory series on the right panel, in bytes.
MEMORY_SERIES = [
    ("memmap", "memmap"),
    ("usemap", "usemap"),
    ("memblock reserved", "memblock_reserved"),
    ("heap peak", "heap_peak"),
]
TIME_STYLE = [
    dict(color="#d62728", marker="o"),
    dict(color="#7f7f7f", marker="s", linestyle="--"),
    dict(color="#1f77b4", marker="^"),
    dict(color="#2ca02c", marker="v"),
    dict(color="#9467bd", marker="D"),
    dict(color="#ff7f0e", marker="P", linestyle=":"),
]
MEMORY_STYLE = [
    dict(color="#1f77b4", marker="o"),
    dict(color="#2ca02c", marker="s"),
    dict(color="#d62728", marker="^"),
    dict(color="#9467bd", marker="D"),
]


class BadInput(Exception):
    pass


def fail(msg: str, status: int = 1) -> None:
    print(f"{PROG}: {msg}", file=sys.stderr)
    sys.exit(status)


def number(v) -> float | None:
    """A finite number, or None (bools, strings, NaN and null are not numbers)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def dig(d, path):
    for k in path:
        if not isinstance(d, dict):
            return None
        d = d.get(k)
    return d


def stat(v) -> tuple[float, float, float] | None:
    """(median, min, max) of a {"median","min","max","n"} object; min/max default to the median."""
    if not isinstance(v, dict):
        return None
    med = number(v.get("median"))
    if med is None:
        return None
    lo, hi = number(v.get("min")), number(v.get("max"))
    lo = med if lo is None or lo > med else lo
    hi = med if hi is None or hi < med else hi
    return med, lo, hi


UNITS = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def memory_of(cfg: dict) -> float | None:
    """Guest memory in bytes: memory_bytes, else the machine string's size (vof 2G 16M)."""
    m = number(cfg.get("memory_bytes"))
    if m is not None and m > 0:
        return m
    parts = str(cfg.get("machine", "")).split()
    if len(parts) >= 2 and parts[1][-1:] in UNITS:
        try:
            return float(parts[1][:-1]) * UNITS[parts[1][-1]]
        except ValueError:
            return None
    return None


def scaling_series(doc) -> list[tuple[float, dict]]:
    if not isinstance(doc, dict) or not isinstance(doc.get("configs"), list):
        raise BadInput('no "configs" list: not a qemu/bench results file')
    out = []
    for cfg in doc["configs"]:
        if not isinstance(cfg, dict):
            raise BadInput('an entry of "configs" is not an object')
        machine = cfg.get("machine")
        if not isinstance(machine, str):
            continue
        words = machine.split(" ")
        if words[0] != "vof" or len(words) < 3 or words[2] != "16M" or "numa=" in machine:
            continue
        if isinstance(cfg.get("runs"), list) and not cfg["runs"]:
            continue  # no kernel run gave figures
        mem = memory_of(cfg)
        if mem is None:
            print(f"{PROG}: skipping {cfg.get('name', machine)!r}: no memory size", file=sys.stderr)
            continue
        summary = cfg.get("summary")
        out.append((mem / 2**30, summary if isinstance(summary, dict) else {}))
    out.sort(key=lambda t: t[0])
    # One point per size (the first configuration of that size), as qemu/bench's series.
    seen = set()
    return [p for p in out if not (p[0] in seen or seen.add(p[0]))]


def gib_label(g: float) -> str:
    return f"{g:g}"


def bytes_label(b: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if b >= size:
            return f"{b / size:g} {unit}"
    return f"{b:g} B"


def ms_label(v: float) -> str:
    if v >= 1000:
        return f"{v / 1000:g} s"
    return f"{v:g}"


def power2_ticks(lo: float, hi: float, want: int = 10) -> list[float]:
    """Powers of two spanning [lo, hi], every 1, 2, 5 or 10 exponents (anchored so 1 KiB,
    1 MiB, ... appear when they can)."""
    a, b = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    for step in (1, 2, 5, 10, 20):
        if (b - a) / step <= want:
            break
    a = a - a % step
    b = b + (-b) % step
    return [2.0**k for k in range(a, b + 1, step)]


def plot(doc: dict, series: list[tuple[float, dict]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator

    plt.rcParams.update({"font.size": 9, "axes.titlesize": 11, "legend.fontsize": 7.5})
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=100, layout="constrained")
    xs = [g for g, _ in series]

    def setup_x(ax):
        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: gib_label(v)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel("guest memory (GiB)")
        if xs:
            lo, hi = min(xs), max(xs)
            pad = 2 ** (max(math.log2(hi / lo), 1) * 0.06) if lo > 0 else 1
            ax.set_xlim(lo / pad, hi * pad)
        ax.grid(True, which="major", alpha=0.3)

    # Time: medians with min..max bars; missing or non-positive points are gaps (NaN).
    plotted_t = []
    for (label, path), style in zip(TIME_SERIES, TIME_STYLE):
        pts = []
        for _, s in series:
            st = stat(dig(s, path))
            pts.append(st if st is not None and st[0] > 0 else None)
        if not any(pts):
            continue
        y = [p[0] if p else math.nan for p in pts]
        err = [
            [p[0] - max(p[1], p[0] * 1e-3) if p else math.nan for p in pts],
            [p[2] - p[0] if p else math.nan for p in pts],
        ]
        ax_t.errorbar(xs, y, yerr=err, label=label, markersize=5, linewidth=1.5,
                      capsize=3, elinewidth=0.9, **style)
        plotted_t += [v for p in pts if p for v in (max(p[1], p[0] * 1e-3), p[2])]
    ax_t.set_title("Time (ms, median, bars min\u2013max)")
    setup_x(ax_t)
    if plotted_t:
        ax_t.set_yscale("log")
        ax_t.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax_t.yaxis.set_major_formatter(FuncFormatter(lambda v, _: ms_label(v)))
        ax_t.yaxis.set_minor_formatter(NullFormatter())
        ax_t.legend(loc="best", framealpha=0.85)
    else:
        ax_t.text(0.5, 0.5, "no times in the results", ha="center", va="center",
                  transform=ax_t.transAxes)
        ax_t.set_yticks([])
    ax_t.set_ylabel("ms")

    # Memory: the boot footprint (same in every run of a configuration).
    plotted_m = []
    for (label, key), style in zip(MEMORY_SERIES, MEMORY_STYLE):
        y = []
        for _, s in series:
            v = number(dig(s, ("footprint", key)))
            y.append(v if v is not None and v > 0 else math.nan)
        if all(math.isnan(v) for v in y):
            continue
        ax_m.plot(xs, y, label=label, markersize=5, linewidth=1.5, **style)
        plotted_m += [v for v in y if not math.isnan(v)]
    ax_m.set_title("Memory (boot footprint)")
    setup_x(ax_m)
    if plotted_m:
        ax_m.set_yscale("log", base=2)
        lo, hi = min(plotted_m), max(plotted_m)
        ticks = power2_ticks(lo, hi)
        ax_m.set_ylim(lo / 2**0.7, hi * 2**0.7)
        ax_m.yaxis.set_major_locator(FixedLocator(ticks))
        ax_m.yaxis.set_major_formatter(FuncFormatter(lambda v, _: bytes_label(v)))
        ax_m.yaxis.set_minor_locator(NullLocator())
        ax_m.legend(loc="best", framealpha=0.85)
    else:
        ax_m.text(0.5, 0.5, "no footprint in the results", ha="center", va="center",
                  transform=ax_m.transAxes)
        ax_m.set_yticks([])
    ax_m.set_ylabel("bytes")

    about = doc.get("about") if isinstance(doc.get("about"), dict) else {}
    qemu = str(about.get("qemu") or "QEMU ?").replace("QEMU emulator version", "QEMU")
    bits = [str(about.get("date") or "date ?"), str(about.get("host") or "host ?"), qemu]
    runs = number(about.get("runs"))
    if runs is not None:
        bits.append(f"{runs:g} runs")
    fig.suptitle("sparsek boot benchmark: VOF, 16M pages, by guest memory\n"
                 + "  \u00b7  ".join(bits), fontsize=8)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp.png")
    try:
        fig.savefig(tmp, format="png", dpi=100)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                    help=argparse.SUPPRESS)
    ap.add_argument("results", nargs="?", help="default target/qemu/bench/results.json")
    ap.add_argument("out", nargs="?", help="default docs/bench.png")
    a = ap.parse_args(argv)
    root = Path(a.root)
    results = Path(a.results) if a.results else root / "target/qemu/bench/results.json"
    out = Path(a.out) if a.out else root / "docs/bench.png"

    try:
        text = results.read_text(encoding="utf-8")
    except FileNotFoundError:
        fail(f"{results}: no such file (run qemu/bench first, or name the JSON)")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"{results}: cannot read: {e}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        fail(f"{results}: malformed JSON: {e}")
    try:
        series = scaling_series(doc)
    except BadInput as e:
        fail(f"{results}: {e}")
    if not series:
        fail(f"{results}: no configuration of the scaling series "
             "(machine 'vof ... 16M' without numa=)")
    try:
        plot(doc, series, out)
    except OSError as e:
        fail(f"{out}: cannot write: {e}")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
