""""Show the code": each widget's script, generated from what its `compute` really uses.

A widget's `script(values)` is a Script: the chart's settings, then steps (what each does, in
words, and its code), then the numbers the chart shows, printed. The steps are written from
the same objects `compute` uses (its TrainSpec, printed field by field) or call the same
public function `compute` calls, so there is no second implementation to drift; a loop is
written out by hand only where the loop is the lesson. Every script ends with a `result`
shaped like (the shown part of) compute's data, and each Shown number names where it lives
in both: tests/widgets/test_show_the_code.py runs every script and compares what it prints
with compute's numbers, and widgets/notebook.py turns the same Script into a notebook.

    script = widget.script(values)
    script.text()       # the .py file the page shows
    script.numbers      # (label, path into the data) of every number it prints
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable

HEADER = ("# {title}\n"
          "# The code behind the chart, with the chart's settings.\n"
          "# Save it in the course's repository root (the folder that holds widgets/) and run:\n"
          "#     python {file}\n"
          "# It computes the chart's numbers again (same seed: same initial weights, same batches)\n"
          "# and prints them.\n")
SETTINGS_SAY = "The chart's settings: the parameters in its link."
NUMBERS_SAY = "The numbers the chart shows, as computed here."


@dataclass(frozen=True)
class Step:
    say: str  # what this step does, in words (a comment in the script, a markdown cell in a notebook)
    code: str


@dataclass(frozen=True)
class Shown:
    """A number the chart shows: its label, and its path (keys and indexes) in compute's data,
    which is also its path in the script's `result`."""

    label: str
    path: tuple

    def expression(self) -> str:
        return "result" + "".join(f"[{key!r}]" for key in self.path)

    def read(self, data: Any) -> Any:
        for key in self.path:
            data = data[key]
        return data


@dataclass(frozen=True)
class Script:
    name: str  # the widget's name (the file is <name>.py)
    title: str
    values: dict  # the chart's canonical settings
    imports: str  # the import lines, first in the file
    steps: tuple[Step, ...]
    numbers: tuple[Shown, ...]
    about: str = ""  # what the chart shows, for the notebook's first cell
    # how far a printed number may be from compute's, relative: 0 where the script runs the
    # very functions compute runs (it prints the same bits); a hand-written loop says its own
    tolerance: float = 0.0

    @property
    def file(self) -> str:
        return f"{self.name}.py"

    def settings_step(self) -> Step:
        return Step(SETTINGS_SAY, f"values = {pretty(self.values)}")

    def numbers_step(self) -> Step:
        lines = [f"print({shown.label + ' =' !r}, {shown.expression()})" for shown in self.numbers]
        return Step(NUMBERS_SAY, "\n".join(lines))

    def all_steps(self) -> tuple[Step, ...]:
        return (self.settings_step(), *self.steps, self.numbers_step())

    def text(self) -> str:
        parts = [HEADER.format(title=self.title, file=self.file), self.imports.strip() + "\n"]
        for step in self.all_steps():
            parts.append(comment(step.say) + "\n" + step.code.rstrip() + "\n")
        return "\n".join(parts)


def comment(text: str, width: int = 96) -> str:
    """Text as '# ' lines of at most `width` characters."""
    lines, current = [], ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width - 2:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    lines.append(current)
    return "\n".join(f"# {line}" for line in lines)


# --- Python source for the objects compute uses ------------------------------------------------
def pretty(value: Any, indent: int = 0) -> str:
    """repr() of nested dataclasses, dicts and tuples, one field per line (valid Python). A
    TrainSpec, RunConfig or GPTConfig shows only the fields that differ from their defaults."""
    pad = "    " * (indent + 1)
    end = "    " * indent
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        terse = type(value).__name__ in ("GPTConfig", "TrainSpec", "RunConfig")
        shown = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)
                 if f.init and not (terse and getattr(value, f.name) == f.default and f.name != "seed")]
        name = type(value).__name__
        flat = f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in shown) + ")"
        if all(isinstance(v, (int, float, str, bool, type(None))) for _, v in shown) and len(pad) + len(flat) <= 116:
            return flat  # a small record of plain values: one line
        return f"{name}(\n" + "\n".join(f"{pad}{k}={pretty(v, indent + 1)}," for k, v in shown) + f"\n{end})"
    if isinstance(value, tuple) and value:
        return "(\n" + "\n".join(f"{pad}{pretty(v, indent + 1)}," for v in value) + f"\n{end})"
    if isinstance(value, list) and value and any(dataclasses.is_dataclass(v) for v in value):
        return "[\n" + "\n".join(f"{pad}{pretty(v, indent + 1)}," for v in value) + f"\n{end}]"
    if isinstance(value, dict) and value:
        return "{\n" + "\n".join(f"{pad}{k!r}: {pretty(v, indent + 1)}," for k, v in value.items()) + f"\n{end}}}"
    return repr(value)


def imports(*objects: Any, extra: Iterable[str] = ()) -> str:
    """`from module import Name` lines for every dataclass type in `objects` (nested), plus
    `extra` names given as "module:Name" (or "module" alone for `import module`)."""
    found: dict[str, set[str]] = {}

    def add(module: str, name: str) -> None:
        found.setdefault(module, set()).add(name)

    def walk(value: Any) -> None:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            add(type(value).__module__, type(value).__name__)
            for f in dataclasses.fields(value):
                walk(getattr(value, f.name))
        elif isinstance(value, (list, tuple)):
            for v in value:
                walk(v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)

    for obj in objects:
        walk(obj)
    plain = sorted(item for item in extra if ":" not in item)
    for item in extra:
        if ":" in item:
            module, _, name = item.partition(":")
            add(module, name)
    return "\n".join([f"import {module}" for module in plain] +
                     [f"from {module} import {', '.join(sorted(names))}" for module, names in sorted(found.items())])


# --- the usual numbers of a training run ---------------------------------------------------------
def final_numbers(labels: Iterable[str], keys: Iterable[str] = ("loss", "val_loss"), root: tuple = ("runs",),
                  by: str = "index") -> tuple[Shown, ...]:
    """Each run's last training and validation loss (or other per-step keys): the numbers a
    history chart ends on. Runs are found by index in data[root] (or by label where `by`="label")."""
    names = {"loss": "final training loss", "val_loss": "final validation loss", "grad_norm": "last gradient norm"}
    out = []
    for i, label in enumerate(labels):
        where = label if by == "label" else i
        out += [Shown(f"{label}: {names.get(key, 'last ' + key)}", (*root, where, key, -1)) for key in keys]
    return tuple(out)


def training_script(widget, values: dict, spec, runs_say: str, train_say: str, train: str = "result = train(spec)",
                    extra_imports: Iterable[str] = (), numbers: tuple[Shown, ...] | None = None,
                    before: tuple[Step, ...] = (), after: tuple[Step, ...] = (), about: str = "") -> Script:
    """The script of a widget whose compute trains `spec`: the spec in full, then `train`."""
    return Script(
        name=widget.name, title=widget.title, values=values,
        imports=imports(spec, extra=(*(("widgets.lab.trainer:train",) if "train(" in train else ()), *extra_imports)),
        steps=(*before, Step(runs_say, f"spec = {pretty(spec)}"), Step(train_say, train), *after),
        numbers=final_numbers([r.label for r in spec.runs]) if numbers is None else numbers,
        about=about or widget.caption)
