"""Calibration: how often a learner is right when they say they are sure, think so, or guess.

Each answer given with a confidence is a forecast. The Brier score needs a probability per
level, so each level stands for one: "sure" 90 %, "think so" 70 %, "guessing" 30 % (about
chance on a question of three or four options). The score is the mean of (p - outcome)^2
over those answers: 0 is perfect, 0.25 is what always saying 50 % earns.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from app.learning.quiz_record import CONFIDENCES

STATED = {"sure": 0.9, "think": 0.7, "guess": 0.3}
LABELS = {"sure": "Sure", "think": "I think so", "guess": "Guessing"}


@dataclass(frozen=True)
class Level:
    confidence: str
    answers: int
    correct: int

    @property
    def label(self) -> str:
        return LABELS[self.confidence]

    @property
    def stated(self) -> float:
        return STATED[self.confidence]

    @property
    def share(self) -> float | None:
        """The share answered correctly (None without answers)."""
        return self.correct / self.answers if self.answers else None

    def as_dict(self) -> dict:
        return {"confidence": self.confidence, "label": self.label, "stated": self.stated,
                "answers": self.answers, "correct": self.correct, "share_correct": self.share}


@dataclass(frozen=True)
class Calibration:
    levels: tuple[Level, ...]
    brier: float | None  # None without any answer given with a confidence

    @property
    def answers(self) -> int:
        return sum(level.answers for level in self.levels)

    def as_dict(self) -> dict:
        return {"levels": [level.as_dict() for level in self.levels], "brier": self.brier,
                "answers": self.answers, "stated_probability": dict(STATED)}


def calibration(answers: Iterable[tuple[str | None, bool]]) -> Calibration:
    """From (confidence, correct) pairs; answers without a confidence are left out."""
    counts = {c: [0, 0] for c in CONFIDENCES}
    squared = 0.0
    for confidence, correct in answers:
        if confidence not in counts:
            continue
        counts[confidence][0] += 1
        counts[confidence][1] += int(bool(correct))
        squared += (STATED[confidence] - float(bool(correct))) ** 2
    levels = tuple(Level(c, n, k) for c, (n, k) in counts.items())
    total = sum(level.answers for level in levels)
    return Calibration(levels, squared / total if total else None)
