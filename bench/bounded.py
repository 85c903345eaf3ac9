"""What cancellable fitting costs: each fit with the progress callback a job gets (small steps, a
cancel check after each) against the same fit in one piece, and how long the steps are.

    .venv/bin/python bench/bounded.py [--windows 4000] [--features 243] [--repeat 3]

Prints seconds (best of --repeat) for: RandomForest (200 trees) grown in one fit vs in batches
(warm_start), LightGBM (100 rounds) without vs with the per-round callback, MiniRocket's
transform with the former fixed 512-window chunks vs the bounded chunks, and the longest gap
between two progress reports, which bounds how long a cancel waits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from taskml.pipeline.aggregation import aggregate  # noqa: E402
from taskml.pipeline.estimators import ModelParams, fit_estimator, make_estimator  # noqa: E402
from taskml.pipeline.representations import MINIROCKET_CHUNK_VALUES, MiniRocket  # noqa: E402


class Gaps:
    """A progress callback recording the longest time between two calls."""

    def __init__(self):
        self.last = time.perf_counter()
        self.longest = 0.0
        self.calls = 0

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        self.longest = max(self.longest, now - self.last)
        self.last = now
        self.calls += 1


def best(repeat: int, work) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, default=4000)
    parser.add_argument("--features", type=int, default=243)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, args.windows)
    x = rng.normal(size=(args.windows, args.frames, args.features)).astype(np.float32) + y[:, None, None] * 0.1
    stats = aggregate(x, "stats")
    print(f"{args.windows} windows × {args.frames} frames × {args.features} features; best of {args.repeat}")

    forest = ModelParams(n_estimators=200)
    whole, _ = best(args.repeat, lambda: make_estimator("rf", forest, 0).fit(stats, y))
    gaps = Gaps()
    batched, _ = best(args.repeat, lambda: fit_estimator(make_estimator("rf", forest, 0), stats, y, progress=gaps))
    print(
        f"rf 200 trees:        one fit {whole:6.2f} s   in batches {batched:6.2f} s ({batched / whole - 1:+.1%}); "
        f"longest step {gaps.longest:.2f} s"
    )

    boosting = ModelParams(n_estimators=100)
    plain, _ = best(args.repeat, lambda: make_estimator("lgbm", boosting, 0).fit(stats, y))
    gaps = Gaps()
    reported, _ = best(args.repeat, lambda: fit_estimator(make_estimator("lgbm", boosting, 0), stats, y, progress=gaps))
    print(
        f"lgbm 100 rounds:     no callback {plain:6.2f} s   per-round callback {reported:6.2f} s "
        f"({reported / plain - 1:+.1%}); longest step {gaps.longest:.2f} s"
    )

    import taskml.pipeline.representations as representations

    for features in (2_000, 10_000):
        rocket = MiniRocket(num_features=features, random_state=0).fit(x)
        saved = representations.MINIROCKET_CHUNK_VALUES
        representations.MINIROCKET_CHUNK_VALUES = 10**15  # the former behaviour: 512 windows a chunk
        try:
            old, _ = best(args.repeat, lambda: rocket.transform(x))  # noqa: B023
        finally:
            representations.MINIROCKET_CHUNK_VALUES = saved
        gaps = Gaps()
        new, _ = best(args.repeat, lambda: rocket.transform(x, progress=gaps))  # noqa: B023
        chunk = max(1, min(512, MINIROCKET_CHUNK_VALUES // (rocket.biases_.size * args.frames)))
        print(
            f"minirocket {features:>6,}: 512-window chunks {old:6.2f} s   {chunk}-window chunks {new:6.2f} s "
            f"({new / old - 1:+.1%}); longest step {gaps.longest:.2f} s"
        )


if __name__ == "__main__":
    main()
