"""Command line: `python -m app check [--fast]` checks the course content for authors;
`python -m app bench` runs the benchmark (app/bench.py)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def cmd_check(args) -> int:
    from app.check.course import check_content
    from app.settings import Settings

    content_dir = Path(args.content_dir) if args.content_dir else Settings.from_env().content_dir
    started = time.monotonic()
    log = (lambda line: print(line, flush=True)) if not args.quiet else None
    if not args.fast and log:
        log("running every predict question's widget (use --fast to skip) ...")
    cache_dir = None if args.no_cache else Settings.from_env().database_path.parent / "check-runs"
    report = check_content(content_dir, run_predictions=not args.fast, log=log, cache_dir=cache_dir)
    if report.problems:
        print(f"content check: {len(report.problems)} problem{'s' if len(report.problems) != 1 else ''} "
              f"in {content_dir}:", file=sys.stderr)
        for problem in report.problems:
            print(f"  - {problem}", file=sys.stderr)
        print("See content/AUTHORING.md for the format.", file=sys.stderr)
        return 1
    skipped = " (predict checks skipped: --fast)" if args.fast else (
        f" ({report.predictions} predict checks ran on real widgets)" if report.predictions else "")
    print(report.summary() + skipped + f" [{time.monotonic() - started:.1f} s]")
    return 0


def cmd_bench(args) -> int:
    from app import bench

    return int(bench.main(args.rest) or 0)


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
    bench = sub.add_parser("bench", help="run the benchmarks (app/bench.py)")
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="arguments passed to app.bench.main")
    bench.set_defaults(func=cmd_bench)
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:  # every option after "bench" (--quick, --repeats N) is app.bench's
        return cmd_bench(argparse.Namespace(rest=argv[1:]))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
