"""Command line.

    python -m app check [--fast]          check the course content (for authors)
    python -m app bench [...]             the benchmark (app/tools/bench/speed.py)
    python -m app bench --load [...]      the class-load benchmark (app/tools/bench/load.py)
    python -m app precompute [...]        fill the result cache (app/serving/precompute/)
    python -m app cache stats|export FILE|import FILE|clear   the result cache (COURSE_CACHE_URL)
    python -m app exercises DIR [--overwrite]   the coding exercises as files + pytest tests
    python -m app class create NAME|list|token ID   classes for teaching (app/tools/classes.py)
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def cmd_check(args) -> int:
    from app.tools.check.course import check_content
    from app.settings import Settings

    settings = Settings.from_env()
    settings.configure_lab()  # the predict runs train as served runs do: device, corpus, threads
    content_dir = Path(args.content_dir) if args.content_dir else settings.content_dir
    started = time.monotonic()
    log = (lambda line: print(line, flush=True)) if not args.quiet else None
    if not args.fast and log:
        log("running every predict question's widget (use --fast to skip) ...")
    cache_dir = None if args.no_cache else settings.database_path.parent / "check-runs"
    report = check_content(content_dir, run_predictions=not args.fast, log=log, cache_dir=cache_dir,
                           settings=settings)
    for warning in report.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    if report.problems:
        print(f"content check: {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''} "
              f"in {content_dir}:", file=sys.stderr)
        for problem in report.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("See content/AUTHORING.md for the format.", file=sys.stderr)
        return 1
    skipped = " (predict checks skipped: --fast)" if args.fast else (
        f" ({report.predictions} predict checks ran on real widgets)" if report.predictions else "")
    print(report.skills_line())
    print(report.summary() + skipped + f" [{time.monotonic() - started:.1f} s]")
    return 0


def cmd_bench(args) -> int:
    if "--load" in args.rest:
        from app.tools.bench import load as bench_load

        return int(bench_load.main([a for a in args.rest if a != "--load"]) or 0)
    from app.tools.bench import speed as bench

    return int(bench.main(args.rest) or 0)


def cmd_precompute(args) -> int:
    from app.serving.precompute import cli

    return cli.main(args.rest)


def cmd_cache(args) -> int:
    from app.serving.cache import export_cache, import_cache, open_cache
    from app.settings import Settings

    settings = Settings.from_env()
    cache = open_cache(settings.cache_url, settings.cache_bytes)
    try:
        if args.action == "stats":
            stats = cache.stats()
            print(f"{stats['url']}: {stats['entries']} results, {stats['bytes'] / 2**20:.1f} MiB "
                  f"of {stats['max_bytes'] / 2**20:.0f} MiB")
        elif args.action == "export":
            started = time.monotonic()
            count = export_cache(cache, Path(args.file))
            print(f"exported {count} results to {args.file} ({Path(args.file).stat().st_size / 2**20:.1f} MiB, "
                  f"{time.monotonic() - started:.1f} s)")
        elif args.action == "import":
            count = import_cache(cache, Path(args.file))
            print(f"imported {count} results from {args.file} into {settings.cache_url}")
        elif args.action == "clear":
            cache.clear()
            print(f"cleared {settings.cache_url}")
    finally:
        cache.close()
    return 0


def cmd_exercises(args) -> int:
    from app.exercises.export import main as export_main

    return export_main(args.dir, args.overwrite)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description="Course tools.")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check", help="check the course content (exit 1 on any problem)")
    check.add_argument("--fast", action="store_true", help="skip running predict questions' widgets")
    check.add_argument("--content-dir", help="the content directory (default: content/, or $COURSE_CONTENT_DIR)")
    check.add_argument("--no-cache", action="store_true",
                       help="run every predict widget again instead of reusing recorded runs (var/check-runs)")
    check.add_argument("--quiet", action="store_true", help="print only problems and the summary")
    check.set_defaults(func=cmd_check)
    bench = sub.add_parser("bench", help="run the benchmarks (app/tools/bench/speed.py)")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to app.tools.bench.speed.main")
    bench.set_defaults(func=cmd_bench)
    pre = sub.add_parser("precompute", help="fill the result cache with placements and one-control moves")
    pre.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to app.serving.precompute.cli.main")
    pre.set_defaults(func=cmd_precompute)
    cache = sub.add_parser("cache", help="the result cache named by COURSE_CACHE_URL")
    cache.add_argument("action", choices=["stats", "export", "import", "clear"])
    cache.add_argument("file", nargs="?", help="the file to export to or import from (gzip JSON lines)")
    cache.set_defaults(func=cmd_cache)
    exercises = sub.add_parser("exercises", help="write the coding exercises (starter code and pytest tests) into DIR")
    exercises.add_argument("dir", help="the directory to write into (created if missing)")
    exercises.add_argument("--overwrite", action="store_true", help="replace starter modules you may have edited")
    exercises.set_defaults(func=cmd_exercises)
    sub.add_parser("class", help="create and list classes (python -m app class --help)")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every option after "bench" (--quick, --repeats N) is app.tools.bench.speed's
        return cmd_bench(argparse.Namespace(rest=argv[1:]))
    if argv[:1] == ["class"]:  # its own sub-commands and options (app/tools/classes.py)
        from app.tools.classes import main as classes_main

        return classes_main(argv[1:])
    if argv[:1] == ["precompute"]:  # likewise for precompute's own options
        return cmd_precompute(argparse.Namespace(rest=argv[1:]))
    args = parser.parse_args(argv)
    if args.func is cmd_cache and args.action in ("export", "import") and not args.file:
        parser.error(f"cache {args.action} needs a FILE")
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
