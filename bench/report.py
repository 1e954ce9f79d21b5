#!/usr/bin/env python3
"""Turns one run of bench/suite.sh into docs/bench/results.md and docs/bench/chart.png.

    report.py --run bench/out/run-YYYYMMDD-HHMMSS --docs docs/bench --plot bench/plot.gp

Reads RUN/meta.tsv (what ran, machine facts, scale measurements), RUN/fio/*.json (one fio run
each, named TARGET.WORKLOAD.qdN.json) and RUN/aead.txt (bench/aead_ceiling). Standard library
only; the chart is drawn by gnuplot (bench/plot.gp) when it is installed.
"""
import argparse
import json
import os
import re
import subprocess
import sys

WORKLOADS = ["seq-write", "rnd-write-4k", "rnd-write-32k", "rnd-write-256k",
             "seq-read", "rnd-read-4k", "rnd-read-32k", "rnd-read-256k"]
LABEL = {"seq-write": "seq-write 1M", "rnd-write-4k": "rnd-write 4K", "rnd-write-32k": "rnd-write 32K",
         "rnd-write-256k": "rnd-write 256K", "seq-read": "seq-read 1M", "rnd-read-4k": "rnd-read 4K",
         "rnd-read-32k": "rnd-read 32K", "rnd-read-256k": "rnd-read 256K"}
# Column order; "jindisk" is ours.
TARGETS = ["jindisk", "fuse-ceiling", "raw-file", "dm-crypt", "gocryptfs", "securefs", "qemu-luks"]
NAME = {"jindisk": "jindisk", "fuse-ceiling": "FUSE ceiling", "raw-file": "raw host file",
        "dm-crypt": "dm-crypt", "gocryptfs": "gocryptfs", "securefs": "securefs",
        "qemu-luks": "QEMU LUKS"}
PEERS = TARGETS[1:]


def read_meta(path):
    meta = {}
    with open(path) as f:
        for line in f:
            if "\t" in line:
                k, v = line.rstrip("\n").split("\t", 1)
                meta[k] = v
    return meta


def load_fio(path):
    """The first job of a fio JSON file, or None if missing, unparsable or failed."""
    try:
        with open(path) as f:
            text = f.read()
        # fio may print notes before the JSON object.
        job = json.loads(text[text.index("{"):])["jobs"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    return None if job.get("error") else job


def mib_s(job, workload):
    side = "write" if "write" in workload else "read"
    return job[side]["bw_bytes"] / 2**20


def iops(job, workload):
    side = "write" if "write" in workload else "read"
    return job[side]["iops"]


def read_aead(path):
    """{(op, cipher): (wall, cpu)} from aead_ceiling's `ceiling` lines, plus its table text."""
    rows, table = {}, []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("ceiling "):
                    _, op, cipher, wall, cpu = line.split()
                    rows[(op, cipher)] = (float(wall), float(cpu))
                elif line.startswith("|") or line.startswith("libsodium"):
                    table.append(line.rstrip("\n"))
    except OSError:
        pass
    return rows, table


def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}".replace(",", " ") if v >= 1000 else f"{v:.{digits}f}"


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def fmt_ratio(r):
    return "–" if r is None else f"{r:.2f}x"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True)
    ap.add_argument("--docs", required=True)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    meta = read_meta(os.path.join(args.run, "meta.tsv"))
    ran = meta.get("targets", "").split()
    cols = [t for t in TARGETS if t in ran]
    peers = [t for t in PEERS if t in ran]

    # results[(target, workload, qd)] = (MiB/s, IOPS)
    res = {}
    for t in cols:
        for w in WORKLOADS:
            for qd in (1, 32):
                job = load_fio(os.path.join(args.run, "fio", f"{t}.{w}.qd{qd}.json"))
                res[(t, w, qd)] = (mib_s(job, w), iops(job, w)) if job else None

    def bw(t, w, qd):
        r = res.get((t, w, qd))
        return r[0] if r else None

    def io(t, w, qd):
        r = res.get((t, w, qd))
        return r[1] if r else None

    aead, aead_table = read_aead(os.path.join(args.run, "aead.txt"))
    cipher = "aes256gcm" if ("seal", "aes256gcm") in aead else "chacha20poly1305"
    seal_ceiling = max(aead[("seal", cipher)]) if ("seal", cipher) in aead else None
    open_ceiling = max(aead[("open", cipher)]) if ("open", cipher) in aead else None

    fsync = {}
    for t in ("jindisk", "gocryptfs", "raw-file", "fuse-ceiling"):
        job = load_fio(os.path.join(args.run, "fio", f"{t}.fsync-4k.qd1.json"))
        if job:
            wp = job["write"]["clat_ns"].get("percentile", {})
            sp = job["sync"]["lat_ns"].get("percentile", {})
            fsync[t] = {"iops": job["write"]["iops"],
                        "w50": wp.get("50.000000", 0) / 1e3, "w99": wp.get("99.000000", 0) / 1e3,
                        "s50": sp.get("50.000000", 0) / 1e3, "s99": sp.get("99.000000", 0) / 1e3}

    scale_job = load_fio(os.path.join(args.run, "fio", "jindisk.scale.json"))
    scale_written = scale_job["write"]["io_bytes"] if scale_job else None

    out = []
    p = out.append
    quick = meta.get("quick") == "1"
    p("# jindisk-fuse benchmark results")
    p("")
    p(f"Written by `{meta.get('command', 'bench/suite.sh')}` ({meta.get('started', '?')} to "
      f"{meta.get('finished', '?')}, {meta.get('duration_s', '?')} s). Do not edit by hand: run the suite again.")
    if quick:
        p("")
        p("**This is a --quick smoke run (small region, 1 s per job): its numbers are not the suite's results.**")
    p("")
    p("Every number comes from this one run; compare ratios, not absolute values across runs. "
      "The machine is shared with other work (load averages below), so single jobs carry noise "
      "of ±20% or more.")
    p("")
    p("## Headline: MiB/s at iodepth 32 (direct I/O)")
    p("")
    p("| workload | " + " | ".join(NAME[t] for t in cols) + " |")
    p("|---" * (len(cols) + 1) + "|")
    for w in WORKLOADS:
        p(f"| {LABEL[w]} | " + " | ".join(fmt(bw(t, w, 32)) for t in cols) + " |")
    p("")
    p("jindisk relative to each peer (ours / peer, iodepth 32; above 1 means jindisk is faster):")
    p("")
    p("| workload | " + " | ".join(f"/ {NAME[t]}" for t in peers) + " |")
    p("|---" * (len(peers) + 1) + "|")
    for w in WORKLOADS:
        p(f"| {LABEL[w]} | " + " | ".join(fmt_ratio(ratio(bw('jindisk', w, 32), bw(t, w, 32))) for t in peers) + " |")
    # A ceiling that measures below the disk it bounds was disturbed (the machine is shared):
    # say so next to the numbers rather than let a ratio pass silently.
    odd = [LABEL[w] for w in WORKLOADS
           if bw("jindisk", w, 32) and bw("fuse-ceiling", w, 32) and bw("jindisk", w, 32) > bw("fuse-ceiling", w, 32)]
    if odd:
        p("")
        p("**Caution:** the FUSE ceiling measured *below* jindisk on " + ", ".join(odd) + " at iodepth 32. "
          "Both go through the same FUSE transport and the ceiling does no work, so this is load noise "
          "during the ceiling's few seconds, and ratios against the ceiling on those rows are not to be trusted.")
    if "dm-crypt" not in ran:
        p("")
        p(f"dm-crypt did not run: {meta.get('notrun_dm-crypt', 'not set up')}.")
    for t in ("gocryptfs", "securefs", "qemu-luks"):
        if t not in ran and f"notrun_{t}" in meta:
            p("")
            p(f"{NAME[t]} did not run: {meta[f'notrun_{t}']}.")

    # ---- targets
    p("")
    p("## Targets (issue 7; iodepth 32, ratios from this run)")
    p("")
    p("| target | goal | measured | met |")
    p("|---|---|---|---|")

    def target(what, goal, value, ok, shown=None):
        if value is None:
            p(f"| {what} | {goal} | not measured | – |")
        else:
            p(f"| {what} | {goal} | {shown if shown is not None else fmt_ratio(value)} | {'met' if ok else '**missed**'} |")

    def vs(w, peer, goal):
        if peer not in ran:
            why = meta.get(f"notrun_{peer}", "not run")
            p(f"| {LABEL[w]} vs {NAME[peer]} | ≥ {goal}x | not run ({why.split(':')[0]}) | – |")
            return
        r = ratio(bw("jindisk", w, 32), bw(peer, w, 32))
        target(f"{LABEL[w]} vs {NAME[peer]}", f"≥ {goal}x", r, r is not None and r >= goal)

    vs("rnd-write-4k", "fuse-ceiling", 0.6)
    vs("rnd-write-4k", "gocryptfs", 5)
    vs("rnd-write-4k", "raw-file", 1.3)
    vs("rnd-write-4k", "dm-crypt", 1.3)
    vs("seq-write", "gocryptfs", 1.5)
    r = ratio(bw("jindisk", "seq-write", 32), seal_ceiling)
    target("seq-write 1M vs two-core AEAD sealing ceiling", "≥ 0.5x", r, r is not None and r >= 0.5,
           None if r is None else f"{r:.2f}x ({fmt(bw('jindisk', 'seq-write', 32))} / {fmt(seal_ceiling)} MiB/s)")
    vs("seq-read", "gocryptfs", 1)
    r = ratio(bw("jindisk", "seq-read", 32), open_ceiling)
    target("seq-read 1M vs two-core AEAD opening ceiling", "≥ 0.5x", r, r is not None and r >= 0.5,
           None if r is None else f"{r:.2f}x ({fmt(bw('jindisk', 'seq-read', 32))} / {fmt(open_ceiling)} MiB/s)")
    vs("rnd-read-4k", "fuse-ceiling", 0.6)
    vs("rnd-read-4k", "gocryptfs", 2)
    vs("rnd-read-32k", "gocryptfs", 1)
    vs("rnd-read-256k", "gocryptfs", 1)
    if "jindisk" in fsync and "gocryptfs" in fsync:
        r = fsync["jindisk"]["iops"] / fsync["gocryptfs"]["iops"]
        target("fsync=1 random 4K writes vs gocryptfs (IOPS)", "≥ 3x", r, r >= 3,
               f"{r:.2f}x ({fmt(fsync['jindisk']['iops'])} / {fmt(fsync['gocryptfs']['iops'])} IOPS)")
    else:
        target("fsync=1 random 4K writes vs gocryptfs (IOPS)", "≥ 3x", None, False)
    rss = meta.get("scale_rss_peak_kib")
    gib = f"{scale_written / 2**30:.1f}" if scale_written else meta.get("scale_gib", "16")
    if rss:
        v = int(rss) / 1024
        target(f"peak RSS of the daemon, {gib} GiB written to a 1 TiB disk", "≤ 256 MiB", v, v <= 256, f"{v:.0f} MiB")
    else:
        target("peak RSS of the daemon, 16 GiB written to a 1 TiB disk", "≤ 256 MiB", None, False)
    ro = meta.get("scale_reopen_s")
    try:
        v = float(ro)
        target("open (and mount) after kill -9", "≤ 2 s", v, v <= 2, f"{v:.2f} s")
    except (TypeError, ValueError):
        target("open (and mount) after kill -9", "≤ 2 s", None, False)
    if quick:
        p("")
        p("(--quick: the scale test asked for 1 GiB only, not 16.)")

    # ---- both iodepths in full
    for qd in (1, 32):
        p("")
        p(f"## All workloads, iodepth {qd}: MiB/s (4K rows: kIOPS in brackets)")
        p("")
        p("| workload | " + " | ".join(NAME[t] for t in cols) + " |")
        p("|---" * (len(cols) + 1) + "|")
        for w in WORKLOADS:
            cells = []
            for t in cols:
                v = bw(t, w, qd)
                if v is not None and w.endswith("-4k"):
                    cells.append(f"{fmt(v)} ({io(t, w, qd) / 1000:.1f}k)")
                else:
                    cells.append(fmt(v))
            p(f"| {LABEL[w]} | " + " | ".join(cells) + " |")
        p("")
        p("| workload (ours / peer) | " + " | ".join(NAME[t] for t in peers) + " |")
        p("|---" * (len(peers) + 1) + "|")
        for w in WORKLOADS:
            p(f"| {LABEL[w]} | " + " | ".join(fmt_ratio(ratio(bw('jindisk', w, qd), bw(t, w, qd))) for t in peers) + " |")

    p("")
    p("![MiB/s per workload and target, iodepth 1 and 32, log scale](chart.png)")

    # ---- fsync
    p("")
    p("## 4K random writes with an fsync after each (fio fsync=1, iodepth 1)")
    p("")
    if fsync:
        p("| target | IOPS (write+fsync pairs/s) | write p50 / p99 µs | fsync p50 / p99 µs |")
        p("|---|---|---|---|")
        for t in ("jindisk", "gocryptfs", "raw-file", "fuse-ceiling"):
            if t in fsync:
                f = fsync[t]
                p(f"| {NAME[t]} | {fmt(f['iops'])} | {fmt(f['w50'])} / {fmt(f['w99'])} | {fmt(f['s50'])} / {fmt(f['s99'])} |")
        p("")
        p("Through the loop device an fsync becomes a flush request, which the loop driver turns into "
          "an fsync of its backing file: for jindisk a commit (FUSE fsync), for the raw file an ext4 "
          "fsync that flushes the host disk. The FUSE ceiling's fsync does nothing: it shows the "
          "transport's cost alone.")
    sync_cost = os.path.join(args.run, "sync_cost.txt")
    if os.path.exists(sync_cost):
        p("")
        p("What one durable 4 KiB write costs on the host file system (`bench/sync_cost`, same run). "
          "A peer that encrypts in place pays one *overwrite* per fsync. A jindisk flush pays an "
          "*append* to a data segment and one to the index WAL at the same time (`append ||2`), then "
          "an overwrite of a root slot, then one of the anchor: about `append ||2` + 2 x `overwrite` "
          "plus the FUSE round trips.")
        p("")
        with open(sync_cost) as f:
            text = f.read()
        for line in text.splitlines():
            p(line)
        m = re.search(r"^\| overwrite \| (\d+) \|", text, re.M)
        if m and "gocryptfs" in fsync:
            goal_us = 1e6 / (3 * fsync["gocryptfs"]["iops"])
            p("")
            p(f"3x gocryptfs is {fmt(3 * fsync['gocryptfs']['iops'])} write+fsync pairs per second, "
              f"{goal_us:.0f} µs each; one overwrite and fdatasync of the host alone takes "
              f"{m.group(1)} µs (p50)" + (", so no flush that reaches the host disk can meet it." if
                                         goal_us < int(m.group(1)) else "."))
    else:
        p("Not measured (the fio runs failed or were skipped).")

    # ---- scale
    p("")
    p("## Scale: 1 TiB disk, data written through the daemon")
    p("")
    if "scale_rss_peak_kib" in meta:
        secs = float(meta["scale_seconds"])
        g = scale_written / 2**30 if scale_written else float(meta["scale_gib"])
        p("| measure | value |")
        p("|---|---|")
        p(f"| asked | {meta['scale_gib']} GiB of 1 MiB writes at random 1 MiB-aligned offsets over 1 TiB, iodepth 32, "
          f"fsync every 256 MiB and at the end, through `losetup --direct-io=on`; capped at {meta.get('scale_cap_s', '?')} s |")
        capped = scale_written is not None and scale_written < float(meta["scale_gib"]) * 2**30
        p(f"| written | {g:.2f} GiB in {secs:.1f} s ({g * 1024 / secs:.0f} MiB/s)"
          + (" — **capped: less than asked**" if capped else "") + " |")
        p(f"| peak RSS of the daemon (VmHWM), default cache | {int(meta['scale_rss_peak_kib']) / 1024:.0f} MiB |")
        p(f"| RSS at the end of writing | {int(meta['scale_rss_now_kib']) / 1024:.0f} MiB |")
        p(f"| CPU of the daemon (user+sys) | {float(meta['scale_daemon_cpu_s']):.1f} s = "
          f"{float(meta['scale_daemon_cpu_s']) / g:.2f} CPU s per GiB written |")
        p(f"| CPU of the whole machine meanwhile (includes the kernel's FUSE and loop work, fio, and other users) | "
          f"{float(meta['scale_system_busy_cpu_s']):.1f} s = {float(meta['scale_system_busy_cpu_s']) / g:.2f} CPU s per GiB |")
        p(f"| host directory after writing | {int(meta['scale_host_bytes']) / 2**30:.1f} GiB |")
        p(f"| open + mount after kill -9 (until disk.img appears) | {meta.get('scale_reopen_s', '?')} s |")
        if "scale_reopen_rss_kib" in meta:
            p(f"| peak RSS of the reopened daemon | {int(meta['scale_reopen_rss_kib']) / 1024:.0f} MiB |")
    elif "scale_error" in meta:
        p(f"Failed: {meta['scale_error']}")
    else:
        p("Not run (--no-scale).")

    # ---- AEAD
    p("")
    p("## AEAD ceiling (bench/aead_ceiling, all cores)")
    p("")
    if aead_table:
        for line in aead_table:
            p(line)
        p("")
        p("`wall`: what the cores delivered during the run (other users' load lowers it); `cpu`: per-thread "
          "rate in the thread's own CPU time, summed over threads: the rate with the cores to itself. The "
          f"targets use the larger of the two for {cipher} (sealing {fmt(seal_ceiling)} MiB/s, opening "
          f"{fmt(open_ceiling)} MiB/s), the stricter ceiling.")
    else:
        p("Not measured (aead_ceiling failed).")

    # ---- how
    p("")
    p("## What ran")
    p("")
    size = int(meta.get("size", 0))
    p(f"- fio jobs from `bench/fio/workloads.fio`: libaio, direct I/O, a {size / 2**20:.0f} MiB region per target, "
      f"{meta.get('ramp', '?')} s ramp then {meta.get('runtime', '?')} s measured per job; each region is written "
      "in full first, so reads return real (sealed) data. Write jobs end with an fsync and its time counts "
      "(fio `end_fsync=1`): acknowledged writes must be made durable inside the measured time.")
    p("- The jobs alternate between targets: each job runs on every target in turn, and the first target "
      "rotates from job to job, so that drift in the machine's load spreads over all of them.")
    p(f"- jindisk: `{meta.get('jindisk_fuse', '?')}`, commit {meta.get('git', '?')}; a new disk of the region's "
      "size with the default cache, `-f --key-file`, then `losetup --direct-io=on`.")
    p("- FUSE ceiling: `bench/memfs_fuse`, one in-memory file with fusefs/'s FUSE settings (FUSE_USE_VERSION 312, "
      "low-level API, multithreaded loop of up to 16 threads, max_write 1 MiB, max_background 128, direct_io), "
      "through its own loop device with direct I/O.")
    p("- raw host file: a file on the same host file system, through `losetup --direct-io=on`.")
    if "dm-crypt" in ran:
        p(f"- dm-crypt: cryptsetup {meta.get('dmcrypt_cipher', '')} over a loop device.")
    else:
        p(f"- dm-crypt: **could not run**: {meta.get('notrun_dm-crypt', '?')}.")
    if "gocryptfs" in ran:
        p(f"- gocryptfs {meta.get('pkg_gocryptfs', '')}: default options, fio with O_DIRECT on one file inside it.")
    if "securefs" in ran:
        p(f"- securefs {meta.get('pkg_securefs', '')}: {meta.get('securefs_mode', '')}.")
    if "qemu-luks" in ran:
        p(f"- QEMU LUKS: {meta.get('qemu_luks', '')}; {meta.get('qemu_version', '')}.")
    p(f"- Keys and KDFs: {meta.get('kdf', '?')}. The KDF runs once at open and does not touch the I/O path.")
    failed = sorted(k for k, v in res.items() if v is None)
    if failed:
        p(f"- **{len(failed)} fio jobs failed or gave no result** (shown as –): "
          + ", ".join(f"{t} {w} qd{qd}" for t, w, qd in failed) + ". Their stderr is in the raw results.")
    else:
        p(f"- All {len(res)} fio jobs of the matrix completed.")
    for logname, who in (("jindisk-fuse.log", "jindisk-fuse (matrix)"), ("scale-fuse.log", "jindisk-fuse (scale)")):
        try:
            with open(os.path.join(args.run, logname)) as f:
                bad = [l.strip() for l in f if any(x in l.lower() for x in ("error", "fail", "corrupt"))]
        except OSError:
            bad = []
        if bad:
            p(f"- {who} logged {len(bad)} error lines, first: `{bad[0][:200]}`")
    if meta.get("jindisk_exit", "0") != "0":
        p(f"- jindisk-fuse (matrix) exited with status {meta['jindisk_exit']} at unmount.")
    p("")
    p("## Machine")
    p("")
    p("| fact | value |")
    p("|---|---|")
    for k, label in (("cpu", "CPU"), ("cores", "cores"), ("memory", "memory"), ("kernel", "kernel"),
                     ("host_fs", "host file system"), ("fio", "fio"),
                     ("pkg_gocryptfs", "gocryptfs (Debian)"), ("pkg_securefs", "securefs (Debian)"),
                     ("pkg_qemu-system-common", "qemu-storage-daemon (Debian qemu-system-common)"),
                     ("pkg_cryptsetup-bin", "cryptsetup (Debian)"), ("pkg_libfuse3-3", "libfuse3"),
                     ("pkg_libsodium23", "libsodium"), ("load_start", "load average at start (1/5/15 min)"),
                     ("load_end", "load average at end")):
        p(f"| {label} | {meta.get(k, '?')} |")
    p("")

    os.makedirs(args.docs, exist_ok=True)
    with open(os.path.join(args.docs, "results.md"), "w") as f:
        f.write("\n".join(out))

    # ---- chart data: one file per iodepth, workloads x targets, "-" for missing
    for qd in (1, 32):
        with open(os.path.join(args.run, f"chart-qd{qd}.dat"), "w") as f:
            f.write("workload " + " ".join(f'"{NAME[t]}"' for t in cols) + "\n")
            for w in WORKLOADS:
                vals = [bw(t, w, qd) for t in cols]
                f.write(f'"{LABEL[w]}" ' + " ".join("-" if v is None else f"{v:.1f}" for v in vals) + "\n")
    if args.plot:
        try:
            subprocess.run(["gnuplot", "-e",
                            f"qd1='{os.path.join(args.run, 'chart-qd1.dat')}'; "
                            f"qd32='{os.path.join(args.run, 'chart-qd32.dat')}'; "
                            f"ncol={len(cols) + 1}; outfile='{os.path.join(args.docs, 'chart.png')}'",
                            args.plot], check=True)
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"report.py: no chart ({e})", file=sys.stderr)
    # The headline table on stdout, for the README.
    print("\n".join(out[out.index("## Headline: MiB/s at iodepth 32 (direct I/O)"):
                        out.index("## Targets (issue 7; iodepth 32, ratios from this run)")]))


if __name__ == "__main__":
    main()
