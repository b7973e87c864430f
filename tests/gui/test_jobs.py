"""Background jobs outlive their worker threads, whatever the GUI does with them.

(After a test has run the whole app through ``QApplication.exec()`` and ``quit()``, queued calls
no longer reach the GUI thread in this process: such tests are marked ``app_exec`` and run last,
see tests/conftest.py.)
"""

from __future__ import annotations


def test_started_job_is_kept_until_its_thread_has_finished(qtbot):
    """The GUI forgets a job when it handles ``done``; the job must outlive its worker thread
    anyway (a job deleted while its thread is still leaving ``run`` crashes the process)."""
    import gc
    import threading
    import weakref

    from PySide6.QtCore import QObject

    from par_studio.gui.main_window import ensure_app
    from par_studio.gui.workers import Job, JobKeeper, start_job

    ensure_app()
    release = threading.Event()

    class Blocking(Job):
        def work(self):
            release.wait(10)
            return 1

    owner = QObject()
    job = Blocking()
    start_job(job, owner)
    ref = weakref.ref(job)
    del job
    gc.collect()
    assert ref() is not None and len(JobKeeper.of(owner)) == 1  # running: held by the keeper
    release.set()
    qtbot.waitUntil(lambda: len(JobKeeper.of(owner)) == 0, timeout=10_000)
    gc.collect()
    assert ref() is None  # and let go once the thread has ended
