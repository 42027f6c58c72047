"""report.html: one self-contained page that shows what a run did, for a person to look at.

`audioclf run` writes it after summary.json at the end of every run (finished, not blessed, failed or interrupted);
`audioclf report --output DIR` rebuilds it from DIR's summary.json, config.json, metadata.sqlite and the
artifacts they name. Sections: Data, Training, Evaluation, Push and the Pipeline's components, under a
banner that says how the run ended (and where and why it stopped). Pictures are PNG data URIs, the CSS
is inline, and there is no script, so the file can be mailed or archived on its own.

The work is done in two steps: gather.py reads the run into Facts (a part that is missing or unreadable
becomes a note in its section instead of a missing page), render.py turns them into HTML through the
Jinja2 templates in templates/ (the *_section modules work out each section's tables and sentences,
figures.py draws the pictures).
"""
import json
import os
from typing import Any, Dict

from components.common import fs
from components.common.stats import per_class_metrics, wilson_interval  # noqa: F401 (report API)
from pipeline import run_dir
from pipeline.report.gather import Facts, gather  # noqa: F401 (report API)
from pipeline.report.render import render
from pipeline.report.status import run_status  # noqa: F401 (report API)


def write_config(output_dir: str, config: Dict[str, Any]) -> str:
    """<output>/config.json: the whole config a run used, written atomically. It is also a valid
    `--config` file, so `audioclf run --config <output>/config.json` repeats the run's settings."""
    path = fs.join(output_dir, run_dir.CONFIG)
    fs.write_text(path, json.dumps(config, indent=1) + "\n")  # in PipelineConfig order: corpus, synthesis, ...
    return path


def write_report(output_dir: str) -> str:
    """Writes <output_dir>/report.html (atomically) and returns its path."""
    output_dir = output_dir if fs.is_remote(output_dir) else os.path.abspath(output_dir)
    page = render(gather(output_dir))
    path = fs.join(output_dir, run_dir.REPORT)
    fs.write_text(path, page)
    return path
