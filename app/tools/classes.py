"""`python -m app class ...`: classes from the command line, against the server's database.

    python -m app class create NAME [--base-url URL]   a new class: prints its join link and
                                                        its teacher link (shown only now)
    python -m app class list                            the classes, with their member counts
    python -m app class token CLASS_ID [--base-url URL] a new teacher link (the old one stops)

Run it from the repository root with the server's COURSE_DB (default var/progress.sqlite3).
The base URL is where learners reach the server (default http://127.0.0.1:8000).
"""
from __future__ import annotations

import argparse
import time

from app.learning.classes import ClassError
from app.learning.progress import ProgressStore
from app.settings import Settings

DEFAULT_BASE = "http://127.0.0.1:8000"


def links(base: str, class_id: str, token: str) -> tuple[str, str]:
    base = base.rstrip("/")
    return f"{base}/classes/{class_id}/join", f"{base}/teach/{class_id}?token={token}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m app class", description="Classes for teaching with the course.")
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="create a class and print its links")
    create.add_argument("name", help="the class's name, as learners see it (1 to 80 characters)")
    create.add_argument("--base-url", default=DEFAULT_BASE, help=f"where learners reach the server ({DEFAULT_BASE})")
    sub.add_parser("list", help="the classes and how many learners joined each")
    token = sub.add_parser("token", help="replace a class's teacher link (the old one stops working)")
    token.add_argument("class_id")
    token.add_argument("--base-url", default=DEFAULT_BASE)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    store = ProgressStore(settings.database_path)  # migrates the file first, as the server does
    try:
        if args.action == "create":
            info, secret = store.create_class(args.name)
            join, teach = links(args.base_url, info.id, secret)
            print(f"class {info.name!r} created in {settings.database_path}")
            print(f"  learners join with:  {join}")
            print(f"  your teacher link:   {teach}")
            print("  (keep the teacher link to yourself: it is shown only now; `python -m app class token "
                  f"{info.id}` makes a new one)")
        elif args.action == "list":
            for info, members in store.all_classes():
                created = time.strftime("%Y-%m-%d %H:%M", time.localtime(info.created_at))
                print(f"{info.id}  {members:4d} learners  created {created}  {info.name}")
        else:
            secret = store.new_teacher_token(args.class_id)
            print(f"new teacher link: {links(args.base_url, args.class_id, secret)[1]}")
    except ClassError as exc:
        parser.error(str(exc))
    finally:
        store.close()
    return 0
