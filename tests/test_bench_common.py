"""What the benchmarks share (bench/common.py), on a real child process."""

import subprocess
import sys
import time

from bench.common import MemorySampler, process_peak_rss_mb


def test_memory_sampler_follows_a_process_until_it_ends():
    # A child that holds about 60 MB for three seconds, then exits.
    child = subprocess.Popen([sys.executable, "-c", "import time; b = bytearray(60 * 2**20); time.sleep(3)"])
    try:
        time.sleep(1.5)
        assert process_peak_rss_mb(child.pid) > 50
        sampler = MemorySampler(child.pid)
        child.wait(10)
        time.sleep(1.2)  # a sample after the end finds no process, and adds nothing
        sampler.stop()
    finally:
        child.kill()
    figures = sampler.figures()
    assert sampler.memory and all(mb > 50 for _, mb in sampler.memory)
    assert figures["rss_mb_max"] == round(max(mb for _, mb in sampler.memory), 1)
    assert process_peak_rss_mb(child.pid) is None  # gone


def test_memory_figures_slope_over_the_second_half():
    sampler = MemorySampler(-1)  # no such process: nothing sampled
    sampler.stop()
    assert sampler.figures() == {"rss_mb_max": None, "rss_mb_slope_per_min_second_half": None}
    sampler.memory = [(0.0, 100.0), (60.0, 100.0), (120.0, 110.0), (180.0, 120.0)]  # +10 MB a minute, late
    assert sampler.figures() == {"rss_mb_max": 120.0, "rss_mb_slope_per_min_second_half": 10.0}
