"""The run folder: what `audioclf run --output DIR` writes there, one name each. The local runner, the
summary, the report, the CLI and bench all find a run's files through these names."""
from components.common import fs

CONFIG = "config.json"          # the run's whole PipelineConfig
SUMMARY = "summary.json"        # pipeline/summary.py: status, steps, numbers
REPORT = "report.html"          # pipeline/report/, rebuilt by `audioclf report DIR`
METADATA = "metadata.sqlite"    # ML Metadata of the LocalDagRunner
PIPELINE_ROOT = "pipeline_root"  # the artifacts of every component
# Where the Pusher puts blessed models (unless pusher.serving_dir is set); a Kubeflow run uses the same
# name under its pipeline root.
SERVING = "serving"


def path(output_dir: str, name: str) -> str:
    """`output_dir/name` for local folders and gs:// alike."""
    return fs.join(output_dir, name)


def output_uri(components: dict, component: str, key: str):
    """The first URI `component` wrote under output `key`, from summary.json's "components" part
    (None when the component did not run or wrote nothing there)."""
    uris = components.get(component, {}).get("outputs", {}).get(key) or []
    return uris[0] if uris else None
