"""What every widget is made of: declared parameters, a real computation, a figure.

A widget knows nothing of HTTP. The app validates a query string with
`Widget.canonicalize`, runs `Widget.compute` off the event loop, and turns the
result into a Plotly figure with `Widget.figure`. Streaming widgets call
`progress(partial_data, done, total)` while they compute: the partial data has the
same shape as the final result, so `figure` draws both, and the app sends the
growing curves to the browser. The callback may raise to cancel the work.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from widgets.script import Script

# progress(partial_data, done, total): called by streaming widgets while they compute
Progress = Callable[[dict, int, int], None]

# The only number syntax a parameter accepts: ASCII decimal, optional sign, fraction and
# exponent. float() alone would also take "1_0", " 5 ", "infinity" and Arabic-Indic or
# full-width digits, so two spellings of one value would be two cache keys and a typo a run.
NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
MAX_NUMBER_CHARS = 40  # no real setting needs more; a longer string is not a number here


class ParamError(ValueError):
    """A parameter value that is missing, malformed or out of bounds."""

    def __init__(self, field: str, value: Any, allowed: str, message: str | None = None):
        self.field = field
        self.value = value
        self.allowed = allowed
        self.message = message or f"{field}={value!r} is not allowed: expected {allowed}"
        super().__init__(self.message)

    def as_dict(self) -> dict:
        return {"field": self.field, "value": _jsonable(self.value), "allowed": self.allowed,
                "message": self.message}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


@dataclass(frozen=True)
class Param:
    """One slider, toggle or select: its bounds, default and how to show it."""

    name: str
    label: str
    kind: str  # "float", "int", "bool", "choice" or "text"
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | None = None
    unit: str = ""
    log: bool = False  # a log-scale slider: the browser moves in log10 space
    # a choice's options: each a value, or a (value, label) pair. The value is what URLs, cache
    # keys and code use; the label is only shown, so editing it breaks no link and no key.
    # Stored as the values; the labels are in `labels`, in the same order.
    choices: tuple = ()
    help: str = ""
    advanced: bool = False  # shown under "advanced" in the form
    max_length: int = 4000  # for "text" parameters
    control: str = "slider"  # numbers: "slider", or "number" for a value typed rather than dragged
    # True for a parameter that changes only what is shown of a run, not the run (a learner's guess
    # at a diagnosis): it is not part of the run's key, so every view of one run shares it
    view: bool = False
    # old spellings of choice values still accepted (links saved before a value was renamed):
    # ((old, value), ...); a parsed alias is its value, so it shares the value's run
    aliases: tuple[tuple[str, str], ...] = ()
    values: tuple = ()  # numbers: the only values allowed, when not every one in [min, max] is (seeds: 1, 3, 5)
    labels: tuple[str, ...] = field(default=(), init=False, compare=False)  # set from `choices`

    def __post_init__(self) -> None:
        pairs = [c if isinstance(c, tuple) else (c, c) for c in self.choices]
        object.__setattr__(self, "choices", tuple(value for value, _ in pairs))
        object.__setattr__(self, "labels", tuple(label for _, label in pairs))
        unknown = [old for old, value in self.aliases if value not in self.choices]
        if unknown:
            raise ValueError(f"{self.name}: aliases {unknown} name no choice")

    def label_of(self, value: Any) -> str:
        """What the form shows for a choice's value (the value itself for other kinds)."""
        if self.kind == "choice" and value in self.choices:
            return self.labels[self.choices.index(value)]
        return str(value)

    def allowed(self) -> str:
        if self.values:
            return "one of " + ", ".join(_fmt(v) for v in self.values)
        if self.kind in ("float", "int"):
            return f"a{'n integer' if self.kind == 'int' else ' number'} from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.kind == "bool":
            return "true or false"
        if self.kind == "choice":
            return "one of " + ", ".join(v if v == label else f"{v} ({label})"
                                         for v, label in zip(self.choices, self.labels))
        return f"text of at most {self.max_length} characters"

    def parse(self, raw: Any) -> Any:
        """Turn a raw query value (or a Python value) into a checked value."""
        if raw is None:  # absent (an empty string is a value, and not a number or a choice)
            if self.default is None:  # a parameter without a default is required
                raise ParamError(self.name, raw, self.allowed(), f"{self.name} is required: expected {self.allowed()}")
            return self.default
        if self.kind == "float":
            return self._parse_number(raw, float)
        if self.kind == "int":
            return self._parse_number(raw, int)
        if self.kind == "bool":
            return self._parse_bool(raw)
        if not isinstance(raw, str):  # a JSON list or number is not a choice or a text
            raise ParamError(self.name, _clip(str(raw)), self.allowed())
        if self.kind == "choice":
            raw = dict(self.aliases).get(raw, raw)
            if raw not in self.choices:
                raise ParamError(self.name, _clip(raw), self.allowed())
            return raw
        value = raw
        if len(value) > self.max_length:
            raise ParamError(self.name, value[:40] + "...", self.allowed(),
                             f"{self.name} is {len(value)} characters long: at most {self.max_length} are allowed")
        return value

    def _parse_number(self, raw: Any, cast: type) -> float | int:
        if isinstance(raw, str):
            if len(raw) > MAX_NUMBER_CHARS or not NUMBER_RE.fullmatch(raw):
                raise ParamError(self.name, _clip(raw), self.allowed())
            number = float(raw)
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            try:
                number = float(raw)
            except OverflowError:  # an int too large for a float
                raise ParamError(self.name, _clip(str(raw)), self.allowed()) from None
        else:
            raise ParamError(self.name, _clip(str(raw)), self.allowed())
        if not math.isfinite(number):
            raise ParamError(self.name, raw, self.allowed())
        if cast is int:
            if number != int(number):
                raise ParamError(self.name, raw, self.allowed())
            number = int(number)
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise ParamError(self.name, raw, self.allowed())
        if self.values and number not in self.values:
            raise ParamError(self.name, raw, self.allowed())
        return number

    def _parse_bool(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        # one spelling each, as a form, a link and the JSON twin write them
        if raw == "true":
            return True
        if raw == "false":
            return False
        raise ParamError(self.name, _clip(str(raw)), self.allowed())

    def parse_json(self, raw: Any) -> Any:
        """A value from a JSON body: it must have the JSON type the schema gives this
        parameter (a number for numbers, true/false for switches, a string otherwise)."""
        numeric = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        expected = {"float": numeric, "int": numeric, "bool": isinstance(raw, bool)}.get(
            self.kind, isinstance(raw, str))
        if raw is not None and not expected:
            raise ParamError(self.name, _clip(repr(raw)), self.allowed() + " (as a JSON "
                             + {"float": "number", "int": "number", "bool": "true or false"}.get(self.kind, "string")
                             + ")")
        return self.parse(raw)

    def describe(self) -> dict:
        """The JSON description served by GET /api/widgets."""
        info = {"name": self.name, "label": self.label, "kind": self.kind, "default": self.default,
                "unit": self.unit, "log": self.log, "advanced": self.advanced, "help": self.help,
                "view": self.view}
        if self.kind in ("float", "int"):
            info.update(min=self.min, max=self.max, step=self.step, control=self.control)
            if self.values:
                info["values"] = list(self.values)
        if self.kind == "choice":
            info["choices"] = list(self.choices)
            info["choice_labels"] = list(self.labels)
        if self.kind == "text":
            info["max_length"] = self.max_length
        return info


def _clip(text: str, limit: int = 64) -> str:
    """A rejected value as it is echoed back: never more than `limit` characters."""
    return text if len(text) <= limit else text[:limit] + "..."


def _fmt(x: float | None) -> str:
    if x is None:
        return "-inf"
    return f"{x:g}"


@dataclass
class Widget:
    """Base class: subclasses set the class attributes and implement compute/figure."""

    name: str = ""
    title: str = ""
    caption: str = ""  # one or two sentences saying what the default run shows
    params: tuple[Param, ...] = ()
    streams: bool = False  # True for training widgets: compute() reports progress
    seed: int = 1337
    extra: dict = field(default_factory=dict)

    # --- parameters -----------------------------------------------------------
    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params}

    def canonicalize(self, raw: Mapping[str, Any]) -> dict:
        """Validate every parameter (unknown keys are ignored) and check cross-field rules."""
        values = {p.name: p.parse(raw.get(p.name)) for p in self.params}
        self.check(values)
        return values

    def check(self, values: dict) -> None:
        """Cross-field rules and work caps; raise ParamError naming the field."""

    def compute_values(self, values: dict) -> dict:
        """The values the run depends on: all but the view parameters. A run's key is made of
        these, so views of one run (a diagnosis and every guess at it) share one run."""
        return {p.name: values[p.name] for p in self.params if not p.view}

    def has_view_params(self) -> bool:
        return any(p.view for p in self.params)

    # --- the real work --------------------------------------------------------
    def compute(self, values: dict, progress: Progress | None = None) -> dict:
        """Run the real computation and return JSON-serialisable data series."""
        raise NotImplementedError

    def view(self, values: dict, data: dict) -> dict:
        """`data` as the view parameters in `values` show it. `compute` returns view(values, run);
        `data` may be a view of the same run under other view values, so this must depend only on
        the run's numbers and `values`. Cheap: it runs in the web process, at render time."""
        return data

    def present(self, values: dict, item: dict) -> dict:
        """A finished item {params, data, figure, ...} computed for the same compute values, as
        `values` shows it: the data's view and its figure redrawn when a view parameter differs."""
        if not self.has_view_params() or item["params"] == values:
            return item
        data = self.view(values, item["data"])
        return {**item, "params": values, "data": data, "figure": self.figure(values, data)}

    def figure(self, values: dict, data: dict) -> dict:
        """A Plotly figure (data + layout as plain dicts) for complete or partial data."""
        raise NotImplementedError

    def tables(self, values: dict, data: dict) -> list[dict]:
        """Tables for screen readers and copying: [{"caption", "columns", "rows"}]."""
        return []

    def script(self, values: dict) -> "Script":
        """"Show the code": the script that computes the chart's numbers again (widgets/script.py)."""
        raise NotImplementedError

    def code(self, values: dict) -> str:
        """The script as the page shows it: a Python file that prints the chart's numbers."""
        return self.script(values).text()

    def findings(self, values: dict, data: dict) -> list[str]:
        """What this result says that matters, as sentences the page shows under the chart
        (and a screen reader hears once per result): a verdict, an explanation, a measured
        figure too long for a chart title. Computed from `data`, the run on screen. By default:
        with several seeds, each difference with its spread and paired test (widgets/spread.py)."""
        from widgets.spread import findings

        return findings(data) if isinstance(data, dict) else []

    def summary(self, values: dict, data: dict) -> list[dict]:
        """The numbers that matter of each run on screen, formatted, one dict per run
        ({"run": label, "final loss": "2.312", ...}): the page compares them with the previous
        setting's after a move. Training widgets get them from their runs (widgets/kit.py)."""
        from widgets.kit import run_summary

        return run_summary(data)

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "caption": self.caption,
                "streams": self.streams, "params": [p.describe() for p in self.params]}
