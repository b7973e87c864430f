"""The PAR models: parameter budgets, look-ahead per latency (and that the convs really give it),
frequency FiLM, weights shared by the 88 keys, and greedy stepping = teacher-forced pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from par_studio.constants import (
    HOP_LENGTH,
    LATENCY_CONV_WIDTHS,
    LATENCY_SETTINGS_MS,
    N_KEYS,
    N_STATES,
    SAMPLE_RATE,
    TIME_SINCE_ONSET_CAP,
    WINDOW_HALF,
)
from par_studio.model import PARModel, preset_config
from par_studio.model.decoder import next_context
from par_studio.model.film import FrequencyFiLM
from par_studio.model.par import ARState

from conftest import build_model, piano_like

BUDGET = {"par": 1.26e6, "par-compact": 0.44e6}


@pytest.mark.parametrize("latency", LATENCY_SETTINGS_MS)
@pytest.mark.parametrize("preset", ["par", "par-compact"])
def test_parameter_budget_within_10_percent(preset, latency):
    n = PARModel(preset_config(preset, latency)).n_parameters()
    assert abs(n / BUDGET[preset] - 1) <= 0.10, f"{preset}@{latency}: {n:,} parameters"


def test_compact_is_about_a_third_of_par():
    par = PARModel(preset_config("par")).n_parameters()
    compact = PARModel(preset_config("par-compact")).n_parameters()
    assert 0.3 < compact / par < 0.4


@pytest.mark.parametrize("latency", LATENCY_SETTINGS_MS)
def test_latency_setting_reports_its_milliseconds(latency):
    for preset in ("par", "par-compact"):
        cfg = preset_config(preset, latency)
        model = PARModel(cfg)
        assert cfg.conv_widths == LATENCY_CONV_WIDTHS[latency]
        assert model.latency_ms == latency
        assert 128 + 32 * cfg.future_frames == latency
    with pytest.raises(ValueError):
        preset_config("par", 250)


def test_latency_table_widths():
    # the paper's table, except at 128 ms: its first conv sees the previous frame (width 2,
    # causal) instead of none, which adds no look-ahead (MODEL.md: 128 ms + 32 ms per future frame)
    assert LATENCY_CONV_WIDTHS[128] == (2, 1, 1, 1, 1, 1)
    assert LATENCY_CONV_WIDTHS[160] == (3, 1, 1, 1, 1, 1)
    assert LATENCY_CONV_WIDTHS[192] == (3, 1, 3, 1, 1, 1)
    assert LATENCY_CONV_WIDTHS[224] == (3, 1, 3, 1, 3, 1)
    assert LATENCY_CONV_WIDTHS[320] == (3,) * 6


@pytest.mark.parametrize("latency", LATENCY_SETTINGS_MS)
def test_look_ahead_is_what_the_convs_give(latency):
    """Measure the look-ahead: the acoustic features of frame t (centred on sample c = t·512)
    must not change when sample c + L changes, L being the reported look-ahead in samples, and
    must change for a sample 16 ms earlier (the Hann window's tail weighs the last samples next
    to nothing, so the check sits a little inside). Likewise into the past, where the convs
    see ``past_frames`` frames (as many as the future ones, except for causal width-2 convs)."""
    model = build_model("par-compact", latency)
    L = model.latency_ms * SAMPLE_RATE // 1000
    P = WINDOW_HALF + HOP_LENGTH * model.cfg.past_frames
    assert P == L or latency == 128
    audio = torch.from_numpy(piano_like(1.5))[None]
    t = 20

    def feats(x):
        with torch.no_grad():
            f, v = model.acoustic(model.frontend.from_audio(x))
        return torch.cat([f[0, t].flatten(), v[0, t].flatten()])

    base = feats(audio)
    c = t * HOP_LENGTH
    for s, inside in ((c + L - 256, True), (c + L, False), (c - P + 256, True), (c - P, False)):
        x = audio.clone()
        x[0, s] += 1.0
        d = (feats(x) - base).abs().max().item()
        assert (d > 1e-6) if inside else (d == 0), f"sample offset {s - c}: change {d}"


def test_film_conditions_on_frequency_not_on_time_or_audio():
    torch.manual_seed(0)
    film = FrequencyFiLM(8, 57)
    torch.testing.assert_close(film.condition[:, 0], torch.arange(57) / 57.0)
    x = torch.full((2, 8, 57, 10), 0.7)
    y = film(x)
    assert torch.equal(y, y[..., :1].expand_as(y))  # the same at every time step
    assert y[0].std(dim=1).min() > 1e-4  # different across bins, in every channel
    g, b = film.coefficients()
    assert g.shape == (1, 8, 57, 1) and b.shape == (1, 8, 57, 1)
    z = torch.randn(2, 8, 57, 10)
    torch.testing.assert_close(film(z), z * g + b)  # γ, β do not depend on the input


def test_blocks_use_one_film_twice_and_bins_shrink_by_pooling():
    model = PARModel(preset_config("par"))
    films = [m for m in model.acoustic.modules() if isinstance(m, FrequencyFiLM)]
    assert len(films) == 3  # one per block, shared by its two convs
    assert [f.n_bins for f in films] == [229, 114, 57]


def test_decoder_weights_shared_across_keys_permutation_equivariant():
    model = build_model("par-compact", 320)
    H, Hv = model.cfg.pitch_features, model.cfg.vel_features
    g = torch.Generator().manual_seed(1)
    T = 6
    feat, vfeat = torch.randn(1, T, N_KEYS, H, generator=g), torch.randn(1, T, N_KEYS, Hv, generator=g)
    prev = torch.randint(0, N_STATES, (1, T, N_KEYS), generator=g)
    pt, pv = torch.rand(1, T, N_KEYS, generator=g), torch.rand(1, T, N_KEYS, generator=g)
    perm = torch.randperm(N_KEYS, generator=g)
    with torch.no_grad():
        logits, vel, _ = model.decoder(feat, vfeat, prev, pt, pv)
        logits_p, vel_p, _ = model.decoder(feat[:, :, perm], vfeat[:, :, perm], prev[:, :, perm], pt[:, :, perm], pv[:, :, perm])
    torch.testing.assert_close(logits_p, logits[:, :, perm], rtol=0, atol=1e-5)
    torch.testing.assert_close(vel_p, vel[:, :, perm], rtol=0, atol=1e-6)
    # one set of LSTM weights whatever the number of keys
    assert model.decoder.lstm.input_size == H + model.cfg.context_dim
    assert model.decoder.lstm.weight_ih_l0.shape == (4 * model.cfg.lstm_hidden, H + model.cfg.context_dim)


def test_step_is_permutation_equivariant_over_keys():
    model = build_model("par", 320)
    g = torch.Generator().manual_seed(2)
    feat = torch.randn(1, N_KEYS, model.cfg.pitch_features, generator=g)
    vfeat = torch.randn(1, N_KEYS, model.cfg.vel_features, generator=g)
    perm = torch.randperm(N_KEYS, generator=g)
    ar = ARState.initial(1)
    s1, p1, v1, ar1 = model.step(feat, vfeat, ar)
    s1p, p1p, v1p, _ = model.step(feat[:, perm], vfeat[:, perm], ar)
    torch.testing.assert_close(p1p, p1[:, perm], rtol=0, atol=1e-6)
    # second step with a permuted carried state (hidden is (N·88) sequences in key order)
    h = tuple(tuple(x[:, perm] for x in pair) for pair in (ar1.hidden.state, ar1.hidden.velocity))
    from par_studio.model.decoder import LSTMState

    ar1p = ARState(ar1.prev_state[:, perm], ar1.time[:, perm], ar1.onset_velocity[:, perm], LSTMState(*h))
    _, p2, _, _ = model.step(feat, vfeat, ar1)
    _, p2p, _, _ = model.step(feat[:, perm], vfeat[:, perm], ar1p)
    torch.testing.assert_close(p2p, p2[:, perm], rtol=0, atol=1e-6)


def test_greedy_steps_equal_teacher_forced_pass_on_own_outputs():
    """run_decoder (frame by frame, carrying h/c and the recursive context) must equal one
    teacher-forced decoder pass fed with the context its own greedy outputs imply."""
    model = build_model("par-compact", 192)
    g = torch.Generator().manual_seed(3)
    T = 25
    feat = torch.randn(T, N_KEYS, model.cfg.pitch_features, generator=g) * 2
    vfeat = torch.randn(T, N_KEYS, model.cfg.vel_features, generator=g)
    states, probs, vels, _ = model.run_decoder(feat, vfeat)
    s = states.long()
    prev_state = torch.zeros(T, N_KEYS, dtype=torch.long)
    prev_time = torch.zeros(T, N_KEYS)
    prev_vel = torch.zeros(T, N_KEYS)
    time = torch.zeros(N_KEYS)
    onv = torch.zeros(N_KEYS)
    for t in range(1, T):
        time, onv = next_context(s[t - 1], vels[t - 1], time, onv)
        prev_state[t], prev_time[t], prev_vel[t] = s[t - 1], time / TIME_SINCE_ONSET_CAP, onv
    with torch.no_grad():
        logits, vel_tf, _ = model.decoder(feat[None], vfeat[None], prev_state[None], prev_time[None], prev_vel[None])
    torch.testing.assert_close(torch.softmax(logits[0], -1), probs, rtol=0, atol=1e-5)
    torch.testing.assert_close(vel_tf[0], vels, rtol=0, atol=1e-5)
    assert torch.equal(probs.argmax(-1).to(torch.uint8), states)


def test_next_context_rules():
    state = torch.tensor([2, 4, 3, 3, 1, 0])
    vel = torch.full((6,), 0.5)
    time = torch.tensor([0.0, 9.0, 4.0, float(TIME_SINCE_ONSET_CAP), 7.0, 0.0])
    onv = torch.tensor([0.0, 0.2, 0.3, 0.4, 0.6, 0.0])
    t2, v2 = next_context(state, vel, time, onv)
    assert t2.tolist() == [1.0, 1.0, 5.0, float(TIME_SINCE_ONSET_CAP), 0.0, 0.0]
    np.testing.assert_allclose(v2.numpy(), [0.5, 0.5, 0.3, 0.4, 0.0, 0.0])


def test_teacher_forced_forward_shapes_and_ranges():
    model = build_model("par", 224)
    T = 12
    mel = model.frontend.from_audio(torch.from_numpy(piano_like(T * 0.032))[None])[..., :T]
    z = torch.zeros(1, T, N_KEYS)
    with torch.no_grad():
        logits, vel = model(mel, z.long(), z, z)
    assert logits.shape == (1, T, N_KEYS, N_STATES) and vel.shape == (1, T, N_KEYS)
    assert float(vel.min()) >= 0 and float(vel.max()) <= 1


@pytest.mark.parametrize("preset", ["par", "par-compact"])
def test_macs_per_frame_counts_every_layer(preset):
    """MACs of the projection by hand: 1×1 conv C→r over F' bins, the per-frame linear map,
    and (PARcompact) the per-pitch grouped layer; the CNN: 3·w·C_in·C_out per bin per conv."""
    from par_studio.model.complexity import macs_per_frame

    model = PARModel(preset_config(preset, 192))
    cfg = model.cfg
    C, r, f3 = cfg.channels, cfg.proj_channels, cfg.n_mels // 4
    proj = 0
    for out, hidden in ((cfg.pitch_features, cfg.proj_hidden), (cfg.vel_features, cfg.vel_proj_hidden)):
        width = out if cfg.projection == "fc" else hidden
        proj += C * r * f3 + r * f3 * N_KEYS * width
        if cfg.projection == "grouped":
            proj += N_KEYS * hidden * out
    w = cfg.conv_widths
    bins = (cfg.n_mels, cfg.n_mels // 2, cfg.n_mels // 4)
    cnn = sum(b * 3 * (w[2 * i] * (1 if i == 0 else C) * C + w[2 * i + 1] * C * C) for i, b in enumerate(bins))
    m = macs_per_frame(model)
    assert m["projection"] == proj
    assert cnn <= m["cnn"] <= 1.01 * cnn  # + the FiLM MLPs, run once per call and spread over its frames
    assert m["total"] == sum(v for k, v in m.items() if k != "total")


def test_own_context_follows_the_label_rules():
    """Fed the reference states themselves, the self-conditioning context rebuilds exactly the
    reference context (same time-since-onset and onset-velocity rules as the labels); keys not
    marked keep the reference context; and a forward pass with no key marked is unchanged."""
    from par_studio.model.decoder import own_context
    from par_studio.notes import Notes, encode

    notes = Notes([0.0, 0.3, 0.35, 1.0, 1.2], [0.5, 0.34, 2.0, 1.1, 1.9], [60, 62, 62, 40, 60], [90, 50, 70, 30, 110])
    lab = encode(notes, 70)
    t = lambda a: torch.from_numpy(a)[None]  # noqa: E731
    st, vel = t(lab.state), t(lab.velocity)
    ps, pt, pv = own_context(st, vel, t(lab.prev_state), t(lab.prev_time), t(lab.prev_velocity),
                             torch.ones(1, 88, dtype=torch.bool))
    assert torch.equal(ps, t(lab.prev_state)) and torch.allclose(pt, t(lab.prev_time))
    assert torch.allclose(pv, t(lab.prev_velocity))
    # the model's own (here: all off) states replace the context of the marked keys only
    own = torch.zeros(1, 88, dtype=torch.bool)
    own[0, 60 - 21] = True
    ps, pt, pv = own_context(torch.zeros_like(st), torch.zeros_like(vel), t(lab.prev_state), t(lab.prev_time),
                             t(lab.prev_velocity), own)
    assert (ps[0, 1:, 60 - 21] == 0).all() and (pt[0, :, 60 - 21][1:] == 0).all()
    assert torch.equal(ps[0, :, 62 - 21], t(lab.prev_state)[0, :, 62 - 21])
    model = build_model("par-compact", 320)
    mel = torch.randn(1, model.cfg.n_mels, 70)
    with torch.no_grad():
        a = model(mel, t(lab.prev_state), t(lab.prev_time), t(lab.prev_velocity))
        b = model(mel, t(lab.prev_state), t(lab.prev_time), t(lab.prev_velocity), torch.zeros(1, 88, dtype=torch.bool))
    assert torch.equal(a[0], b[0])
