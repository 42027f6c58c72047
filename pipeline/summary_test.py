"""The parts of summary.json computed from a run's outputs without ML Metadata."""
from pipeline import summary


def test_skipped_utterances_are_distinct_files_per_reason_with_a_few_named(monkeypatch):
    monkeypatch.setattr(summary, "SKIPPED_EXAMPLES", 2)
    rows = [{"skipped_files": ["/c/s.flac", "/c/t.flac"], "skipped_why": {"/c/s.flac": "silent", "/c/t.flac": "too short"}},
            {"skipped_files": ["/c/s.flac"], "skipped_why": {"/c/s.flac": "silent"}},   # drawn again by another clip
            {"skipped_files": ["/c/a.flac"]},                                            # an older manifest line
            {"skipped_files": []}]
    part = summary.skipped_utterances(rows)
    assert part.count == 3 and part.by_reason == {"undecodable": 1, "silent": 1, "too short": 1}
    assert [(e.path, e.reason) for e in part.examples] == [("/c/a.flac", "undecodable"), ("/c/s.flac", "silent")]
    assert summary.skipped_utterances(None) is None
