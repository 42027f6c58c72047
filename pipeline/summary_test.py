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


def _store_with(path, finished, running=()):
    """An ML Metadata store holding one pipeline run whose components `finished` are COMPLETE and `running`
    RUNNING, with the contexts LocalDagRunner gives them."""
    from ml_metadata import metadata_store
    from ml_metadata.proto import metadata_store_pb2
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = metadata_store.MetadataStore(config)
    run_type = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline_run"))
    node_type = store.put_context_type(metadata_store_pb2.ContextType(name="node"))
    execution_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="component"))
    [run] = store.put_contexts([metadata_store_pb2.Context(type_id=run_type, name="run-1", type="pipeline_run")])
    states = [(c, metadata_store_pb2.Execution.COMPLETE) for c in finished] + [
        (c, metadata_store_pb2.Execution.RUNNING) for c in running]
    for component, state in states:
        [node] = store.put_contexts([metadata_store_pb2.Context(type_id=node_type, name=f"audioclf.{component}")])
        [execution] = store.put_executions([metadata_store_pb2.Execution(type_id=execution_type,
                                                                          last_known_state=state)])
        store.put_attributions_and_associations([], [metadata_store_pb2.Association(context_id=c, execution_id=execution)
                                                     for c in (run, node)])


def test_an_interrupt_names_the_running_component_or_the_next_one_between_two(tmp_path):
    order = summary.pipeline_def.COMPONENT_ORDER
    done = [order[-3], order[0]]   # the resolver runs first
    running = tmp_path / "running"
    running.mkdir()
    _store_with(str(running / "metadata.sqlite"), done, running=[order[1]])
    part = summary.write_summary(str(running), str(running / "metadata.sqlite"), "p", interrupted="SIGINT")
    assert part.interrupted_at == order[1] and part.components[order[1]].status == "interrupted"
    assert part.components[order[1]].execution_id is not None and part.error == "interrupted by SIGINT"

    between = tmp_path / "between"
    between.mkdir()
    _store_with(str(between / "metadata.sqlite"), done + [order[1]])
    part = summary.write_summary(str(between), str(between / "metadata.sqlite"), "p", interrupted="SIGINT")
    assert part.interrupted_at == order[2] and part.components[order[2]].status == "interrupted"
    assert part.components[order[2]].execution_id is None
    assert [c for c, e in part.components.items() if e.status == "interrupted"] == [order[2]]
    assert part.components[order[1]].status == "complete" and part.components[order[3]].status == "not run"

    # A run that failed, not interrupted, names nothing.
    part = summary.write_summary(str(between), str(between / "metadata.sqlite"), "p", error="boom")
    assert part.interrupted_at is None and part.components[order[2]].status == "not run"
