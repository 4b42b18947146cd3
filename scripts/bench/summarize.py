#!/usr/bin/env python3
"""Summarise hyperfine JSON exports as medians and ratios (the first command
is the reference). Usage: summarize.py RESULT.json [RESULT.json ...]"""
import json
import statistics
import sys

for path in sys.argv[1:]:
    with open(path) as f:
        results = json.load(f)["results"]
    ref = statistics.median(results[0]["times"])
    print(f"| command | median | min | max | runs | ratio to `{results[0]['command']}` |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        med = statistics.median(r["times"])
        print(
            f"| `{r['command']}` | {med:.3f} s | {min(r['times']):.3f} s | "
            f"{max(r['times']):.3f} s | {len(r['times'])} | {med / ref:.2f}x |"
        )
    print()
