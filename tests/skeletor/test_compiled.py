"""The compiled loops (skeletor.compiled): compiled once per machine, loaded from numba's cache after."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Clean a few frames of the procedural person (the cleaner calls every compiled loop), then
# report, for each compiled function, how often it was loaded from the cache and how often compiled.
_PROBE = textwrap.dedent(
    """
    import numba
    import numpy as np
    from skeletor.cleaner import one_euro, refined_lengths, stream
    from skeletor.cleaner.stream import StreamingCleaner
    from skeletor.pose.procedural import ProceduralPerson
    from skeletor.refiner import runtime
    from skeletor.uplift import hands, lengths, placement, priors, signs, tree

    cleaner = StreamingCleaner()
    for i, pose in enumerate(ProceduralPerson().sequence(3, 30.0)):
        kp = np.ones((75, 3))
        kp[:, 0], kp[:, 1] = 640 + 300 * pose[:, 0], 360 - 300 * pose[:, 1]
        cleaner.push(kp, i / 30.0, None, (1280, 720))
    for module in (one_euro, refined_lengths, stream, runtime, hands, lengths, placement, priors, signs, tree):
        for name, fn in vars(module).items():
            if isinstance(fn, numba.core.registry.CPUDispatcher):
                print(name, sum(fn.stats.cache_hits.values()), sum(fn.stats.cache_misses.values()))
    """
)


def _probe() -> dict[str, tuple[int, int]]:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {name: (int(hits), int(misses)) for name, hits, misses in (line.split() for line in out.splitlines())}


def test_a_second_interpreter_loads_every_loop_from_the_cache() -> None:
    _probe()  # compiles whatever this checkout has not compiled yet
    again = _probe()
    # the loops the cleaner calls from Python (those called only from other compiled loops are compiled into them)
    used = {"_forward", "_continuity", "_hint_and_facing", "_on_rays", "_impose_lengths", "_ring_put", "_sorted_quantile", "_one_euro_step",
            "_chirality", "_carry_hands_onto", "_shoulder_medians", "_bone_lengths", "_pull_step", "_emitted"}  # fmt: skip
    assert used <= set(again)
    assert all(again[name][0] >= 1 for name in used), again  # loaded from the cache ...
    assert all(misses == 0 for _, misses in again.values()), again  # ... and nothing compiled
