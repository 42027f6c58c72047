"""Progress of a Beam step: worker processes' counts add up in the executor's log lines."""
import logging
import os
import multiprocessing
import time

from components.common import progress


def _work(count: progress.WorkerCount, items: int) -> None:
    for _ in range(items):
        count.add()
        time.sleep(0.01)
    count.flush()


def test_counts_from_worker_processes_add_up_in_the_lines(caplog):
    with caplog.at_level(logging.INFO, logger=progress.__name__):
        with progress.Progress("audio synthesis", 40, interval=0.05) as shown:
            workers = [multiprocessing.get_context("spawn").Process(target=_work, args=(shown.worker_count(), 20))
                       for _ in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(60)
            assert [w.exitcode for w in workers] == [0, 0]
            assert shown.done() == 40
            time.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("audio synthesis: ") and "/40 clips (" in line for line in lines), lines
    assert lines[-1].startswith("audio synthesis: 40/40 clips in ")
    assert not os.path.exists(shown.folder)  # the counts folder is removed


def test_line_says_rate_and_time_left():
    shown = progress.Progress("audio example gen", 800, unit="clips")
    assert shown.line(0, 5.0) == "audio example gen: 0/800 clips (0 %)"
    assert shown.line(200, 10.0) == "audio example gen: 200/800 clips (25 %), 20.0 clips/s, about 30 s left"
    assert shown.line(800, 40.0) == "audio example gen: 800/800 clips (100 %), 20.0 clips/s"


def test_a_count_without_folder_reports_to_nobody(tmp_path):
    count = progress.WorkerCount()
    count.add(3)
    count.flush()   # no error, nothing written
    remote = progress.WorkerCount(str(tmp_path / "not-on-this-machine"))
    remote.add()
    remote.flush()
    assert not (tmp_path / "not-on-this-machine").exists()
