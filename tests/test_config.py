"""TrainConfig: defaults, one clear message per bad field, device checks, plain-dict round trips."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from multilabel import MultilabelError, TrainConfig, available_devices, describe_devices, resolve_device
from multilabel.config import knobs
from multilabel.devices import AUTO_GPU_MIN_MACS_PER_STEP


def missing_device() -> str:
    """A device name this machine lacks ('cuda' on a CPU-only machine)."""
    return next(d for d in ("cuda", "mps") if d not in available_devices())


def test_defaults_validate_and_are_the_seed_articles_input_and_output_sizes():
    config = TrainConfig().validate()
    assert (config.input_size, config.num_outputs) == (10, 5)
    # chosen on benchmarks/suite.py (see config.py): fixed thresholds, batch size auto (0), a wide regularized layer
    assert config.threshold_mode == "fixed" and config.batch_size == 0 and config.pos_weight == "none"
    assert (config.hidden_size, config.dropout, config.optimizer) == (256, 0.3, "adamw")


@pytest.mark.parametrize("changes, message", [
    ({"hidden_size": 0}, "hidden_size must be >= 1, got 0"),
    ({"input_size": -3}, "input_size must be >= 1, got -3"),
    ({"epochs": 0}, "epochs must be >= 1, got 0"),
    ({"batch_size": -1}, "batch_size must be >= 0, got -1"),  # 0 = auto
    ({"patience": -1}, "patience must be >= 0, got -1"),
    ({"weight_decay": -0.1}, "weight_decay must be >= 0.0, got -0.1"),
    ({"learning_rate": 0.0}, "learning_rate must be > 0.0, got 0.0"),
    ({"learning_rate": 11.0}, "learning_rate must be <= 10.0, got 11.0"),
    ({"dropout": 1.0}, "dropout must be < 1.0, got 1.0"),
    ({"input_noise": -0.5}, "input_noise must be >= 0.0, got -0.5"),
    ({"input_noise": 11.0}, "input_noise must be <= 10.0, got 11.0"),
    ({"val_fraction": 0.0}, "val_fraction must be > 0.0, got 0.0"),
    ({"val_fraction": 1.0}, "val_fraction must be < 1.0, got 1.0"),
    ({"seed": -1}, "seed must be >= 0, got -1"),
    ({"hidden_size": 2.5}, "hidden_size must be a whole number, got 2.5"),
    ({"epochs": True}, "epochs must be a whole number, got True"),
    ({"learning_rate": "fast"}, "learning_rate must be a number, got 'fast'"),
    ({"learning_rate": math.nan}, "learning_rate must be a number, got nan"),
    ({"pos_weight": "balanced"}, "pos_weight must be one of none, auto; got 'balanced'"),
    ({"threshold_mode": "best"}, "threshold_mode must be one of fixed, tuned; got 'best'"),
    ({"device": "tpu"}, "device must be one of auto, cpu, cuda, mps; got 'tpu'"),
])
def test_bad_field_is_named_with_its_value_and_limit(changes, message):
    with pytest.raises(MultilabelError) as info:
        TrainConfig(**changes).validate()
    assert str(info.value) == message


def test_unavailable_device_message_lists_the_devices_this_machine_has():
    device = missing_device()
    with pytest.raises(MultilabelError) as info:
        TrainConfig(device=device).validate()
    message = str(info.value)
    assert f"device {device!r} is not available on this machine" in message
    assert f"(available: {', '.join(available_devices())})" in message
    assert "\n" not in message


def test_cuda_graph_on_with_cpu_device_is_refused():
    with pytest.raises(MultilabelError, match="cuda_graph 'on' needs a CUDA device"):
        TrainConfig(device="cpu", cuda_graph="on").validate()


def test_validate_returns_the_same_config_for_chaining():
    config = TrainConfig(hidden_size=7)
    assert config.validate() is config


def test_whole_number_floats_are_accepted_where_a_float_is_expected():
    assert TrainConfig(learning_rate=1, weight_decay=0).validate().learning_rate == 1


def test_dict_round_trip_keeps_every_field_and_ignores_unknown_keys():
    config = TrainConfig(hidden_size=33, epochs=7, learning_rate=0.01, pos_weight="auto", seed=5)
    values = config.to_dict()
    assert set(values) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert TrainConfig.from_dict({**values, "from_a_newer_version": 1}) == config


def test_replace_changes_only_the_named_fields_and_leaves_the_original():
    config = TrainConfig(hidden_size=8)
    changed = config.replace(epochs=3)
    assert (changed.hidden_size, changed.epochs) == (8, 3)
    assert config.epochs == TrainConfig().epochs


def test_every_knob_has_help_text_and_its_default_validates():
    fields = knobs()
    assert [f.name for f in fields] == [f.name for f in dataclasses.fields(TrainConfig)]
    for f in fields:
        assert f.metadata["help"].strip(), f.name
        if "choices" in f.metadata:
            assert f.default in f.metadata["choices"], f.name


def test_macs_per_step_counts_both_layers_over_a_batch():
    config = TrainConfig(input_size=10, hidden_size=20, num_outputs=5, batch_size=64)
    assert config.macs_per_step() == 64 * (10 * 20 + 20 * 5)


def test_auto_device_keeps_a_small_net_on_the_cpu():
    config = TrainConfig(input_size=10, hidden_size=20, num_outputs=5, batch_size=64).validate()
    assert config.macs_per_step() < AUTO_GPU_MIN_MACS_PER_STEP
    assert resolve_device(config) == torch.device("cpu")


def test_auto_device_for_a_big_net_is_the_first_accelerator_or_the_cpu():
    big = TrainConfig(input_size=512, hidden_size=1024, num_outputs=64, batch_size=4096).validate()
    expected = "cpu" if available_devices() == ["cpu"] else available_devices()[1]
    assert resolve_device(big).type == expected


def test_explicit_cpu_device_resolves_to_cpu():
    assert resolve_device(TrainConfig(device="cpu").validate()) == torch.device("cpu")


def test_available_devices_lists_cpu_first_and_describe_matches():
    devices = available_devices()
    assert devices[0] == "cpu"
    described = describe_devices()
    assert described[0]["device"] == "cpu" and described[0]["threads"] == torch.get_num_threads()
    assert ("cuda" in devices) == any(d["device"] == "cuda" for d in described)


def test_a_config_round_trips_through_query_parameters():
    from multilabel.config import from_query, to_query
    config = TrainConfig(hidden_size=128, learning_rate=2e-3, dropout=0.25, optimizer="adam", seed=7).validate()
    query = to_query(config)
    assert query == {"hidden_size": "128", "learning_rate": "0.002", "dropout": "0.25", "seed": "7",
                     "optimizer": "adam"}
    values, problems = from_query(query)
    assert problems == [] and TrainConfig(**values) == config


def test_bad_query_parameters_are_left_out_with_a_reason():
    from multilabel.config import from_query
    values, problems = from_query({"hidden_size": "many", "epochs": "0", "optimizer": "sgd", "batch_size": "64",
                                   "utm_source": "x"})
    assert values == {"batch_size": 64}
    assert len(problems) == 3 and all("ignored" in p for p in problems)
    assert any("epochs must be >= 1" in p for p in problems)
    # A page that names the keys it reads itself has the others said to be ignored (syn_samples=60000 went unsaid)
    values, problems = from_query({"epochs": "30", "run": "r1", "syn_samples": "60000"}, others=("run",))
    assert values == {"epochs": 30} and problems == [
        "syn_samples='60000' in the link was ignored: it is not a setting a link can carry (those are the data and "
        "training settings, as a reload's link shows them)"]


def test_refit_is_a_form_toggle_a_cli_flag_and_a_link_parameter():
    from multilabel.config import from_query, to_query, ui_fields
    field = next(f for f in ui_fields() if f.name == "refit")
    assert field.metadata["ui"] == "toggle" and (field.metadata["ui_off"], field.metadata["ui_on"]) == ("none", "all")
    assert TrainConfig().refit == "all"
    off = TrainConfig(refit="none").validate()
    assert to_query(off) == {"refit": "none"}
    values, problems = from_query(to_query(off))
    assert problems == [] and TrainConfig(**values) == off
    with pytest.raises(MultilabelError, match="refit must be one of none, all"):
        TrainConfig(refit="yes").validate()
