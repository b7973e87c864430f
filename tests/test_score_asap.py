"""A real performance end to end (issue 19): the first 20 s of an ASAP test-split performance
rendered to audio, transcribed by the shipped PARcompact 320 ms model, exported as MusicXML by
the command line's notation export and re-read with music21: two staves, the written 12/8, and
bar lines on the performer's annotated downbeats (``benchmarks/data/asap_downbeats.json``).

Needs the ASAP performance MIDI (not in the repository: ``PAR_ASAP_DIR`` or ``shared/data/asap``
beside the checkout), TiMidity with freepats and the shipped weights; skipped without them."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ASAP = Path(os.environ.get("PAR_ASAP_DIR", ROOT.parent / "shared" / "data" / "asap"))
PERFORMANCE = "Bach/Prelude/bwv_854/LuA01M.mid"  # WTC I prelude in E major, 12/8, ♩ ≈ 102
SECONDS = 20.0


@pytest.mark.slow
def test_asap_prelude_excerpt_exports_two_staves_and_bars_on_the_downbeats(tmp_path):
    pytest.importorskip("music21")
    if not (ASAP / PERFORMANCE).exists():
        pytest.skip(f"ASAP performance MIDI not found under {ASAP} (set PAR_ASAP_DIR)")
    if shutil.which("timidity") is None or not Path("/etc/timidity/freepats.cfg").exists():
        pytest.skip("needs timidity with freepats to render the performance")
    from par_studio.model.checkpoint import resolve_model

    try:
        resolve_model("par-compact", 320)
    except Exception as exc:  # weights not shipped in this checkout
        pytest.skip(f"no shipped PARcompact weights: {exc}")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_asap_scores as b

    notes = b.transcription(ASAP, PERFORMANCE, SECONDS, tmp_path / "cache", threads=1)
    meter, shift_q = b.export_score(notes, tmp_path / "prelude.musicxml")
    parts, starts, ts, got = b.reread(tmp_path / "prelude.musicxml")
    assert len(parts) == 2 and len(starts[0]) == len(starts[1]) >= 5
    assert ts == "12/8" and meter.quarter_bpm == pytest.approx(102.3, rel=0.04)
    truth = json.loads(b.TRUTH.read_text())["performances"][PERFORMANCE]
    bar_s = np.asarray(meter.seconds_at(np.asarray(starts[0]) - shift_q))
    found, n_db, right, n_bl = b.bar_check(bar_s, np.asarray(truth["downbeats"]),
                                           float(notes.onset.min()) - 0.05, SECONDS - 0.5)
    assert n_db >= 5 and found == n_db and right == n_bl
    # the score's notes, mapped back to seconds, are the performance's notes
    from par_studio.midi_io import read_midi

    ref = read_midi(ASAP / PERFORMANCE)
    ref = ref.take(ref.onset < SECONDS - 0.5)
    on = np.asarray(meter.seconds_at(np.array([g[0] for g in got]) - shift_q))
    keep = on < SECONDS - 0.5
    assert b.note_f1(ref, on[keep], np.array([g[1] for g in got])[keep]) > 0.9
