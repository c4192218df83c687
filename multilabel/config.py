"""TrainConfig: every training knob in one place, validated once at the boundary."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

from .errors import MultilabelError

DEVICES = ("auto", "cpu", "cuda", "mps")
POS_WEIGHTS = ("none", "auto")
THRESHOLD_MODES = ("fixed", "tuned")
CUDA_GRAPH_MODES = ("auto", "on", "off")
OPTIMIZERS = ("adam", "adamw")
LR_SCHEDULES = ("constant", "cosine")
REFIT_MODES = ("none", "all")
LEARNING_RATES = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1)
BATCH_SIZES = (0, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
WEIGHT_DECAYS = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 0.3, 1.0)
DEFAULT_CHUNK_ROWS = 65536  # rows predict scores and writes at a time (here: the CLI's help shows it without pandas)



def _knob(default: Any, help: str, **limits: Any) -> Any:
    """A dataclass field whose help text and limits feed validation, the CLI flags and the page widgets.

    Validation keys: ``min``, ``min_excl``, ``max``, ``max_excl``, ``choices``. Dashboard keys: ``label`` (the
    widget's label), ``ui`` (slider | select_slider | number | select | toggle; absent: not on the page),
    ``ui_min``/``ui_max``/``ui_step`` (a slider's or number box's range), ``ui_options`` (a select slider's values),
    ``ui_on``/``ui_off`` (the values a toggle stands for).
    """
    return field(default=default, metadata={"help": help, **limits})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines one training run. Build it with keywords, then call ``validate()``."""

    input_size: int = _knob(10, "number of input features", min=1, label="Input size (features)", ui="slider",
                            ui_min=1, ui_max=256)
    # Defaults (hidden 256, dropout 0.3, AdamW lr 1e-3 with weight decay 1.0, batch auto, fixed thresholds) were
    # chosen on benchmarks/suite.py: emotions.csv and 7 generated families, repeated k-fold (see benchmarks/README.md).
    hidden_size: int = _knob(256, "units in the hidden layer", min=1, label="Hidden size", ui="slider", ui_min=1,
                             ui_max=1024)
    num_outputs: int = _knob(5, "number of labels (one logit each)", min=1, label="Number of outputs (labels)",
                             ui="slider", ui_min=1, ui_max=32)
    epochs: int = _knob(200, "maximum passes over the training split", min=1, label="Epochs", ui="slider", ui_min=1,
                        ui_max=2000)
    learning_rate: float = _knob(1e-3, "learning rate (Adam / AdamW)", min_excl=0.0, max=10.0, label="Learning rate",
                                 ui="select_slider", ui_options=LEARNING_RATES)
    # Fixed thresholds: tuned ones trade Hamming loss for F1. Batch 0 = auto scales with the data (32 up to ~500
    # training rows, 1024 from ~16k).
    batch_size: int = _knob(0, "rows per optimizer step (0 = auto: training rows / 16, clipped to 32..1024)",
                            min=0, label="Batch size (0 = auto)", ui="select_slider", ui_options=BATCH_SIZES)
    # Weight decay 1.0 (decoupled, AdamW: each step shrinks the weights by lr x 1.0) replaced 1e-2 on the suite
    # (benchmarks/README.md); with optimizer "adam" it is an L2 penalty.
    weight_decay: float = _knob(1.0, "weight decay: decoupled with adamw; an L2 penalty with adam (keep it <= 1e-3 "
                                "there)", min=0.0, label="Weight decay", ui="select_slider", ui_options=WEIGHT_DECAYS)
    dropout: float = _knob(0.3, "dropout after the hidden ReLU", min=0.0, max_excl=1.0, label="Dropout",
                           ui="slider", ui_min=0.0, ui_max=0.9, ui_step=0.05)
    input_noise: float = _knob(0.0, "std of Gaussian noise added to the standardized inputs of every training batch "
                               "(a regularizer; 0 = off)", min=0.0, max=10.0, label="Input noise", ui="slider",
                               ui_min=0.0, ui_max=2.0, ui_step=0.05)
    device: str = _knob("auto", "auto | cpu | cuda | mps; auto takes a GPU only when the net is big enough to gain",
                        choices=DEVICES, label="Device", ui="select")
    seed: int = _knob(0, "seed for the split, the initial weights and the batch order", min=0, label="Seed",
                      ui="number", ui_min=0, ui_max=2**31 - 1)
    val_fraction: float = _knob(0.2, "share of rows held out for validation, early stopping and thresholds",
                                min_excl=0.0, max_excl=1.0, label="Validation fraction", ui="slider", ui_min=0.05,
                                ui_max=0.5, ui_step=0.05)
    patience: int = _knob(20, "epochs without a better validation loss before stopping (0 = never stop early)",
                          min=0, label="Early-stopping patience", ui="slider", ui_min=0, ui_max=200)
    pos_weight: str = _knob("none", "none | auto (negatives/positives per label from the training split)",
                            choices=POS_WEIGHTS, label="Weight rare positives", ui="toggle", ui_on="auto",
                            ui_off="none")
    threshold_mode: str = _knob("fixed", "fixed (0.5) | tuned (per label, best validation F1)",
                                choices=THRESHOLD_MODES, label="Tune thresholds per label", ui="toggle",
                                ui_on="tuned", ui_off="fixed")
    cuda_graph: str = _knob("auto", "auto | on | off: capture the CUDA training step as one graph (CUDA only)",
                            choices=CUDA_GRAPH_MODES)
    optimizer: str = _knob("adamw", "adam | adamw (decoupled weight decay)", choices=OPTIMIZERS, label="Optimizer",
                           ui="select")
    lr_schedule: str = _knob("constant", "constant | cosine (per epoch, from the learning rate down to 0 at the last "
                             "epoch)", choices=LR_SCHEDULES, label="Learning-rate schedule", ui="select")
    # Refit (refit.refit_result, after train): chosen on benchmarks/suite.py, where refitting on all rows ranked first
    # (benchmarks/README.md).
    refit: str = _knob("all", "none | all: after training, train again on every row (training + validation split) for "
                       "the best epoch count and keep that model (thresholds and validation metrics come from the "
                       "first run); a stopped run is not refit", choices=REFIT_MODES, label="Refit on all rows",
                       ui="toggle", ui_on="all", ui_off="none")
    # Which epochs get validation metrics is a function of the data's size, never of the clock: same seed, same
    # numbers, on the same epochs (see engine.resolve_eval_every).
    eval_every: int = _knob(0, "validation metrics every N epochs (0 = auto: every epoch unless the validation "
                            "split is large); losses come every epoch", min=0, label="Metrics every N epochs (0 = auto)",
                            ui="number", ui_min=0, ui_max=1000)

    def validate(self) -> TrainConfig:
        """Check every field; raise MultilabelError naming the first bad one. Returns self for chaining."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            meta = f.metadata
            if f.type in ("int", int):
                if isinstance(value, bool) or not isinstance(value, int):
                    raise MultilabelError(f"{f.name} must be a whole number, got {value!r}")
            elif f.type in ("float", float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                    raise MultilabelError(f"{f.name} must be a number, got {value!r}")
            if "choices" in meta and value not in meta["choices"]:
                raise MultilabelError(f"{f.name} must be one of {', '.join(meta['choices'])}; got {value!r}")
            if "min" in meta and value < meta["min"]:
                raise MultilabelError(f"{f.name} must be >= {meta['min']}, got {value}")
            if "min_excl" in meta and value <= meta["min_excl"]:
                raise MultilabelError(f"{f.name} must be > {meta['min_excl']}, got {value}")
            if "max" in meta and value > meta["max"]:
                raise MultilabelError(f"{f.name} must be <= {meta['max']}, got {value}")
            if "max_excl" in meta and value >= meta["max_excl"]:
                raise MultilabelError(f"{f.name} must be < {meta['max_excl']}, got {value}")
        if self.device != "auto" and self.device not in _available_devices():
            raise MultilabelError(f"device {self.device!r} is not available on this machine "
                                  f"(available: {', '.join(_available_devices())}); use --device auto")
        if self.cuda_graph == "on" and self.device == "cpu":
            raise MultilabelError("cuda_graph 'on' needs a CUDA device; use cuda_graph 'auto' or device 'cuda'")
        return self

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (not validated: call ``validate()``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a plain dict (a stored run, a checkpoint), ignoring keys this version does not know."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    def macs_per_step(self) -> int:
        """Multiply-adds of one forward pass over a full batch: the size that decides whether a GPU pays."""
        return self.batch_size * (self.input_size * self.hidden_size + self.hidden_size * self.num_outputs)


def knob_text(name: str, value: Any) -> str:
    """A knob's value as a person reads it in a table or on an axis: batch size 0 is "auto" (the run picks it)."""
    if value is None:
        return ""
    return "auto" if name == "batch_size" and value == 0 else str(value)


def knob_words(name: str) -> str:
    """A knob's name as the Train form says it, for axes and headers elsewhere (Search): 'hidden size', 'batch size',
    'weight rare positives' (the form's label without its note in brackets), not 'pos_weight'."""
    field = next((f for f in dataclasses.fields(TrainConfig) if f.name == name), None)
    label = (field.metadata.get("label") if field else None) or name.replace("_", " ")
    label = label.split(" (")[0]
    return label[0].lower() + label[1:] if label[:1].isupper() and not label[1:2].isupper() else label


def changed_knobs(config: TrainConfig) -> dict[str, Any]:
    """The knobs of ``config`` that differ from ``TrainConfig()``'s, in field order: what tells one run's settings
    from another's in a line (a command, a queue entry)."""
    default = TrainConfig()
    return {f.name: getattr(config, f.name) for f in knobs() if getattr(config, f.name) != getattr(default, f.name)}


def knobs() -> list[dataclasses.Field]:
    """The fields of TrainConfig, in order, each with ``metadata['help']`` (and limits/choices)."""
    return list(dataclasses.fields(TrainConfig))


def ui_fields() -> list[dataclasses.Field]:
    """The knobs the dashboard shows as widgets (those whose metadata has ``ui``), in TrainConfig's order."""
    return [f for f in knobs() if "ui" in f.metadata]


def ui_options(f: dataclasses.Field) -> list[Any]:
    """The values a select widget offers for ``f``: the devices that exist here for ``device``, else its choices."""
    if f.name == "device":
        return ["auto", *_available_devices()]
    return list(f.metadata.get("ui_options") or f.metadata.get("choices") or ())


def to_query(config: TrainConfig) -> dict[str, str]:
    """The fields that differ from the defaults, as strings: a URL's query parameters that rebuild ``config``."""
    default = TrainConfig()
    return {f.name: f"{getattr(config, f.name):g}" if f.type in ("float", float) else str(getattr(config, f.name))
            for f in knobs() if getattr(config, f.name) != getattr(default, f.name)}


def from_query(params: dict[str, str], others: Optional[Sequence[str]] = None) -> tuple[dict[str, Any], list[str]]:
    """Fields of TrainConfig parsed from query parameters: (values, problems).

    A value that does not parse or does not validate is left out and described in ``problems`` (one line each), so
    a hand-edited link still opens the form with everything else it carries. A key that is no field is ignored;
    with ``others`` (the keys the caller reads itself, e.g. ``run``) it is said to be ignored too.
    """
    fields = {f.name: f for f in knobs()}
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, text in params.items():
        f = fields.get(key)
        if f is None:
            if others is not None and key not in others:
                problems.append(f"{key}={text!r} in the link was ignored: it is not a setting a link can carry "
                                "(those are the data and training settings, as a reload's link shows them)")
            continue
        kind = {"int": int, "float": float, "str": str}[str(f.type)]
        try:
            value = kind(text)
            TrainConfig(**{key: value}).validate()
        except (ValueError, MultilabelError) as exc:
            problems.append(f"{key}={text!r} in the link was ignored ({exc})")
            continue
        values[key] = value
    return values, problems


def _available_devices() -> list[str]:
    from .devices import available_devices  # imports torch: only when a device other than "auto" is asked about
    return available_devices()


def advice(config: TrainConfig) -> list[str]:
    """Valid settings that are most likely a mistake, one line each (the Train page and the CLI show them; the run
    still starts). Weight decay is decoupled with adamw (default 1.0) but an L2 penalty with adam: the same number
    there pins every weight near zero."""
    lines = []
    if config.optimizer == "adam" and config.weight_decay > 1e-2:
        lines.append(f"weight decay {config.weight_decay:g} with optimizer adam is an L2 penalty that strong, and the "
                     "net will barely learn: choose adamw, or a weight decay of 1e-3 or less")
    return lines

