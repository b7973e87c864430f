"""Where a model's errors come from: ``python -m par_studio.train.diagnose CKPT DIR``.

Scores and explains the free-running transcription of audio + MIDI pairs (as ``evaluate``
reads them) in ways that point at the fix:

- **false notes by kind**: a false note that starts inside a reference note of the same key
  (a split or spurious re-strike: an offset/sustain problem), one an octave or a twelfth from a
  reference note starting within 50 ms (harmonic confusion: an acoustic problem), or elsewhere;
- **recall of re-strikes and of fresh notes**: a reference note is a re-strike when a note of
  the same key ends within 60 ms before it starts (the key struck again while it still sounds,
  usually under the pedal: the re-onset state's job), else fresh;
- **state confusion**: the 5 × 5 frame counts of reference state (rows) against decoded state
  (columns), in the order off, offset, onset, sustain, re-onset;
- **teacher-forced vs free-running onsets**: onset frames found when the decoder is fed the
  reference context (what the acoustic model supports) against when it is fed its own output
  (what exposure bias leaves). A small gap means the acoustic model, not the autoregression,
  limits accuracy.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from ..constants import N_STATES, STATE_ONSET, STATE_REONSET
from ..notes import Notes, encode, notes_from_midi

STATE_NAMES = ("off", "offset", "onset", "sustain", "re-onset")


def _onset_matches(ref: Notes, est: Notes, onset_tol: float) -> list[tuple[int, int]]:
    """mir_eval's (reference index, estimate index) pairs matched on onset ±``onset_tol`` and
    pitch (any offset)."""
    import mir_eval.transcription as tr

    if not len(ref) or not len(est):
        return []
    hz = lambda p: 440.0 * 2.0 ** ((np.asarray(p, float) - 69) / 12)  # noqa: E731
    return tr.match_notes(np.stack([ref.onset, ref.offset], 1), hz(ref.pitch),
                          np.stack([est.onset, est.offset], 1), hz(est.pitch),
                          onset_tolerance=onset_tol, offset_ratio=None)


def false_note_kinds(ref: Notes, est: Notes, onset_tol: float = 0.05) -> dict:
    """Counts of matched and unmatched estimated notes; unmatched ones by kind (see module doc)."""
    kinds = {"matched": 0, "split_or_restrike": 0, "harmonic": 0, "other": 0}
    if len(est) == 0:
        return kinds
    matched = {j for _, j in _onset_matches(ref, est, onset_tol)}
    for j in range(len(est)):
        if j in matched:
            kinds["matched"] += 1
            continue
        on, p = est.onset[j], est.pitch[j]
        inside = (ref.pitch == p) & (ref.onset < on) & (ref.offset > on)
        near = np.abs(ref.onset - on) <= onset_tol
        if inside.any():
            kinds["split_or_restrike"] += 1
        elif (near & np.isin(np.abs(ref.pitch.astype(int) - int(p)), (12, 19, 24))).any():
            kinds["harmonic"] += 1
        else:
            kinds["other"] += 1
    return kinds


RESTRIKE_GAP_S = 0.06


def recall_by_kind(ref: Notes, est: Notes, onset_tol: float = 0.05) -> dict:
    """{"restrike": [n, hit], "fresh": [n, hit]}: reference notes of each kind (see module
    doc) and how many of them the estimate found (onset ±``onset_tol``, any offset)."""
    out = {"restrike": [0, 0], "fresh": [0, 0]}
    if not len(ref):
        return out
    hit = np.zeros(len(ref), bool)
    hit[[i for i, _ in _onset_matches(ref, est, onset_tol)]] = True
    idx = np.arange(len(ref))
    for i in range(len(ref)):
        same = (ref.pitch == ref.pitch[i]) & (idx != i) & (np.abs(ref.offset - ref.onset[i]) < RESTRIKE_GAP_S) \
            & (ref.onset < ref.onset[i])
        kind = "restrike" if same.any() else "fresh"
        out[kind][0] += 1
        out[kind][1] += int(hit[i])
    return out


def state_confusion(ref_states: np.ndarray, est_states: np.ndarray) -> np.ndarray:
    """(5, 5) int64 frame counts: reference state (rows) × decoded state (columns)."""
    idx = ref_states.astype(np.int64).ravel() * N_STATES + est_states.astype(np.int64).ravel()
    return np.bincount(idx, minlength=N_STATES * N_STATES).reshape(N_STATES, N_STATES)


def onset_frames(states: np.ndarray) -> np.ndarray:
    return (states == STATE_ONSET) | (states == STATE_REONSET)


def teacher_forced_states(model, audio: np.ndarray, ref: Notes, n_frames: int) -> np.ndarray:
    """(T, 88) greedy states of one teacher-forced pass fed the reference context."""
    import torch

    labels = encode(ref, n_frames)
    with torch.inference_mode():
        mel = model.frontend.from_audio(torch.from_numpy(np.ascontiguousarray(audio, np.float32))[None])
        logits, _ = model(mel, torch.from_numpy(labels.prev_state)[None],
                          torch.from_numpy(labels.prev_time)[None], torch.from_numpy(labels.prev_velocity)[None])
        logits = logits[0].float() + model.decoding_bias()
    return logits.argmax(-1).numpy().astype(np.uint8)


def diagnose_pairs(pairs, model, progress=None) -> dict:
    """Aggregate diagnosis over ``pairs`` (see module doc); JSON-ready."""
    from ..audio.io import load_audio
    from ..engine.offline import transcribe

    model.eval()
    kinds = {"matched": 0, "split_or_restrike": 0, "harmonic": 0, "other": 0}
    conf = np.zeros((N_STATES, N_STATES), np.int64)
    onsets = {"reference": 0, "free_hit": 0, "free_false": 0, "teacher_forced_hit": 0, "teacher_forced_false": 0}
    n_ref = 0
    by_kind = {"restrike": [0, 0], "fresh": [0, 0]}
    for i, pair in enumerate(pairs):
        audio = load_audio(pair.audio)
        ref = notes_from_midi(pair.midi, sustain=True)
        tr = transcribe(audio, model, verify_notes=False)
        n_ref += len(ref)
        for k, v in false_note_kinds(ref, tr.notes).items():
            kinds[k] += v
        for k, (n, h) in recall_by_kind(ref, tr.notes).items():
            by_kind[k][0] += n
            by_kind[k][1] += h
        labels = encode(ref, tr.n_frames)
        conf += state_confusion(labels.state, tr.states)
        tf = teacher_forced_states(model, audio, ref, tr.n_frames)
        r_on = onset_frames(labels.state)
        for name, states in (("free", tr.states), ("teacher_forced", tf)):
            e_on = onset_frames(states)
            onsets[f"{name}_hit"] += int((e_on & r_on).sum())
            onsets[f"{name}_false"] += int((e_on & ~r_on).sum())
        onsets["reference"] += int(r_on.sum())
        if progress:
            progress(i + 1, len(pairs))
    n_est = sum(kinds.values())
    return {"files": len(pairs), "reference_notes": n_ref, "estimated_notes": n_est,
            "note_precision": kinds["matched"] / n_est if n_est else 0.0,
            "note_recall": kinds["matched"] / n_ref if n_ref else 0.0,
            "false_notes": {k: v for k, v in kinds.items() if k != "matched"},
            "reference_by_kind": {k: {"notes": n, "found": h, "recall": h / n if n else 0.0}
                                  for k, (n, h) in by_kind.items()},
            "state_confusion": {"order": list(STATE_NAMES), "counts": conf.tolist()},
            "onset_frames": onsets}


def format_diagnosis(d: dict) -> str:
    fn = d["false_notes"]
    total_false = sum(fn.values()) or 1
    lines = [f"{d['files']} files, {d['reference_notes']} reference notes, {d['estimated_notes']} "
             f"estimated; note precision {d['note_precision']:.3f}, recall {d['note_recall']:.3f} "
             f"(onset ±50 ms)",
             "false notes: " + ", ".join(f"{k.replace('_', ' ')} {v} ({v / total_false:.0%})" for k, v in fn.items())]
    rk = d["reference_by_kind"]
    lines.append("recall by kind of reference note: " + ", ".join(
        f"{k.replace('restrike', 're-strikes')} {v['found']}/{v['notes']} ({v['recall']:.3f})" for k, v in rk.items()))
    o = d["onset_frames"]
    ref = o["reference"] or 1
    lines.append(f"onset frames (exact frame), of {o['reference']} reference: teacher-forced hit "
                 f"{o['teacher_forced_hit'] / ref:.1%} with {o['teacher_forced_false']} false; free-running "
                 f"hit {o['free_hit'] / ref:.1%} with {o['free_false']} false")
    lines.append("state confusion (rows reference, columns decoded): " + " ".join(f"{n:>9}" for n in STATE_NAMES))
    for name, row in zip(STATE_NAMES, d["state_confusion"]["counts"]):
        lines.append(f"  {name:>9} " + " ".join(f"{c:>9}" for c in row))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m par_studio.train.diagnose", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help="model file (.pt), or par / par-compact for the shipped ones")
    p.add_argument("dir", help="folder of audio + same-stem MIDI files")
    p.add_argument("--latency", type=int, default=None)
    p.add_argument("--limit", type=int, default=None, help="at most this many files")
    p.add_argument("--json", metavar="FILE", help="also write the diagnosis as JSON")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    import torch

    from ..errors import ParStudioError
    from ..model.checkpoint import resolve_model
    from .dataset import dir_pairs

    torch.set_num_threads(args.threads)
    try:
        model, _ = resolve_model(args.checkpoint, args.latency)
        pairs = dir_pairs(args.dir)[: args.limit]
    except ParStudioError as exc:
        print(f"diagnose: {exc}", file=sys.stderr)
        return 1
    if not pairs:
        print(f"diagnose: no audio + MIDI pairs in {args.dir}", file=sys.stderr)
        return 1
    d = diagnose_pairs(pairs, model, progress=lambda i, n: print(f"  {i}/{n}", end="\r", file=sys.stderr))
    print(file=sys.stderr)
    print(format_diagnosis(d))
    if args.json:
        from ..midi_io import atomic_write_bytes

        atomic_write_bytes(args.json, json.dumps(d, indent=2).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
