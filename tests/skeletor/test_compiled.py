"""The compiled loops (skeletor.compiled): ready before the first frame, compiled once per
machine, loaded from numba's cache after."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Build a cleaner, then clean a few frames of the procedural person with a depth hint (the
# cleaner calls every compiled loop); report, for each compiled function, how often it was
# loaded from the cache, how often compiled, and how many versions it had after the
# constructor and after the frames.
_PROBE = textwrap.dedent(
    """
    import numba
    import numpy as np
    from skeletor.cleaner import one_euro, refined_lengths, stream
    from skeletor.cleaner.stream import StreamingCleaner
    from skeletor.pose.procedural import PersonConfig, ProceduralPerson
    from skeletor.refiner import runtime, windows
    from skeletor.uplift import hands, lengths, placement, priors, signs, tree

    def loops():
        for module in (one_euro, refined_lengths, stream, runtime, windows, hands, lengths, placement, priors, signs, tree):
            for name, fn in vars(module).items():
                if isinstance(fn, numba.core.registry.CPUDispatcher):
                    yield name, fn

    cleaner = StreamingCleaner()
    built = {name: len(fn.signatures) for name, fn in loops()}
    for i, pose in enumerate(ProceduralPerson(PersonConfig(seed=7)).sequence(4, 25.0) * 1.1):
        kp = np.ones((75, 3), np.float32)
        kp[:, 0], kp[:, 1] = 600 + 280 * pose[:, 0], 380 - 280 * pose[:, 1]
        cleaner.push(kp, i / 25.0, (280 * pose[:, 2]).astype(np.float32), (1280, 720))
    for name, fn in loops():
        print(name, sum(fn.stats.cache_hits.values()), sum(fn.stats.cache_misses.values()), built[name], len(fn.signatures))
    """
)

# the loops the cleaner calls from Python (those called only from other compiled loops are compiled into them)
USED = {"_forward", "_continuity", "_hint_and_facing", "_on_rays", "_impose_lengths", "_ring_put", "_sorted_quantile", "_one_euro_step",
        "_chirality", "_carry_hands_onto", "_shoulder_medians", "_bone_lengths", "_pull_step", "emitted_frame"}  # fmt: skip


def _probe() -> dict[str, tuple[int, ...]]:
    out = subprocess.run([sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {name: tuple(int(x) for x in rest) for name, *rest in (line.split() for line in out.splitlines())}


def test_a_second_interpreter_loads_every_loop_from_the_cache() -> None:
    _probe()  # compiles whatever this checkout has not compiled yet
    again = _probe()
    assert USED <= set(again)
    assert all(again[name][0] >= 1 for name in USED), again  # loaded from the cache ...
    assert all(misses == 0 for _, misses, _, _ in again.values()), again  # ... and nothing compiled


def test_the_constructor_readies_every_loop_the_frames_use() -> None:
    """The first live frames must not wait for a compile (several seconds on a machine's first
    run: the demo dropped 74 frames and the cleaner took the stall for a person leaving). Frames
    of another person, scale and dtype than the constructor's warm-up need no new version."""
    report = _probe()
    for name in USED:
        _, _, after_constructor, after_frames = report[name]
        assert after_constructor >= 1 and after_frames == after_constructor, (name, report[name])
