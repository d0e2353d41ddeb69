"""``python -m bench [--quick]``: every benchmark, each printing its table; results in bench/results.md."""

from __future__ import annotations

import argparse

from bench import browser, locomo, pages, path, persona_chats, scale, write_section


def main() -> None:
    parser = argparse.ArgumentParser(description="Run every benchmark: memory, reply path, pages, browser.")
    parser.add_argument("--quick", action="store_true", help="a subset of each (a minute or two)")
    args = parser.parse_args()
    suffix = "-quick" if args.quick else ""
    modules = (
        ("persona-chats", persona_chats),
        ("locomo", locomo),
        ("scale", scale),
        ("path", path),
        ("pages", pages),
        ("browser", browser),
    )
    for name, module in modules:
        markdown = module.run(quick=args.quick)
        print(markdown, flush=True)
        write_section(name + suffix, markdown)


if __name__ == "__main__":
    main()
