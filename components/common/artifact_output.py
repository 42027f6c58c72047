"""Nothing half-written: an executor's outputs are removed if the executor fails."""
import contextlib
import logging

from components.common import fs

log = logging.getLogger(__name__)


@contextlib.contextmanager
def cleaned_on_failure(*uris: str):
    """Runs the body; on any exception empties the output URIs, then re-raises.

    TFX does not publish the output artifacts of a failed execution, but their directories would still
    hold whatever the executor wrote before it failed. Emptying them keeps a failed run from leaving
    files that look like results.
    """
    try:
        yield
    except BaseException:
        for uri in uris:
            try:
                fs.remove_tree_contents(uri)
            except OSError as err:  # the original error matters more than a cleanup problem
                log.warning("could not clean %s after a failure: %s", uri, err)
        raise
