#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Split BOT commands into device time and guest time, from a QEMU trace.

Input: QEMU's log-backend trace (``-trace`` with ``-msg timestamp=on``) of an xHCI
boot (scripts/bench-trace) with the events usb_xhci_xfer_start/_success/_error
(the controller starts a transfer when the guest rang the endpoint's doorbell, and
completes it when the device answered) and usb_msd_cmd_submit (the device took a
CBW; its data length marks the runs: 12 KiB before a run, 20 KiB after it, as
bench/guest.sh issues them with UB_BENCH_MARK=1), and marks.txt (the runs in order).

Per command, on the host's clock:

  QEMU:  CBW   = CBW transfer start -> done
         data  = first data transfer start -> last done (the SCSI backend's I/O)
         CSW   = CSW transfer start -> done
  guest: CBW->data  = CBW done -> data started (negative or ~0 when the driver queued
                      the data behind the CBW)
         data->CSW  = data done -> CSW started (interrupt, completion, submission)
         CSW->next  = CSW done -> next command's CBW started (completing the request,
                      the block layer, the submitter at QD 1, the next request's
                      preparation)

Writes NAME.md to --out and prints it. Means are given so that the parts add up to
the mean command period; the first second of each run (fio's ramp) is skipped.
"""

import argparse
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402  (bench/report.py: its loader of fio results and CPU per I/O)

LINE = re.compile(r"^\d+@(\d+)\.(\d+):(\S+) (.*)$")
START = re.compile(r"(0x[0-9a-f]+): slotid (\d+), epid (\d+)")
DONE = re.compile(r"(0x[0-9a-f]+): len (\d+)")
ERROR = re.compile(r"(0x[0-9a-f]+):")
SUBMIT = re.compile(r"data-len (\d+)")

MARK_START = 12 * 1024
MARK_END = 20 * 1024
CBW_LEN = 31
CSW_LEN = 13
RAMP_S = 1.0


def parse(path):
    """Completed transfers (start, end, epid, len, ok) and marker times."""
    xfers = []
    marks = []
    open_ = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            t = int(m.group(1)) + int(m.group(2)) / 1e6
            ev, rest = m.group(3), m.group(4)
            if ev == "usb_xhci_xfer_start":
                s = START.match(rest)
                if s:
                    open_[s.group(1)] = (t, int(s.group(3)))
            elif ev == "usb_xhci_xfer_success":
                d = DONE.match(rest)
                if d and d.group(1) in open_:
                    t0, ep = open_.pop(d.group(1))
                    xfers.append((t0, t, ep, int(d.group(2)), True))
            elif ev == "usb_xhci_xfer_error":
                e = ERROR.match(rest)
                if e and e.group(1) in open_:
                    t0, ep = open_.pop(e.group(1))
                    xfers.append((t0, t, ep, 0, False))
            elif ev == "usb_msd_cmd_submit":
                s = SUBMIT.search(rest)
                if s and int(s.group(1)) in (MARK_START, MARK_END):
                    marks.append((t, int(s.group(1))))
    xfers.sort()
    return xfers, marks


def commands(xfers):
    """Group transfers into commands: a 31-byte bulk-out transfer opens one, a
    13-byte bulk-in transfer closes it. Commands with an error are dropped."""
    out_ep = next((x[2] for x in xfers if x[3] == CBW_LEN and x[4]), None)
    cmds = []
    cur = None
    for x in xfers:
        _, _, ep, n, ok = x
        if ep == out_ep and n == CBW_LEN:
            cur = {"cbw": x, "data": [], "csw": None}
            continue
        if cur is None:
            continue
        if not ok:
            cur = None
            continue
        if ep != out_ep and n == CSW_LEN:
            cur["csw"] = x
            cmds.append(cur)
            cur = None
        else:
            cur["data"].append(x)
    return cmds


def split(cmds):
    """Per command: the parts of its period (seconds); a command without data has
    a data stage of 0."""
    rows = []
    for c, nxt in zip(cmds, cmds[1:]):
        cbw, csw, data = c["cbw"], c["csw"], c["data"]
        r = {"cbw": cbw[1] - cbw[0], "csw": csw[1] - csw[0], "next": nxt["cbw"][0] - csw[1]}
        if data:
            d0 = min(d[0] for d in data)
            d1 = max(d[1] for d in data)
            r.update(data=d1 - d0, to_data=d0 - cbw[1], to_csw=csw[0] - d1)
        else:
            r.update(data=0.0, to_data=0.0, to_csw=csw[0] - cbw[1])
        r["period"] = nxt["cbw"][0] - cbw[0]
        rows.append(r)
    return rows


def runs(xfers, marks, names):
    """(driver, job, rows) per run, cut at the marker commands."""
    out = []
    starts = [t for t, n in marks if n == MARK_START]
    ends = [t for t, n in marks if n == MARK_END]
    for i, name in enumerate(names):
        if i >= len(starts) or i >= len(ends):
            print(f"wire: no markers for run {i + 1} ({name})", file=sys.stderr)
            break
        t0, t1 = starts[i] + RAMP_S, ends[i]
        inside = [x for x in xfers if t0 <= x[0] < t1]
        cmds = [c for c in commands(inside) if sum(d[3] for d in c["data"]) not in (MARK_START, MARK_END)]
        drv, job = name.split()
        out.append((drv, job, split(cmds)))
    return out


def us(v):
    return f"{v * 1e6:.0f}"


def table(results):
    head = (
        "| driver | job | commands | period mean (p50) µs | QEMU CBW / data / CSW µs "
        "| guest CBW→data / data→CSW / CSW→next µs | guest share |\n"
        "|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for drv, job, rows in results:
        if not rows:
            lines.append(f"| {drv} | {job} | 0 | – | – | – | – |")
            continue
        mean = {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
        p50 = statistics.median(r["period"] for r in rows)
        guest = mean["to_data"] + mean["to_csw"] + mean["next"]
        lines.append(
            f"| {drv} | {job} | {len(rows)} | {us(mean['period'])} ({us(p50)}) "
            f"| {us(mean['cbw'])} / {us(mean['data'])} / {us(mean['csw'])} "
            f"| {us(mean['to_data'])} / {us(mean['to_csw'])} / {us(mean['next'])} "
            f"| {guest / mean['period'] * 100:.0f} % |"
        )
    return head + "\n".join(lines) + "\n"


# Where an idle CPU's samples land.
IDLE = {"pv_native_safe_halt", "native_safe_halt", "default_idle", "acpi_idle_do_entry", "cpu_idle_poll",
        "mwait_idle_with_hints", "intel_idle"}


def profiles(d, top=20):
    """The flat perf profiles of the guest (bench/guest.sh with UB_BENCH_PERF=1),
    with the guest CPU per I/O of the same run."""
    md = [
        "## Where the guest's CPU goes",
        "",
        "The same boot, untraced runs under `perf record -a -g` in the guest (all CPUs, "
        f"500 Hz); the top {top} symbols by self time, as a share of the samples that "
        "were not idle. Under TCG a sample can only land where the guest has interrupts "
        "enabled, so time spent with them off is charged to the places that turn them "
        "back on (_raw_spin_unlock_irqrestore, handle_softirqs, finish_task_switch). "
        "CPU per I/O is from /proc/stat around the run, perf's own sampling included.",
        "",
    ]
    runs, _, _ = report.load(d)
    for f in sorted(d.glob("*.perf")):
        drv, job = f.name.split(".")[:2]
        cpu = ""
        run = runs.get((job, drv))
        if run and run[0]["iops"]:
            cpu = f", {run[0]['cpu']:.0f} µs CPU per I/O, {run[0]['iops']:.0f} IOPS"
        samples = []
        for l in f.read_text().splitlines():
            m = re.match(r"\s*([\d.]+)%\s+(\[.\])\s+(\S+)", l)
            if m:
                samples.append((float(m.group(1)), m.group(2), m.group(3)))
        idle = sum(p for p, _, sym in samples if sym in IDLE)
        busy = max(100.0 - idle, 1e-9)
        md += [f"### {drv} {job}{cpu}", "", f"Busy {busy:.0f} % of the samples; share of the busy samples:", "", "```"]
        md += [f"{p / busy * 100:6.2f}%  {ring} {sym}" for p, ring, sym in samples if sym not in IDLE][:top]
        md += ["```", ""]
    return md


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--marks", required=True, type=Path)
    ap.add_argument("--setup", type=Path)
    ap.add_argument("--profile", type=Path, help="the perf runs' result directory (DRIVER.JOB.1.perf)")
    ap.add_argument("trace", type=Path)
    a = ap.parse_args()

    names = [l.strip() for l in a.marks.read_text().splitlines() if l.strip()]
    xfers, marks = parse(a.trace)
    results = runs(xfers, marks, names)
    if len(results) != len(names):
        sys.exit(f"wire: {len(results)} of {len(names)} runs found in {a.trace}")
    if any(not rows for _, _, rows in results):
        sys.exit("wire: a run has no complete command in the trace")

    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True).stdout
    setup = a.setup.read_text() if a.setup and a.setup.exists() else ""
    kernel = re.search(r"^kernel (.*)$", setup, re.M)
    md = [
        f"# ub command timing {a.name}",
        "",
        "Where the time of a BOT command goes on xHCI, from QEMU's trace of the "
        "controller's transfers (scripts/bench-trace, bench/wire.py): QEMU is the time "
        "from the guest's doorbell for a stage to the device's answer; guest is the time "
        "between one stage's answer and the next stage's doorbell. Means over the "
        "commands of one run (first second skipped), so the parts add up to the mean "
        "period; tracing slows QEMU, so rates are below make bench's.",
        "",
        f"Kernel {kernel.group(1) if kernel else '?'} (bench profile), "
        f"{qemu.splitlines()[0] if qemu else 'QEMU ?'}, TCG, fio pinned to one CPU.",
        "",
        table(results),
    ]
    if a.profile:
        md += profiles(a.profile)
    text = "\n".join(md)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{a.name}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
