"""The author's checker behind `python -m app check`, in these parts:

    course.py       loads every chapter and collects problems (format, widgets, links)
    quizzes.py      the rules for questions: hints and recipes, kinds, transfer share, repeats
    spoilers.py     predict questions answered by an earlier chapter's run or claim
    hint_cues.py    hints that name an option (a shared number, phrase or direction)
    links.py        internal links: chapters, anchors, glossary terms, widgets, pages
    predictions.py  every predict question's check, evaluated on the widget's real run
    run_cache.py    recorded runs of predict widgets (var/check-runs), keyed by all they depend on

The safe expression language the predict checks are written in is app/course/expr.py: a
chapter's quizzes are parsed with it while the chapter loads.
"""
