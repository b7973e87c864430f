"""Model configuration and the two presets (PAR ≈ 1.26 M, PARcompact ≈ 0.44 M parameters).

The latency context is part of the config: ``conv_widths`` are the time widths of the six
convolutions; every width-3 conv adds one future frame (32 ms) of look-ahead to the 128 ms
that the centred STFT window needs; a width-2 conv sees the previous frame and adds none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from ..constants import (CONV_TIME_WIDTHS, DEFAULT_LATENCY_MS, FRAME_SECONDS, LATENCY_CONV_WIDTHS, conv_time_padding,
                         latency_ms_for_widths)


@dataclass(frozen=True)
class ModelConfig:
    preset: str = "par"
    n_mels: int = 229  #: mel bins of the front end
    channels: int = 48  #: CNN channels of all three residual blocks
    conv_widths: tuple[int, ...] = (3, 3, 3, 3, 3, 3)  #: time widths of the six convs
    projection: str = "fc"  #: "fc" (PAR) or "grouped" (PARcompact)
    proj_channels: int = 8  #: 1×1 conv channels before the per-frame linear map
    proj_hidden: int = 0  #: "grouped": per-pitch width of the linear map before grouped layers
    pitch_features: int = 24  #: H, per-pitch acoustic feature size of the state branch
    vel_features: int = 8  #: per-pitch acoustic feature size of the velocity branch
    vel_proj_hidden: int = 0  #: "grouped": per-pitch width before the velocity branch's grouped layer
    lstm_hidden: int = 64  #: state LSTM hidden size (2 layers, weights shared by 88 keys)
    lstm_layers: int = 2
    vel_hidden: int = 32  #: velocity LSTM hidden size (1 layer, shared by 88 keys)
    context_dim: int = 4  #: enhanced recursive context vector size
    film_hidden: int = 16
    dropout: float = 0.25
    #: added to the five state logits before the greedy argmax (off, offset, onset, sustain,
    #: re-onset). A loss with class weights w trains logits biased by log w; a bias of −log w
    #: (the prior correction) undoes that. Set by `ship` from a sweep on the validation set.
    state_bias: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    #: seconds added to the end of every decoded note that ends by release (not by a new strike
    #: of its key, nor by the end of the audio). The decoder's note ends sit on the 32 ms frame
    #: grid, and the trained models place them 10-20 ms early in the median; `ship`
    #: sets this from a sweep on the validation set (0 = the frame grid as it is).
    offset_shift_s: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "offset_shift_s", float(self.offset_shift_s))
        if not 0.0 <= self.offset_shift_s < FRAME_SECONDS:
            raise ValueError(f"offset_shift_s must be in [0, {FRAME_SECONDS}) s, got {self.offset_shift_s}")
        object.__setattr__(self, "conv_widths", tuple(int(w) for w in self.conv_widths))
        object.__setattr__(self, "state_bias", tuple(float(b) for b in self.state_bias))
        if len(self.state_bias) != 5:
            raise ValueError(f"state_bias must be five values, got {self.state_bias}")
        if len(self.conv_widths) != 6 or any(w not in CONV_TIME_WIDTHS for w in self.conv_widths):
            raise ValueError(f"conv_widths must be six values of 1, 2 or 3, got {self.conv_widths}")
        if self.projection not in ("fc", "grouped"):
            raise ValueError(f"unknown projection {self.projection!r}")

    @property
    def latency_ms(self) -> int:
        """Algorithmic look-ahead in milliseconds (128 + 32 × future frames)."""
        return latency_ms_for_widths(self.conv_widths)

    @property
    def future_frames(self) -> int:
        """Frames after the present one that the CNN sees (the look-ahead beyond 128 ms)."""
        return sum(conv_time_padding(w)[1] for w in self.conv_widths)

    @property
    def past_frames(self) -> int:
        """Frames before the present one that the CNN sees."""
        return sum(conv_time_padding(w)[0] for w in self.conv_widths)

    def with_latency(self, latency_ms: int) -> "ModelConfig":
        if latency_ms not in LATENCY_CONV_WIDTHS:
            raise ValueError(
                f"latency {latency_ms} ms is not one of {sorted(LATENCY_CONV_WIDTHS)}"
            )
        return replace(self, conv_widths=LATENCY_CONV_WIDTHS[latency_ms])

    def to_dict(self) -> dict:
        d = asdict(self)
        d["conv_widths"] = list(self.conv_widths)
        d["state_bias"] = list(self.state_bias)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        return cls(**d)


PRESETS: dict[str, ModelConfig] = {
    "par": ModelConfig(
        preset="par", channels=48, projection="fc", proj_channels=8, pitch_features=24,
        vel_features=3, lstm_hidden=64, vel_hidden=32,
    ),
    "par-compact": ModelConfig(
        preset="par-compact", channels=32, projection="grouped", proj_channels=4,
        proj_hidden=12, pitch_features=24, vel_features=8, vel_proj_hidden=4,
        lstm_hidden=48, vel_hidden=24,
    ),
}

PRESET_LABELS = {"par": "PAR", "par-compact": "PARcompact"}


def preset_config(name: str, latency_ms: int = DEFAULT_LATENCY_MS) -> ModelConfig:
    """The config of preset ``name`` ("par" or "par-compact") at a latency setting."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name].with_latency(latency_ms)
