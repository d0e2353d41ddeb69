"""``python -m bench [--quick]``: every benchmark, each printing its table, then one summary
table of the headline figures; results in bench/results.md.

Each benchmark runs in a process of its own, as the app runs in its own: what one leaves in
memory (LoCoMo's conversations, the stores of the scale benchmark) does not weigh on the next
one's timings."""

from __future__ import annotations

import argparse
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

from bench import browser, heldout, locomo, machine, pages, path, persona_chats, scale, summary, write_section


def main() -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark: memory, reply path, pages, browser.")
    parser.add_argument("--quick", action="store_true", help="a subset of each (a few minutes)")
    args = parser.parse_args()
    suffix = "-quick" if args.quick else ""
    modules = (
        ("persona-chats", persona_chats),
        ("locomo", locomo),
        ("heldout", heldout),
        ("scale", scale),
        ("path", path),
        ("pages", pages),
        ("browser", browser),
    )
    figures = []
    for name, module in modules:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            report = pool.submit(module.run, quick=args.quick).result()
        print(report.markdown, flush=True)
        write_section(name + suffix, report.markdown)
        figures += report.figures
    flags = " --quick" if args.quick else ""
    table = (
        f"## Summary (`python -m bench{flags}`, i.e. `make bench`)\n\n"
        + summary(figures)
        + f"\n\n{machine()}; details in the sections below.\n"
    )
    print(table)
    write_section("summary" + suffix, table, first=True)


if __name__ == "__main__":
    main()
