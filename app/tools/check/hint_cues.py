"""Hints that name an option, found automatically.

A hint is the first tier of help: it names what to think about, never which way. For a
predict question that matters most, since a hint that leans towards the key turns the
prediction into reading. The detector looks for three cues, each measured against the
question itself (what the question already says cannot give anything away):

- a number the hint shares with an option (single digits excepted: "two runs", "step 1");
- a run of three words the hint shares with an option, at least two of them content words;
- a direction: the hint uses words of only one side of a comparison (higher, not lower;
  faster, not slower; ...) and the correct option uses that side too. A neutral hint asks
  "higher or lower?" or names the quantity without a direction at all.

It is a heuristic with a known bias towards false alarms: a hint it flags is rewritten until
it names what to compare rather than how the comparison comes out.
"""
from __future__ import annotations

import re

MATH_RE = re.compile(r"\$[^$]*\$")
NUMBER_RE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
WORD_RE = re.compile(r"[a-z][a-z'-]*|\d+(?:[.,]\d+)*")
STOPWORDS = frozenset("""a an the of to in on at by for from with and or but not no is are was were be been
being it its this that these those as if than then so do does did what which who how why when where
each every any all one your you their there they them can could would should will may might must has
have had about into over under after before between through only just also up down out off""".split())
# Each pair: two sides of one comparison. A hint that uses one side only leans that way.
DIRECTIONS = (
    ({"higher", "more", "larger", "bigger", "greater", "above", "increase", "increases", "grow", "grows",
      "rise", "rises", "longer", "further", "farther"},
     {"lower", "less", "fewer", "smaller", "below", "decrease", "decreases", "shrink", "shrinks", "fall",
      "falls", "shorter"}),
    ({"faster", "sooner", "earlier", "quicker"}, {"slower", "later"}),
    ({"better", "helps", "gains"}, {"worse", "hurts", "harms"}),
)


def _numbers(text: str) -> set[str]:
    found = {n.replace(",", "").rstrip(".") for n in NUMBER_RE.findall(text)}
    return {n for n in found if len(n.replace(".", "")) > 1 or "." in n}


def _words(text: str) -> list[str]:
    return WORD_RE.findall(MATH_RE.sub(" ", text.lower()))


def _phrases(text: str) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i:i + 3]) for i in range(len(words) - 2)
            if sum(w not in STOPWORDS for w in words[i:i + 3]) >= 2}


def hint_cue(quiz) -> str | None:
    """Why the question's hint gives an option away, or None when it looks neutral."""
    hint, question = quiz.hint, quiz.question
    if not hint:
        return None
    asked_numbers, asked_phrases = _numbers(question), _phrases(question)
    hint_numbers, hint_phrases = _numbers(hint) - asked_numbers, _phrases(hint) - asked_phrases
    for option in quiz.options:
        shared = hint_numbers & _numbers(option.text)
        if shared:
            return f"the hint gives the number {sorted(shared)[0]}, which option {option.index + 1} states"
        phrase = sorted(hint_phrases & _phrases(option.text))
        if phrase:
            return f"the hint and option {option.index + 1} share the words \"{' '.join(phrase[0])}\""
    hint_words = set(_words(hint)) - set(_words(question))
    key_words = {w for o in quiz.options if o.correct for w in _words(o.text)}
    for up, down in DIRECTIONS:
        for side, other in ((up, down), (down, up)):
            leaning = hint_words & side
            if leaning and not hint_words & other and key_words & side:
                return (f"the hint says \"{sorted(leaning)[0]}\" and only that direction, as the correct option "
                        f"does; ask about the quantity without naming which way it goes")
    return None
