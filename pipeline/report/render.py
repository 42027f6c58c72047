"""report.html from the facts: each section's content is worked out in Python (the *_section modules, and
the small Push and Pipeline sections here), then laid out by the Jinja2 templates in templates/.

Every value is escaped by autoescaping: summary.json holds error messages and file names, which must
show as text. The only markup inserted as it is is report.css, our own file.
"""
import functools
from typing import Any, Dict, List, NamedTuple, Optional

import jinja2
import markupsafe

from pipeline import pipeline as pipeline_def
from pipeline import run_dir
from pipeline.report import data_section, evaluation_section, formats, training_section
from pipeline.report.gather import Facts
from pipeline.report.status import not_reached, run_status

SECTIONS = (("data", "Data"), ("training", "Training"), ("evaluation", "Evaluation"), ("push", "Push"),
            ("pipeline", "Pipeline"))


def _environment() -> jinja2.Environment:
    # StrictUndefined: a misspelt name in a template fails the page instead of printing nothing.
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipeline.report", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True)
    env.filters.update(num=formats.num, pct=formats.pct, shape=formats.shape, css_class=formats.css_class)
    return env


ENVIRONMENT = _environment()


def _css() -> markupsafe.Markup:
    """report.css, read through the loader (so from the installed package too) and marked safe: escaping
    would turn its quotes into entities, which a <style> element does not decode."""
    source, _, _ = ENVIRONMENT.loader.get_source(ENVIRONMENT, "report.css")
    return markupsafe.Markup(source)


def _push(facts: Facts) -> Dict[str, Any]:
    """The pushed model and its signatures, or why nothing was pushed."""
    model = facts.model
    if model.pushed:
        return {"pushed": True, "pushed_model": model.pushed_model, "signatures": facts.signatures or []}
    stop = facts.summary.stopped_at()
    if model.blessed is False:
        why = "Not pushed: the model was not blessed (see Evaluation)."
    elif stop:
        why = f"Not pushed: the run stopped at {stop[0] or 'an unknown step'} before the Pusher."
    else:
        why = f"Not pushed (Pusher: {facts.status(pipeline_def.PUSHER)})."
    return {"pushed": False, "why": why}


class Component(NamedTuple):
    """A pipeline component as the header's strip and the Pipeline section show it."""
    name: str
    status: str
    seconds: Optional[float]
    outputs: List[str]


def _components(facts: Facts) -> List[Component]:
    """In pipeline order (summary.json's)."""
    return [Component(name, entry.status, facts.durations.get(name),
                      [uri for uris in entry.outputs.values() for uri in uris])
            for name, entry in facts.summary.components.items()]


def render(facts: Facts) -> str:
    kind, headline, details = run_status(facts.summary)
    # The sections' content is worked out before any template runs: a picture that cannot be drawn adds
    # a note to facts.problems, which the section prints at its top.
    sections = {"data": data_section.context(facts), "training": training_section.context(facts),
                "evaluation": evaluation_section.context(facts), "push": _push(facts)}
    return ENVIRONMENT.get_template("page.html.j2").render(
        facts=facts, summary=facts.summary, status={"kind": kind, "headline": headline, "details": details},
        sections=SECTIONS, components=_components(facts), css=_css(),
        run_dir=run_dir, not_reached=functools.partial(not_reached, facts.summary), **sections)
