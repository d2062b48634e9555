"""bench_models --serve from Python, and the quartiles of a list of ratios: shared by
bench/models_reference.py (xdnn beside PyTorch) and bench/ab_paired.py (two xdnn binaries); no torch import."""
import os
import statistics
import subprocess


class XdnnServer:
    """bench_models --serve: one call of a case per request, its wall time back."""

    def __init__(self, binary, models_dir, threads):
        env = dict(os.environ, XDNN_NUM_THREADS=str(threads))
        self.proc = subprocess.Popen([binary, "--models", models_dir, "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit(f"{binary} --serve did not start")

    def call(self, case):
        """Seconds of one call of `case`."""
        self.proc.stdin.write(case + "\n")
        self.proc.stdin.flush()
        out = self.proc.stdout.readline().strip()
        if not out or out.startswith("error"):
            raise SystemExit(f"bench_models --serve, case {case}: {out or 'exited'}")
        return float(out) / 1e3


def quartiles(v):
    v = sorted(v)
    return v[len(v) // 4], statistics.median(v), v[(3 * len(v)) // 4]
