"""The Train form: widgets built from TrainConfig's field metadata, with state that survives everything.

Why the state lives outside the widgets: Streamlit deletes the state of a widget that a script run does not draw
(the synthetic-only sliders while "Upload CSV" is chosen, every widget while another page is open), and a widget
whose key was filled by hand through ``st.session_state`` can come back at its minimum or at a stale value. So:

* the form's values live in one plain dict, ``st.session_state[FORM]``, which Streamlit never cleans up;
* every widget gets ``value=``/``index=`` from that dict and an ``on_change`` callback that copies the widget's new
  value back into it; nothing writes a widget key by hand (loading a run's settings drops the widget keys instead,
  so they are drawn again from the dict);
* Start builds the TrainConfig from the dict: what the page shows is what trains.

A widget that is drawn again after leaving the page starts from the dict, so it shows the last value chosen.
The dict's TrainConfig values and data settings (source, synthetic samples and label noise) are also mirrored into
the page's URL (``config.to_query``, ``trainview.data_to_query``: only what differs from the defaults), so a reload
(a new session) or a shared link opens the same form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import streamlit as st

from multilabel import TrainConfig
from multilabel import config as config_module
from multilabel import trainview

FORM = "train_form"  # the plain session_state key holding the form's values
SOURCES = ["Synthetic", "Upload CSV"]
# Data knobs that are not TrainConfig fields (the synthetic generator's).
DATA_DEFAULTS = {"source": "Synthetic", "syn_samples": trainview.DATA_QUERY_DEFAULTS["samples"],
                 "syn_noise": trainview.DATA_QUERY_DEFAULTS["noise"]}
# Fields the synthetic source sets with sliders; a CSV's columns set them otherwise.
DATA_SHAPE = ("input_size", "num_outputs")

@dataclass(frozen=True)
class Knob:
    """One widget of the form: a TrainConfig field and how to draw it."""

    name: str
    label: str
    help: str
    ui: str  # slider | select_slider | number | select | toggle
    default: Any
    min: Any = None
    max: Any = None
    step: Any = None
    options: Optional[Sequence[Any]] = None  # select_slider / select choices; toggle: [off value, on value]

    def fit(self, value: Any) -> Any:
        """``value`` brought inside what the widget can show (a stored run may hold any valid value)."""
        if self.ui == "toggle":
            return value if value in (self.options or (False, True)) else self.default
        if self.options is not None:
            options = list(self.options)
            if value in options:
                return value
            if isinstance(value, (int, float)) and all(isinstance(o, (int, float)) for o in options):
                return min(options, key=lambda o: abs(o - value))
            return self.default if self.default in options else options[0]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.default
        if self.min is not None:
            value = max(value, self.min)
        if self.max is not None:
            value = min(value, self.max)
        if self.step and isinstance(self.step, float):  # a float slider only holds multiples of its step
            value = round(round(value / self.step) * self.step, 10)
        return value


def knobs() -> list[Knob]:
    """The Train page's widgets, in order, from TrainConfig's metadata (``config.ui_fields()``)."""
    out = []
    for f in config_module.ui_fields():
        meta = f.metadata
        ui = meta["ui"]
        if ui == "toggle":
            options: Optional[list[Any]] = [meta.get("ui_off", False), meta.get("ui_on", True)]
        elif ui in ("select", "select_slider"):
            options = config_module.ui_options(f)  # devices: only those that exist here
        else:
            options = None
        default = float(f.default) if f.type in ("float", float) and ui in ("slider", "number") else f.default
        out.append(Knob(name=f.name, label=meta.get("label") or f.name.replace("_", " ").capitalize(),
                        help=meta.get("help", ""), ui=ui, default=default,
                        min=meta.get("ui_min", meta.get("min")), max=meta.get("ui_max", meta.get("max")),
                        step=meta.get("ui_step"), options=options))
    return out


def defaults() -> dict[str, Any]:
    return {**DATA_DEFAULTS, **{k.name: k.fit(k.default) for k in knobs()}, "labels": {}}


def form() -> dict[str, Any]:
    """This browser session's form values (created with the defaults on first use)."""
    if FORM not in st.session_state:
        st.session_state[FORM] = defaults()
    return st.session_state[FORM]


def load(config: dict[str, Any], data: Optional[dict[str, Any]] = None) -> None:
    """Fill the form from a stored run's config (and data description), and let the widgets redraw from it."""
    values = form()
    for k in knobs():
        if k.name in config:
            values[k.name] = k.fit(config[k.name])
    if data:
        values["source"] = "Upload CSV" if data.get("source") == "csv" else "Synthetic"
        if data.get("source") == "synthetic":
            for key, src in (("syn_samples", "rows"), ("syn_noise", "noise")):
                if isinstance(data.get(src), (int, float)):
                    values[key] = data[src]
    for key in [*values, *(k.name for k in knobs())]:
        st.session_state.pop(key, None)  # widget state only: the dict is under FORM
    for k in knobs():  # number boxes: a new key, drawn anew from the form
        st.session_state[EXACT + "v_" + k.name] = st.session_state.get(EXACT + "v_" + k.name, 0) + 1
    st.session_state.pop(PROBLEMS, None)  # numbers typed before: the boxes now show the run's
    # The other widgets keep their keys (their id in the browser): drawn with value= only, a browser that showed the
    # widget before kept its old value and sent it back (Open on a running run left Samples at 2000, and the next
    # rerun put 2000 back into the form). Their value goes into the key instead, which the browser takes.
    seeded = st.session_state.setdefault(SEEDED, set())
    for key in DATA_DEFAULTS:
        st.session_state[key] = values[key]
        seeded.add(key)
    for k in knobs():
        if not exact_box(k):  # those set their slider's key themselves, and the box has a new key
            st.session_state[k.name] = values[k.name] == (k.options or (False, True))[-1] if k.ui == "toggle" \
                else values[k.name]
            seeded.add(k.name)


SEEDED = "form_seeded"  # widget keys load() filled with a run's value, until the widget is drawn from them


def _initial(key: str, **given: Any) -> dict[str, Any]:
    """The widget's value= / index= from the form (``given``), or none where load() put the value in its key:
    Streamlit warns when it is given both."""
    seeded = st.session_state.get(SEEDED, set())
    if key in seeded:
        seeded.discard(key)
        if key in st.session_state:
            return {}
    return given


def _copy(key: str, convert: Callable[[Any], Any] = lambda v: v) -> None:
    form()[key] = convert(st.session_state[key])


# Number boxes take any number and check it here: with min_value / max_value Streamlit's box kept a typed 100000
# in red in the browser and never sent it, so Start trained on the old value with nothing said.
PROBLEMS = "form_problems"  # {form key: what is wrong with the number typed into its box}
SCOPED_PROBLEMS = "number_problems"  # {scope (a page): {widget key: the same}} for boxes outside the form


def _num(value: Any) -> str:
    """1,000,000 and 0.001 and 600 (not 600.0)."""
    return f"{value:,g}" if isinstance(value, float) else f"{value:,}"


def problems() -> list[str]:
    """What is wrong with numbers typed into the form's boxes (one line each), until each is typed again right."""
    return list(st.session_state.get(PROBLEMS, {}).values())


def _within(key: str, label: str, low: Any, high: Any, value: Any) -> bool:
    """Whether ``value`` typed for ``key`` lies in [low, high]; if not, say so (kept until a right value comes)."""
    found = st.session_state.setdefault(PROBLEMS, {})
    if value is not None and (low is None or value >= low) and (high is None or value <= high):
        found.pop(key, None)
        return True
    allowed = (f"between {_num(low)} and {_num(high)}" if low is not None and high is not None else
               f"at least {_num(low)}" if low is not None else f"at most {_num(high)}")
    typed = "empty" if value is None else _num(value)
    found[key] = (f"{label}: {typed} is not {allowed}; type a number in that range (the form keeps "
                  f"{_num(form()[key])})")
    return False


def bounded_number(container: Any, label: str, low: Any, high: Any, value: Any, key: str, scope: str,
                   step: Any = None, help: Optional[str] = None) -> Any:
    """A number box outside the Train form (Search's): it takes any number and returns the last one typed within
    [low, high] (``value`` until then); one outside is said under the box and listed by scope_problems(scope)."""
    typed = container.number_input(label, value=value, step=step, key=key, help=help)
    found = st.session_state.setdefault(SCOPED_PROBLEMS, {}).setdefault(scope, {})
    good = f"{key}__in_range"
    if typed is not None and low <= typed <= high:
        st.session_state[good] = typed
        found.pop(key, None)
    else:
        found[key] = (f"{label}: {'empty' if typed is None else _num(typed)} is not between {_num(low)} and "
                      f"{_num(high)}; type a number in that range")
        container.error(found[key])
    return st.session_state.get(good, value)


def scope_problems(scope: str) -> list[str]:
    """The numbers typed out of range into ``scope``'s boxes (bounded_number), one line each."""
    return list(st.session_state.get(SCOPED_PROBLEMS, {}).get(scope, {}).values())


def _typed_number(key: str, label: str, low: Any, high: Any, box: str) -> None:
    if _within(key, label, low, high, st.session_state[box]):
        form()[key] = st.session_state[box]


def number_box(container: Any, label: str, key: str, low: Any, high: Any, value: Any, box: Optional[str] = None,
               **kwargs: Any) -> None:
    """A number box for form key ``key`` (widget key ``box``, default ``key``) that takes any number and keeps only
    one in [low, high]; a number outside says why under the box and holds Start (see problems)."""
    box = box or key
    if kwargs.get("step") is None and isinstance(value, int) and not isinstance(value, bool):
        kwargs["step"] = 1  # a whole-number box also when drawn from its key, with no value= to tell it so
    if box not in st.session_state:  # drawn anew from the form (back on the page): what was typed is gone
        st.session_state.get(PROBLEMS, {}).pop(key, None)
    container.number_input(label, key=box, on_change=_typed_number, args=(key, label, low, high, box),
                           **(_initial(box, value=value) or {"value": None}), **kwargs)  # None: no float box
    problem = st.session_state.get(PROBLEMS, {}).get(key)
    if problem:
        container.error(problem)


EXACT = "exact_"  # the key prefix of a slider's number box


def exact_box(k: Knob) -> bool:
    """Whole-number sliders with a wide range (hidden size, epochs, patience) get a number box beside them."""
    return (k.ui == "slider" and isinstance(k.default, int) and not isinstance(k.default, bool)
            and k.name not in DATA_SHAPE and k.min is not None and k.max is not None and k.max - k.min > 100)


def exact_key(name: str) -> str:
    """The number box's key now: 'exact_epochs_0', then _1, _2, ... each time the slider moves."""
    return f"{EXACT}{name}_{st.session_state.get(EXACT + 'v_' + name, 0)}"


def _slid(name: str) -> None:
    form()[name] = st.session_state[name]
    st.session_state.get(PROBLEMS, {}).pop(name, None)  # the slider's value is in range: the box's is dropped
    st.session_state[EXACT + "v_" + name] = st.session_state.get(EXACT + "v_" + name, 0) + 1


def _typed(name: str, label: str, low: Any, high: Any, key: str) -> None:
    if key != exact_key(name) or key not in st.session_state:
        return  # the slider moved in the same batch (arrow keys, then Tab into the box): the box's value is stale
    value = st.session_state[key]
    if _within(name, label, low, high, value):
        form()[name] = st.session_state[name] = value


def widget(k: Knob, container: Any = st) -> Any:
    """Draw knob ``k`` in ``container`` from the form's value; a change is copied back to the form."""
    values = form()
    value = values[k.name] = k.fit(values.get(k.name, k.default))
    common = dict(key=k.name, help=k.help or None)
    if k.ui == "toggle":
        on_value = (k.options or (False, True))[-1]
        container.toggle(k.label, on_change=_copy, **_initial(k.name, value=value == on_value),
                         args=(k.name, lambda on, o=k.options: (o or (False, True))[1 if on else 0]), **common)
    elif k.ui == "select_slider":
        container.select_slider(k.label, options=list(k.options), format_func=_fmt, **_initial(k.name, value=value),
                                on_change=_copy, args=(k.name,), **common)
    elif k.ui == "select":
        options = list(k.options)
        container.selectbox(k.label, options, **_initial(k.name, index=options.index(value)), on_change=_copy,
                            args=(k.name,), **common)
    elif k.ui == "slider" and exact_box(k):
        # A number box beside the slider: 20 or 100 typed, not found by the pixel or by 99 key presses (each a
        # rerun). The slider's value lives in its key (the box's callback sets it there; no value= beside it, which
        # Streamlit reports as a conflict); the box gets a new key whenever the slider moves, so it is drawn anew
        # from the form (a dropped key would let the browser send the box's old value back as a change).
        slide, box = container.columns([3, 1.2], vertical_alignment="bottom")
        if k.name not in st.session_state:
            st.session_state[k.name] = value
        slide.slider(k.label, k.min, k.max, step=k.step, on_change=_slid, args=(k.name,), **common)
        if exact_key(k.name) not in st.session_state:  # drawn anew from the form: what was typed is gone
            st.session_state.get(PROBLEMS, {}).pop(k.name, None)
        key = exact_key(k.name)
        box.number_input(f"{k.label} (exact)", value=value, step=1, key=key, on_change=_typed,
                         args=(k.name, k.label, k.min, k.max, key), label_visibility="collapsed")
        problem = st.session_state.get(PROBLEMS, {}).get(k.name)
        if problem:
            container.error(problem)
    elif k.ui == "slider":
        container.slider(k.label, k.min, k.max, step=k.step, on_change=_copy, args=(k.name,),
                         **_initial(k.name, value=value), **common)
    else:
        number_box(container, k.label, k.name, k.min, k.max, value, step=k.step, help=k.help or None)
    return values[k.name]


def data_widget(kind: str, label: str, key: str, container: Any = st, **kwargs: Any) -> Any:
    """A data-section widget (source, synthetic samples/noise) kept in the form the same way."""
    values = form()
    if kind == "radio":
        options = kwargs.pop("options")
        container.radio(label, options, key=key, on_change=_copy, args=(key,),
                        **_initial(key, index=options.index(values[key])), **kwargs)
    elif kind == "number":
        number_box(container, label, key, kwargs.pop("min_value", None), kwargs.pop("max_value", None), values[key],
                   **kwargs)
    elif kind == "slider":
        container.slider(label, key=key, on_change=_copy, args=(key,), **_initial(key, value=values[key]), **kwargs)
    return values[key]


def label_picker(file_key: str, columns: list[str], guessed: list[str], container: Any = st) -> list[str]:
    """The label-column multiselect for one uploaded file; the choice is kept per file in the form."""
    chosen = form()["labels"]
    if file_key not in chosen:
        chosen[file_key] = list(guessed)
    key = "labels"

    def copy() -> None:
        form()["labels"][file_key] = list(st.session_state[key])

    # Another file: its own choice, not the last file's, set through the widget's key. With a key, Streamlit keeps
    # the widget (and the browser its old choice) whatever its default: a second file with the same header showed
    # no label chosen while the counts below it said 2.
    if st.session_state.get("labels_file") != file_key or key not in st.session_state:
        st.session_state[key] = [c for c in chosen[file_key] if c in columns]
        st.session_state["labels_file"] = file_key
    container.multiselect("Label columns", columns, key=key, on_change=copy,
                          help="each chosen column is one yes/no label; all other columns are features", wrap=True)
    return [c for c in chosen[file_key] if c in columns]


def config_from_form(input_size: int, num_outputs: int) -> TrainConfig:
    """The TrainConfig the form describes, for data of the given shape (validated)."""
    values = form()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    chosen = {k.name: values[k.name] for k in knobs() if k.name in fields}
    chosen.update(input_size=input_size, num_outputs=num_outputs)
    return TrainConfig(**chosen).validate()


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# What the Train page's link carries beside the training and data settings (embed, embed_options: Streamlit's own)
URL_KEYS = ("run", "embed", "embed_options")
# The form's data keys by the link's (trainview.data_to_query), and its source's words by the link's
URL_DATA = {"source": "source", "samples": "syn_samples", "noise": "syn_noise"}
URL_SOURCES = {"synthetic": "Synthetic", "csv": "Upload CSV"}


def link_keys() -> dict[str, str]:
    """The keys the Train page's link carries (its settings' and ``run``) -> what each sets, in the page's words."""
    labels = {k.name: k.label for k in knobs()}
    return {**{f.name: labels.get(f.name, f.name.replace("_", " ").capitalize()) for f in dataclasses.fields(TrainConfig)},
            "samples": "Samples", "noise": "Label noise",
            "source": "Source", "run": "the run to open"}


def from_url(params: dict[str, str]) -> list[str]:
    """Fill the form from URL query parameters (a reload, a shared link); returns what was left out, and why."""
    values, problems = config_module.from_query(params)  # keys that are no field: said below, with the one meant
    known = link_keys()
    problems += [trainview.unknown_key_line(key, text, known) for key, text in params.items()
                 if key not in known and key not in URL_KEYS]
    data, data_problems = trainview.data_from_query(params)
    by_name = {k.name: k for k in knobs()}
    for name, value in values.items():  # valid for TrainConfig, but beyond what the page's widget can hold
        k = by_name.get(name)
        if k is None or k.ui == "toggle":
            continue
        if k.options is not None:
            outside = value not in list(k.options)
        else:
            outside = (k.min is not None and value < k.min) or (k.max is not None and value > k.max)
        if outside:
            problems.append(f"{name}={params[name]!r} in the link is beyond what this page offers "
                            + (f"({_fmt(k.min)} to {_fmt(k.max)})" if k.options is None else "")
                            + f"; it was set to {_fmt(k.fit(value))}")
    if values or data:
        if "source" in data:
            data["source"] = URL_SOURCES[data["source"]]
        form().update({URL_DATA[key]: value for key, value in data.items()})
        load(values)  # also drops the data widgets' state: they are drawn from the form
    return problems + data_problems


def to_url(params: Any) -> None:
    """Mirror the form's TrainConfig values and data settings into ``params`` (st.query_params), ``run`` untouched;
    a key the page does not read is dropped (from_url said so)."""
    values = form()
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    shown = TrainConfig(**{k.name: values[k.name] for k in knobs() if k.name in fields})
    source = "synthetic" if values["source"] == URL_SOURCES["synthetic"] else "csv"
    wanted = {**config_module.to_query(shown),
              **trainview.data_to_query(source, values["syn_samples"], values["syn_noise"])}
    for name in [*params]:
        if name not in fields and name not in URL_DATA and name not in URL_KEYS:
            del params[name]
    for name in [*fields, *URL_DATA]:
        if name in wanted:
            if params.get(name) != wanted[name]:
                params[name] = wanted[name]
        elif name in params:
            del params[name]
