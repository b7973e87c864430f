"""The greedy autoregressive decoding loop for inference, with the decoder's weights rearranged
so each frame costs a handful of small matrix products and no Python-level module calls.

Same mathematics as :meth:`PARModel.step` frame after frame (nn.LSTM's gate order i, f, g, o;
the recursive context of :class:`~.decoder.RecursiveContext`; :func:`~.decoder.next_context`),
rearranged:

* the acoustic features' share of both LSTMs' first-layer gates (and all their biases) is one
  batched matrix product over a block of frames, not 88×1 products per frame;
* the context's state embedding passes through its output layer once, as a (5, 4) table;
* the context and the recurrent inputs share one ``addmm`` per LSTM layer;
* the decoding bias (calibration + sensitivity) is folded into the state head's bias.

The loop itself is compiled with TorchScript when available (no Python per op), else run
eagerly. Float results equal the module path's up to rounding (the sums are grouped
differently); tests/test_offline.py and benchmarks/bench_offline.py ``--check`` compare notes.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import torch

from ..constants import N_STATES, STATE_ONSET, STATE_REONSET, STATE_SUSTAIN, TIME_SINCE_ONSET_CAP

assert (STATE_ONSET, STATE_SUSTAIN, STATE_REONSET) == (2, 3, 4)  # literals in greedy_block

#: Frames whose feature projections are computed together (memory ≈ block × 88 × 4·hidden × 4 B).
PROJECTION_BLOCK = 64


class GreedyWeights:
    """The decoder's weights rearranged for :func:`greedy_block`, built once per model and
    decoding bias (see :meth:`PARModel.greedy_weights`)."""

    def __init__(self, decoder, bias: torch.Tensor):
        d = decoder
        H = d.cfg.pitch_features
        Hv = d.cfg.vel_features
        ctx = d.context
        with torch.no_grad():
            W0 = d.lstm.weight_ih_l0  # (4h, H + 4): [feat | ctx]
            self.feat_w = W0[:, :H].T.contiguous()  # (H, 4h)
            self.gate_b = (d.lstm.bias_ih_l0 + d.lstm.bias_hh_l0).contiguous()
            self.rec_w = torch.cat([W0[:, H:], d.lstm.weight_hh_l0], 1).T.contiguous()  # (4 + h, 4h)
            layers: List[Tuple[torch.Tensor, torch.Tensor]] = []
            for k in range(1, d.lstm.num_layers):
                w = torch.cat([getattr(d.lstm, f"weight_ih_l{k}"), getattr(d.lstm, f"weight_hh_l{k}")], 1)
                b = getattr(d.lstm, f"bias_ih_l{k}") + getattr(d.lstm, f"bias_hh_l{k}")
                layers.append((w.T.contiguous(), b.contiguous()))
            self.upper = layers
            self.head_w = d.state_head.weight.T.contiguous()  # (h, 5)
            self.head_b = (d.state_head.bias + bias.to(d.state_head.bias.dtype)).contiguous()
            V = d.vel_lstm.weight_ih_l0  # (4hv, Hv + H + 4): [vfeat | feat | ctx]
            self.vfeat_w = V[:, :Hv].T.contiguous()
            self.vfeat_feat_w = V[:, Hv:Hv + H].T.contiguous()
            self.vgate_b = (d.vel_lstm.bias_ih_l0 + d.vel_lstm.bias_hh_l0).contiguous()
            self.vrec_w = torch.cat([V[:, Hv + H:], d.vel_lstm.weight_hh_l0], 1).T.contiguous()
            self.vhead_w = d.vel_head.weight.T.contiguous()  # (hv, 1)
            self.vhead_b = d.vel_head.bias.contiguous()
            # context: relu(out_s · embed[state] + out_x · relu(W1 · [time, vel] + b1) + b_out)
            out = ctx.out[0]
            self.ctx_table = (ctx.embed.weight @ out.weight[:, :2].T + out.bias).contiguous()  # (5, 4)
            self.ctx_w1 = ctx.scalars[0].weight.T.contiguous()  # (2, 8)
            self.ctx_b1 = ctx.scalars[0].bias.contiguous()
            self.ctx_w2 = out.weight[:, 2:].T.contiguous()  # (8, 4)
        self.hidden = d.cfg.lstm_hidden
        self.vel_hidden = d.cfg.vel_hidden
        self.layers = d.lstm.num_layers

    def projections(self, feat: torch.Tensor, vfeat: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """feat (t, 88, H), vfeat (t, 88, Hv) → the features' share of the first-layer gates,
        biases included: (t, 88, 4h) and (t, 88, 4hv)."""
        g = torch.matmul(feat, self.feat_w) + self.gate_b
        v = torch.matmul(vfeat, self.vfeat_w) + torch.matmul(feat, self.vfeat_feat_w) + self.vgate_b
        return g, v


def _cell(gates: torch.Tensor, c: torch.Tensor, n: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """LSTM cell on pre-activation ``gates`` (K, 4n) in nn.LSTM's order i, f, g, o."""
    i = torch.sigmoid(gates[:, :n])
    f = torch.sigmoid(gates[:, n:2 * n])
    g = torch.tanh(gates[:, 2 * n:3 * n])
    o = torch.sigmoid(gates[:, 3 * n:])
    c = f * c + i * g
    return o * torch.tanh(c), c


def greedy_block(gates_in: torch.Tensor, vgates_in: torch.Tensor,
                 rec_w: torch.Tensor, upper_w: List[torch.Tensor], upper_b: List[torch.Tensor],
                 head_w: torch.Tensor, head_b: torch.Tensor,
                 vrec_w: torch.Tensor, vhead_w: torch.Tensor, vhead_b: torch.Tensor,
                 ctx_table: torch.Tensor, ctx_w1: torch.Tensor, ctx_b1: torch.Tensor, ctx_w2: torch.Tensor,
                 state: torch.Tensor, time: torch.Tensor, onset_vel: torch.Tensor,
                 h: List[torch.Tensor], c: List[torch.Tensor], hv: torch.Tensor, cv: torch.Tensor,
                 states_out: torch.Tensor, probs_out: torch.Tensor, vels_out: torch.Tensor,
                 n_hidden: int, n_vel_hidden: int, cap: float
                 ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, List[torch.Tensor], List[torch.Tensor],
                            torch.Tensor, torch.Tensor]:
    """Greedy frames over a block. gates_in (t, 88, 4h), vgates_in (t, 88, 4hv): the features'
    share of the first-layer gates; state (88,) long, time (88,) frames since onset,
    onset_vel (88,) /128; h, c: per layer (88, h); hv, cv (88, hv). Writes states_out (t, 88)
    uint8, probs_out (t, 88, 5) and vels_out (t, 88) float; returns the carried state."""
    for t in range(gates_in.shape[0]):
        tv = torch.stack([time / cap, onset_vel], 1)  # (88, 2)
        ctx = torch.relu(ctx_table[state] + torch.relu(tv @ ctx_w1 + ctx_b1) @ ctx_w2)  # (88, 4)
        x = torch.addmm(gates_in[t], torch.cat([ctx, h[0]], 1), rec_w)
        h0, c0 = _cell(x, c[0], n_hidden)
        new_h = [h0]
        new_c = [c0]
        below = h0
        for k in range(len(upper_w)):
            g = torch.addmm(upper_b[k], torch.cat([below, h[k + 1]], 1), upper_w[k])
            hk, ck = _cell(g, c[k + 1], n_hidden)
            new_h.append(hk)
            new_c.append(ck)
            below = hk
        h = new_h
        c = new_c
        probs = torch.softmax(torch.addmm(head_b, below, head_w), 1)  # (88, 5)
        vg = torch.addmm(vgates_in[t], torch.cat([ctx, hv], 1), vrec_w)
        hv, cv = _cell(vg, cv, n_vel_hidden)
        vel = torch.sigmoid(torch.addmm(vhead_b, hv, vhead_w))[:, 0]  # (88,)
        state = probs.argmax(1)
        # TorchScript wants literals: 2 = STATE_ONSET, 4 = STATE_REONSET, 3 = STATE_SUSTAIN
        onset = ((state == 2) | (state == 4)).to(time.dtype)
        sustain = (state == 3).to(time.dtype)
        time = onset + sustain * torch.clamp(time + 1.0, max=cap)
        onset_vel = onset * vel + sustain * onset_vel
        states_out[t] = state.to(torch.uint8)
        probs_out[t] = probs
        vels_out[t] = vel
    return state, time, onset_vel, h, c, hv, cv


def _compile():
    import warnings

    try:
        with warnings.catch_warnings():  # "deprecated" in torch 2.10+, still the fastest here
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.script(greedy_block)
    except Exception:  # TorchScript missing or unable: the same function, eagerly
        return greedy_block


_greedy_block = None


def run_greedy(w: GreedyWeights, feat: torch.Tensor, vfeat: torch.Tensor, prev_state: torch.Tensor,
               time: torch.Tensor, onset_vel: torch.Tensor, hidden, tick=None,
               tick_every: int = 16):
    """Greedy decoding of one stream over T frames. feat (T, 88, H), vfeat (T, 88, Hv);
    prev_state (88,) long, time (88,) frames since onset, onset_vel (88,); hidden: the
    :class:`~.decoder.LSTMState` or None. ``tick(frames_done)`` is called every
    ``tick_every`` frames. Returns (states (T, 88) uint8, probabilities (T, 88, 5),
    velocity (T, 88), state, time, onset_vel, LSTMState)."""
    from .decoder import LSTMState

    global _greedy_block
    if _greedy_block is None:
        _greedy_block = _compile()
    T, K = feat.shape[0], feat.shape[1]
    nh, nv, L = w.hidden, w.vel_hidden, w.layers
    if hidden is None:
        h = [feat.new_zeros(K, nh) for _ in range(L)]
        c = [feat.new_zeros(K, nh) for _ in range(L)]
        hv = feat.new_zeros(K, nv)
        cv = feat.new_zeros(K, nv)
    else:
        (hs, cs), (hvs, cvs) = hidden.state, hidden.velocity
        h = [hs[k] for k in range(L)]
        c = [cs[k] for k in range(L)]
        hv, cv = hvs[0], cvs[0]
    states = torch.empty(T, K, dtype=torch.uint8)
    probs = torch.empty(T, K, N_STATES)
    vels = torch.empty(T, K)
    upper_w = [lw for lw, _ in w.upper]
    upper_b = [lb for _, lb in w.upper]
    step = max(1, min(tick_every, PROJECTION_BLOCK)) if tick is not None else PROJECTION_BLOCK
    state = prev_state
    for a in range(0, T, PROJECTION_BLOCK):
        b = min(T, a + PROJECTION_BLOCK)
        gates_in, vgates_in = w.projections(feat[a:b], vfeat[a:b])
        for s in range(a, b, step):
            e = min(b, s + step)
            state, time, onset_vel, h, c, hv, cv = _greedy_block(
                gates_in[s - a:e - a], vgates_in[s - a:e - a], w.rec_w, upper_w, upper_b,
                w.head_w, w.head_b, w.vrec_w, w.vhead_w, w.vhead_b,
                w.ctx_table, w.ctx_w1, w.ctx_b1, w.ctx_w2, state, time, onset_vel,
                h, c, hv, cv, states[s:e], probs[s:e], vels[s:e], nh, nv, float(TIME_SINCE_ONSET_CAP))
            if tick is not None:
                tick(e)
    hidden = LSTMState((torch.stack(h), torch.stack(c)), (hv[None], cv[None]))
    return states, probs, vels, state, time, onset_vel, hidden
