"""The app's open path under bad input (issue 17): every failure is a dialog that names the
file, its traceback goes to the log file and not to stderr, the app keeps working; a damaged
autosave is offered without its invalid notes, and the offer says how many were left out."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import fuzzgen  # noqa: E402

LONG = 30000


def test_hostile_files_open_as_dialogs_naming_them(qtbot, make_window, tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("PAR_STUDIO_LOG_DIR", str(tmp_path / "logs"))
    bad = [fuzzgen.hostile_wav(tmp_path / f"{k}.wav", k) for k in ("rate-1hz", "channels-65535", "bits-13")]
    bad.append(fuzzgen.random_bytes(tmp_path / "noise.mp3"))
    bad.append(fuzzgen.fifo(tmp_path / "pipe.flac"))
    link = tmp_path / "gone.ogg"
    link.symlink_to(tmp_path / "nowhere.ogg")
    bad.append(link)
    win = make_window()
    for path in bad:
        with qtbot.waitSignal(win.sigError, timeout=LONG) as blocker:
            win.open_file(str(path))
        msg = blocker.args[0]
        assert path.name in msg and "went wrong" not in msg, msg
    good = fuzzgen.good_wav(tmp_path / "fine.wav", seconds=1.0)
    qtbot.waitUntil(lambda: win.job is None, timeout=LONG)
    win.open_file(str(good), transcribe=False)
    qtbot.waitUntil(lambda: win.loaded is not None and win.loaded.path == str(good), timeout=LONG)
    assert "Traceback" not in capfd.readouterr().err
    log = (tmp_path / "logs" / "par-studio.log").read_text()
    assert log.count("ERROR LoadJob failed on") == len(bad) and "Traceback" in log and "rate-1hz.wav" in log


def test_damaged_autosave_is_offered_without_its_invalid_notes(qtbot, make_window, short_audio):
    win = make_window()
    with qtbot.waitSignal(win.sigTranscribed, timeout=LONG) as blocker:
        win.open_file(str(short_audio))
    fresh = blocker.args[0].notes
    assert len(fresh) > 1
    win.editor.set_selection([0])
    with qtbot.waitSignal(win.session.sigAutosaved, timeout=5000) as saved:
        win.editor.delete_selected()
    edited = win.notes
    win.close()
    path = Path(saved.args[0])
    doc = json.loads(path.read_text())
    doc["pitch"] += [500, 60]
    doc["onset"] += [0.1, -2.0]
    doc["offset"] += [0.2, 0.5]
    doc["velocity"] += [80, 80]
    path.write_text(json.dumps(doc))

    win2 = make_window()
    with qtbot.waitSignals([win2.sigTranscribed, win2.session.sigRestoreOffered], timeout=LONG):
        win2.open_file(str(short_audio))
    assert "2 invalid notes" in win2.session.bar.label.text()
    win2.session.bar.restore_button.click()
    assert win2.notes.equals(edited)
    out = win2.export(Path(saved.args[0]).parent.parent / "restored.mid")
    assert out is not None and out.exists()



def test_malformed_checkpoint_in_the_app_names_the_file(tmp_path, tiny_ckpts, monkeypatch, capfd):
    """A damaged model file (bad config, NaN weights, ...) fails the app's model job with one
    message naming the file, never "Something went wrong (ValueError ...)"; nothing is built."""
    import torch

    import par_studio.model.checkpoint as ck
    from par_studio.gui.workers import ModelJob, ModelSpec

    monkeypatch.setenv("PAR_STUDIO_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.setattr(ck, "PARModel", lambda cfg: (_ for _ in ()).throw(AssertionError("built")))
    blob = torch.load(tiny_ckpts["par-compact"], weights_only=True)
    for name, bad in fuzzgen.checkpoint_variants(blob).items():
        d = tmp_path / name
        d.mkdir()
        torch.save(bad, d / "par-compact-320.pt")
        job = ModelJob(ModelSpec("par-compact", 320, models_dir=d))
        got = []
        job.failed.connect(got.append)
        job.run()
        assert len(got) == 1 and "par-compact-320.pt" in got[0], (name, got)
        assert "went wrong" not in got[0] and "\n" not in got[0], (name, got[0])
    assert "Traceback" not in capfd.readouterr().err
