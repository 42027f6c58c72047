"""The project's SynthesizeClip DoFn, timed: lives in an importable module so Beam workers can load it.

Each output line is the DoFn's manifest line plus when the clip finished (time.time()), how long the
DoFn's own process() took (perf_counter), and which worker process made it.
"""
import json
import os
import time
from typing import Iterator, List, Tuple

from components.audio_synthesis.executor import SynthesizeClip


class TimedSynthesizeClip(SynthesizeClip):

    def setup(self):
        start = time.time()
        super().setup()
        self._setup_s = time.time() - start

    def process(self, element: Tuple[str, int]) -> Iterator[str]:
        start = time.perf_counter()
        lines = list(super().process(element))
        took = time.perf_counter() - start
        finished = time.time()
        for line in lines:
            meta = json.loads(line)
            yield json.dumps({"clip_id": meta["clip_id"], "finished": finished, "process_s": took,
                              "pid": os.getpid(), "setup_s": self._setup_s,
                              "utterances": len(meta["utterances"])})


def write_lines(lines: List[str], path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))
