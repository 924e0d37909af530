"""Reading a training config: safe parsing, the knowledge base of knobs, the annotated report.

    safe_parse.py  untrusted text -> a mapping (yaml.safe_load or ast.literal_eval, capped)
    judging.py     the table types a knob's verdict is read from, and how a value is judged
    knobs.py       the knowledge base: each knob, its aliases, what it guards, its verdict table
    report.py      read_config: every recognised knob annotated, the flags, the batch arithmetic
"""
