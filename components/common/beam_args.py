"""Beam arguments of the DirectRunner as every Beam component of the pipeline runs it.

TFX's Beam executors build a package of TFX itself for the Beam workers (`tfx_ephemeral`, 52 MB, in the temp
dir, never removed) unless one of DEPENDENCY_FLAGS says where the workers get their Python packages. The
DirectRunner's workers are processes of the environment that runs the step (this machine's, or on Kubeflow
the step's image), so there is nothing to stage: naming the step's image as the SDK container, which the
DirectRunner does not use, stops the build (a day of runs on this machine had left 136 of them, 7 GB).
"""
from typing import List, Sequence

DEPENDENCY_FLAGS = ("--extra_package", "--setup_file", "--requirements_file", "--sdk_container_image",
                    "--worker_harness_container_image")


def direct_runner(running_mode: str, num_workers: int, image: str, extra: Sequence[str] = ()) -> List[str]:
    """`extra` followed by the DirectRunner's settings, and `image` as the SDK container unless `extra`
    already says how the workers get their packages."""
    args = [*extra, f"--direct_running_mode={running_mode}", f"--direct_num_workers={num_workers}"]
    if not any(a.split("=")[0] in DEPENDENCY_FLAGS for a in args):
        args.append(f"--sdk_container_image={image}")
    return args
