#!/usr/bin/env python3
"""Turns the measurements of bench/run.sh into the Markdown results table.

Inputs: measures.tsv (one line per timed command: latency, scenario, tool,
repetition, /usr/bin/time -v output file, byte offsets of the two registry
logs before and after, the registries' CPU seconds before and after), the two
registry logs, the number of images, and a
one-line description of the workload. Requests are read from the registry's
combined access-log lines (`"METHOD URI HTTP/1.1" STATUS SIZE`), one per
request; bytes served are the sizes of GET responses.
"""

import re
import statistics
import sys
from collections import Counter, defaultdict

ACCESS = re.compile(r'"([A-Z]+) (\S+) HTTP/[0-9.]+" (\d{3}) (\d+|-)')
METHODS = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"]
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
SCENARIOS = {
    "a": "(a) promote dev/ -> prod/, same registry",
    "b": "(b) promote to a second registry",
    "c": "(c) re-run, everything already promoted",
    "d": "(d) nothing-to-do check (plan / inspect loop)",
    "e": "(e) 512 MiB-class layer to a second registry",
}


def parse_time(path):
    fields = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.strip().rpartition(": ")
            fields[key] = value
    clock = fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":")
    wall = 0.0
    for part in clock:
        wall = wall * 60 + float(part)
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    rss_mib = int(fields["Maximum resident set size (kbytes)"]) / 1024
    return wall, cpu, rss_mib


def requests(log, start, end):
    with open(log, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", "replace")
    counts, served, blob_served = Counter(), 0, 0
    for match in ACCESS.finditer(text):
        method, uri, _status, size = match.groups()
        counts[method] += 1
        if method == "GET" and size != "-":
            served += int(size)
            if "/blobs/" in uri:
                blob_served += int(size)
    return counts, served, blob_served


def main():
    measures, dev_log, prod_log, images, workload = sys.argv[1:6]
    images = int(images)
    runs = defaultdict(list)
    with open(measures) as f:
        for line in f:
            latency, scenario, tool, _rep, time_file, d0, d1, p0, p1, c0, c1 = line.rstrip("\n").split("\t")
            wall, cpu, rss = parse_time(time_file)
            registry_cpu = float(c1) - float(c0)
            counts, served, blob_served = requests(dev_log, int(d0), int(d1))
            c2, s2, b2 = requests(prod_log, int(p0), int(p1))
            counts.update(c2)
            runs[(int(latency), scenario, tool)].append(
                dict(wall=wall, cpu=cpu, registry_cpu=registry_cpu, rss=rss, counts=counts, served=served + s2, blobs=blob_served + b2)
            )

    def med(key, metric):
        return statistics.median(r[metric] for r in runs[key])

    def med_count(key, method):
        return statistics.median(r["counts"].get(method, 0) for r in runs[key])

    out = [f"# quayside vs skopeo ({workload}; {images} images of 2 platforms)", ""]
    out.append("Medians over the repetitions. Requests and bytes are those the registries "
               "logged (both registries); bytes are GET response bodies, `blob` the part "
               "that was blob downloads. `signed-loop` is upstream skopeo with sigstore "
               "signing each release (the baseline for signed promotion), `skopeo` the "
               "unsigned Debian loop; both ratios are quayside's wall time over theirs, "
               "from the same run. `registry CPU s` is what the registry processes spent "
               "(user + system) while the command ran.")
    out.append("")
    out.append("| latency | scenario | tool | wall s | CPU s | registry CPU s | peak RSS MiB | requests | per image | "
               + " | ".join(METHODS) + " | MiB served | blob MiB | wall q / signed loop | wall q / skopeo |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(METHODS) + "---:|---:|---:|---:|")
    verdicts = []
    for latency in sorted({k[0] for k in runs}):
        for scenario in sorted({k[1] for k in runs if k[0] == latency}):
            q, s = (latency, scenario, "quayside"), (latency, scenario, "skopeo")
            if q not in runs or s not in runs:
                continue
            ratio = med(q, "wall") / med(s, "wall") if med(s, "wall") else float("nan")
            g = (latency, scenario, "signed-loop")
            signed = None
            if g in runs and med(g, "wall"):
                signed = med(q, "wall") / med(g, "wall")
            n = 1 if scenario == "e" else images
            for key in [q] + ([g] if g in runs else []) + [s]:
                total = statistics.median(sum(r["counts"].values()) for r in runs[key])
                out.append(
                    f"| {latency} ms | {SCENARIOS[scenario]} | {key[2]} | {med(key, 'wall'):.2f} | "
                    f"{med(key, 'cpu'):.2f} | {med(key, 'registry_cpu'):.2f} | {med(key, 'rss'):.1f} | {total:g} | {total / n:.1f} | "
                    + " | ".join(f"{med_count(key, m):g}" for m in METHODS)
                    + f" | {med(key, 'served') / 2**20:.2f} | {med(key, 'blobs') / 2**20:.2f} | "
                    + (f"{signed:.2f} | " if key == q and signed is not None else " | ")
                    + (f"{ratio:.2f} |" if key == q else "|")
                )
            verdicts += targets(latency, scenario, runs[q], ratio, n, med(q, "rss"))
            verdicts += signed_targets(latency, scenario, runs[q], signed, n)
    out += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
    out += [f"| {t} | {m} | {'yes' if ok else '**no**'} |" for t, m, ok in verdicts]
    print("\n".join(out))


def signed_targets(latency, scenario, quayside, signed, images):
    """Issue 18's targets against the signed loop (same-run ratios)."""
    if signed is None or scenario != "a":
        return []
    total = statistics.median(sum(r["counts"].values()) for r in quayside)
    at = f"{latency} ms"
    bound = 0.12 if latency == 0 else 0.05
    found = [(f"(a) {at}: wall <= {bound} x the signed loop", f"{signed:.2f}", signed <= bound)]
    if latency == 0:
        found.append((f"(a) {at}: <= 24 requests per signed image", f"{total / images:.1f}",
                      total / images <= 24))
    return found


def targets(latency, scenario, quayside, ratio, images, rss):
    """The issue's targets that apply to this latency and scenario."""
    total = statistics.median(sum(r["counts"].values()) for r in quayside)
    blobs = statistics.median(r["blobs"] for r in quayside)
    writes = max(sum(r["counts"].get(m, 0) for m in WRITES) for r in quayside)
    found = []
    at = f"{latency} ms"
    if scenario == "a" and latency == 0:
        found.append((f"(a) {at}: wall <= 1/4 of skopeo", f"{ratio:.2f}", ratio <= 0.25))
        found.append((f"(a) {at}: <= 25 requests per image", f"{total / images:.1f}", total / images <= 25))
        found.append((f"(a) {at}: no layer bytes served", f"{blobs / 2**20:.2f} MiB", blobs == 0))
    if scenario in "ab" and latency >= 20:
        found.append((f"({scenario}) {at}: wall <= 1/10 of skopeo", f"{ratio:.2f}", ratio <= 0.1))
    if scenario == "c":
        found.append((f"(c) {at}: no write request", f"{writes} (max over runs)", writes == 0))
        found.append((f"(c) {at}: <= 3 requests per release", f"{total / images:.1f}", total / images <= 3))
    if scenario == "d":
        found.append((f"(d) {at}: wall <= 1/3 of skopeo inspect loop", f"{ratio:.2f}", ratio <= 1 / 3))
    if scenario == "e":
        found.append((f"(e) {at}: peak RSS < 64 MiB", f"{rss:.1f} MiB", rss < 64))
    return found


if __name__ == "__main__":
    main()
