"""Throughput chart for BENCHMARKS.md from the TSV `make bench` writes.

usage: chart.py target/bench/throughput.tsv tests/bench/throughput.png
"""
import sys

import matplotlib

matplotlib.use("Agg")  # no display on CI machines
import matplotlib.pyplot as plt


def main(tsv: str, png: str) -> None:
    rows = []
    with open(tsv, encoding="utf-8") as f:
        for line in f:
            name, rps = line.rstrip("\n").split("\t")
            rows.append((name, float(rps)))
    names = [n for n, _ in rows][::-1]
    values = [v for _, v in rows][::-1]
    # The filter in blue; the baselines it is measured against in grey.
    colors = ["#1f6fb2" if n.startswith("filter") else "#9a9a9a" for n in names]
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.2))
    bars = ax.barh(names, values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], padding=3, fontsize=8)
    ax.set_xlabel("requests per second (median, Envoy --concurrency 1, wrk -c16)")
    ax.set_title("apirule-wasm: throughput per scenario (grey: baselines)")
    ax.set_xlim(0, max(values) * 1.15)
    ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
