#!/usr/bin/env python3
"""Usage: rounds.py N NAME=CMD... [prep:NAME=CMD...]

Runs every command (through sh) once per round for N rounds, in an order rotated each round, so
that all see the same drift of this VM's speed; prints the median, fastest and slowest wall time
of each. A `prep:NAME` command runs untimed before each run of NAME (e.g. emptying a cache)."""
import subprocess, sys, time, statistics
n = int(sys.argv[1]); cmds = []; prep = {}
for a in sys.argv[2:]:
    k, v = a.split('=', 1)
    if k.startswith('prep:'): prep[k[5:]] = v
    else: cmds.append((k, v))
times = {k: [] for k, _ in cmds}
for r in range(n):
    order = cmds[r % len(cmds):] + cmds[:r % len(cmds)]
    for k, c in order:
        if k in prep: subprocess.run(prep[k], shell=True, check=True)
        t = time.perf_counter()
        p = subprocess.run(c, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t
        if p.returncode: sys.exit(f'{k} failed: {p.stderr.decode()[-500:]}')
        times[k].append(dt)
for k, v in times.items():
    print(f'{k:24} median {statistics.median(v)*1000:8.1f} ms  min {min(v)*1000:8.1f}  max {max(v)*1000:8.1f}  (n={len(v)})')
