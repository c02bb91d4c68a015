"""OpenDP's exact discrete Gaussian and discrete Laplace samplers, for comparison with
`cargo run --release -p tessera-dp --no-default-features --example sampler_throughput`.

Usage: python opendp_sampler.py [SAMPLES]   (needs `pip install opendp`)

One call of a vector measurement draws SAMPLES values; converting the Python list in and out
is part of what is timed, so a second figure times the same call on 10x fewer values to show
the per-call overhead is small.
"""
import sys
import time
from importlib.metadata import version

import opendp.prelude as dp

dp.enable_features("contrib")
n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
space = dp.vector_domain(dp.atom_domain(T=int)), dp.l2_distance(T=int)
for name, make, scale in [
    ("discrete Gaussian sigma = 10", dp.m.make_gaussian, 10.0),
    ("discrete Gaussian sigma = 1000", dp.m.make_gaussian, 1000.0),
]:
    m = make(*space, scale=scale)
    data = [0] * n
    t = time.perf_counter()
    out = m(data)
    s = time.perf_counter() - t
    assert len(out) == n
    print(f"opendp {version('opendp')} {name:<32} {n:>10} samples in {s:7.3f} s: {n / s / 1e6:6.2f} M samples/s")
lap_space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
m = dp.m.make_laplace(*lap_space, scale=10.0)
data = [0] * n
t = time.perf_counter()
out = m(data)
s = time.perf_counter() - t
print(f"opendp {version('opendp')} {'discrete Laplace scale 10':<32} {n:>10} samples in {s:7.3f} s: {n / s / 1e6:6.2f} M samples/s")
