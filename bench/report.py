#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the guest's fio results (bench/guest.sh) into bench/results/NAME.md and NAME.png.

Each argument is one boot's result directory (DRIVER.JOB.REP.json / .cpu and
setup.txt). Per controller, job and driver the report gives the median of the
repetitions and their spread (min-max as a percentage of the median), and the ratios
ub / usb-storage, ub / uas and ub / virtio-blk of the medians (and ub / ub-stepwise: ub
with its chained command path off): throughput ratios above 1 are better for ub;
latency and CPU-per-I/O ratios below 1 are.
"""

import argparse
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

DRIVERS = ["ub", "ub-base", "ub-stepwise", "usb-storage", "uas", "virtio"]
# What ub is compared with, in the ratio columns (ub-base: another revision's ub).
OTHERS = ["usb-storage", "uas", "virtio", "ub-stepwise", "ub-base"]
# Ratio columns shown only when the run has that driver.
OPTIONAL = {"ub-stepwise", "ub-base"}


def fio_numbers(path):
    """MiB/s, IOPS, p50 and p99 total latency (µs) of one fio JSON file.

    Total latency (fio's `lat_ns`, with `--lat_percentiles=1`): from submission to
    completion. Completion latency (`clat_ns`) leaves out the time spent in the
    submission call, which is where a driver that runs the command in the
    submitter's context (ub, with its worker on the submitter's CPU) spends it, so
    it does not compare drivers.
    """
    job = json.loads(path.read_text())["jobs"][0]
    bw = iops = 0.0
    p50 = p99 = 0.0
    ios = 0
    for d in ("read", "write"):
        s = job[d]
        if s["total_ios"] == 0:
            continue
        bw += s["bw_bytes"] / 2**20
        iops += s["iops"]
        pct = s["lat_ns"].get("percentile")
        if pct is None:
            sys.exit(f"{path}: no total latency percentiles (fio --lat_percentiles=1)")
        # Of a mixed job, the latency of the bigger share (the reads).
        if s["total_ios"] > ios:
            ios = s["total_ios"]
            p50 = pct.get("50.000000", 0) / 1000
            p99 = pct.get("99.000000", 0) / 1000
    return bw, iops, p50, p99


def cpu_per_io(path, iops, ncpu):
    """Guest CPU µs per I/O: the busy share of all CPUs over the run, per I/O/s."""
    b0, a0, b1, a1 = map(int, path.read_text().split())
    if a1 == a0 or iops == 0:
        return 0.0
    return (b1 - b0) / (a1 - a0) * ncpu * 1e6 / iops


def load(rdir):
    """{(job, driver): [dict per repetition]}, setup text, job order."""
    setup = (rdir / "setup.txt").read_text()
    m = re.search(r"^ncpu (\d+)", setup, re.M)
    ncpu = int(m.group(1)) if m else 1
    runs, order = {}, []
    for f in sorted(rdir.glob("*.json")):
        drv, job, rep = f.name[: -len(".json")].split(".")
        bw, iops, p50, p99 = fio_numbers(f)
        cpu = cpu_per_io(f.with_suffix(".cpu"), iops, ncpu)
        runs.setdefault((job, drv), []).append(dict(bw=bw, iops=iops, p50=p50, p99=p99, cpu=cpu))
        if job not in order:
            order.append(job)
    return runs, setup, order


def med(rs, key):
    return statistics.median(r[key] for r in rs)


def spread(rs, key):
    m = med(rs, key)
    vals = [r[key] for r in rs]
    return 100 * (max(vals) - min(vals)) / m if m else 0.0


def ratio(a, b):
    return f"{a / b:.2f}×" if a and b else "–"


def job_sort_key(job):
    order = ["seq-read-1m", "seq-write-1m", "seq-read-128k", "rand-read-4k", "rand-write-4k", "mixed-4k"]
    base = re.sub(r"-qd\d+$", "", job)
    qd = int(re.search(r"qd(\d+)$", job).group(1)) if re.search(r"qd(\d+)$", job) else 0
    return (order.index(base) if base in order else 99, qd)


def versions(dirs):
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout.splitlines()
    accel = "TCG"
    for d in dirs:
        args = d.parent.parent / "qemu-args"
        if args.exists() and "-accel kvm" in args.read_text():
            accel = "KVM"
    return (qemu[0] if qemu else "qemu ?"), accel


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("dirs", nargs="+", type=Path)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    qemu, accel = versions(a.dirs)

    md = [f"# ub benchmark {a.name}", ""]
    chart = {}
    for rdir in a.dirs:
        runs, setup, order = load(rdir)
        hc = re.search(r"^controller (\S+)", setup, re.M).group(1)
        kernel = re.search(r"^kernel (.*)$", setup, re.M).group(1)
        fio = re.search(r"^fio (.*)$", setup, re.M).group(1)
        speed = re.search(r"^speed (.*)$", setup, re.M).group(1)
        pin = re.search(r"^fio cpu (\d+)", setup, re.M)
        pinned = f", fio pinned to CPU {pin.group(1)}" if pin else ""
        # A driver on another I/O scheduler (ub+none) follows its driver.
        present = {k[1] for k in runs}
        drivers = [v for d in DRIVERS
                   for v in [d] + sorted(p for p in present if p.startswith(d + "+"))
                   if v in present]
        variants = [d for d in drivers if "+" in d]
        reps = max(len(v) for v in runs.values())
        md += [f"## {hc} ({speed})", "",
               f"Kernel {kernel} (bench profile), {qemu}, {fio}, {accel}, {reps} repetitions per job, "
               f"drivers interleaved in one boot{pinned}; medians, spread = (max - min) / median.", ""]
        md += ["Queue limits:", "", "```"] + [l for l in setup.splitlines() if "/dev/" in l] + ["```", ""]
        others = [o for o in OTHERS if o in drivers or o not in OPTIONAL] + variants
        md.append("| job | " + " | ".join(f"{d} MiB/s (IOPS) ±" for d in drivers)
                  + " | " + " | ".join(f"ub / {o}" for o in others) + " |")
        md.append("|---" * (len(drivers) + len(others) + 1) + "|")
        jobs = sorted(order, key=job_sort_key)
        for job in jobs:
            cells = []
            for d in drivers:
                rs = runs.get((job, d))
                cells.append(f"{med(rs, 'bw'):.1f} ({med(rs, 'iops'):.0f}) ±{spread(rs, 'iops'):.0f}%" if rs else "–")
            ub = runs.get((job, "ub"))
            rat = []
            for other in others:
                o = runs.get((job, other))
                rat.append(ratio(med(ub, "iops"), med(o, "iops")) if ub and o else "–")
                if ub and o:
                    chart.setdefault((hc, other), {})[job] = med(ub, "iops") / med(o, "iops")
            md.append(f"| {job} | " + " | ".join(cells) + " | " + " | ".join(rat) + " |")
        md += ["", "Latency (total, submission to completion, µs, p50 / p99) and guest CPU per I/O (µs, all CPUs, "
               "driver threads and interrupts included):", ""]
        md.append("| job | " + " | ".join(f"{d} p50 / p99 / CPU" for d in drivers)
                  + " | ub / usb-storage p99 | ub / usb-storage CPU |")
        md.append("|---" * (len(drivers) + 3) + "|")
        for job in jobs:
            cells = []
            for d in drivers:
                rs = runs.get((job, d))
                cells.append(f"{med(rs, 'p50'):.0f} / {med(rs, 'p99'):.0f} / {med(rs, 'cpu'):.0f}" if rs else "–")
            ub, us = runs.get((job, "ub")), runs.get((job, "usb-storage"))
            extra = [ratio(med(ub, "p99"), med(us, "p99")), ratio(med(ub, "cpu"), med(us, "cpu"))] if ub and us else ["–", "–"]
            md.append(f"| {job} | " + " | ".join(cells) + " | " + " | ".join(extra) + " |")
        md.append("")

    png = a.out / f"{a.name}.png"
    plot(chart, png)
    md += [f"![ub throughput ratios]({png.name})", ""]
    text = "\n".join(md)
    (a.out / f"{a.name}.md").write_text(text)
    print(text)
    print(f"bench: wrote {a.out / (a.name + '.md')} and {png}", file=sys.stderr)


def plot(chart, path):
    """Grouped bars: ub's throughput ratio to each other driver, per job and controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = sorted(chart)
    jobs = sorted({j for v in chart.values() for j in v}, key=job_sort_key)
    fig, ax = plt.subplots(figsize=(max(8, len(jobs) * 1.2), 5))
    width = 0.8 / max(1, len(series))
    for i, key in enumerate(series):
        xs = [j + i * width for j in range(len(jobs))]
        ax.bar(xs, [chart[key].get(job, 0) for job in jobs], width, label=f"{key[0]}: ub / {key[1]}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(jobs))])
    ax.set_xticklabels(jobs, rotation=30, ha="right")
    ax.set_ylabel("throughput ratio (median IOPS)")
    ax.set_title("ub compared with the stock drivers (above 1: ub is faster)")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
