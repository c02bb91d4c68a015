#!/usr/bin/env python3
"""Checks every intra-repository link of the Markdown files: the file (or directory) a link
names exists, and the anchor (`#...`) names a heading of that file (GitHub's rules: lower
case, punctuation dropped, spaces as `-`, repeats numbered). External links are not checked.
Also checks `README.md#anchor` / `docs/X.md#anchor` references in Rust sources (error
hints). Exits 1 listing every broken link."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SKIP = {".git", "target", "node_modules", ".tessera"}


def slug(heading):
    h = heading.strip().lower()
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path, cache={}):
    if path not in cache:
        found, seen, fence = set(), {}, False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith("```"):
                    fence = not fence
                if fence:
                    continue
                m = re.match(r"^(#+)\s+(.*)", line)
                if m:
                    s = slug(m.group(2))
                    n = seen.get(s, 0)
                    seen[s] = n + 1
                    found.add(s if n == 0 else f"{s}-{n}")
                for a in re.findall(r'<a (?:name|id)="([^"]+)"', line):
                    found.add(a)
        cache[path] = found
    return cache[path]


def check(source, target, problems, where):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target):
        return  # http:, https:, mailto: ...
    file, _, anchor = target.partition("#")
    path = os.path.normpath(os.path.join(os.path.dirname(source), file)) if file else source
    if not os.path.exists(path):
        problems.append(f"{where}: {target}: {os.path.relpath(path, ROOT)} does not exist")
        return
    if anchor and path.endswith(".md") and anchor not in anchors(path):
        problems.append(f"{where}: {target}: no heading `#{anchor}` in {os.path.relpath(path, ROOT)}")


def main():
    problems, links = [], 0
    for dirpath, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP]
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, ROOT)
            if name.endswith(".md"):
                fence = False
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        if line.startswith("```"):
                            fence = not fence
                        if fence:
                            continue
                        for target in re.findall(r"\]\(([^)\s]+)\)", line):
                            links += 1
                            check(path, target, problems, f"{rel}:{n}")
            elif name.endswith(".rs"):
                with open(path, encoding="utf-8") as f:
                    for n, line in enumerate(f, 1):
                        for target in re.findall(r"\b((?:README|docs/[A-Z_]+)\.md#[\w-]+)", line):
                            links += 1
                            check(os.path.join(ROOT, "x"), target, problems, f"{rel}:{n}")
    for p in problems:
        print(p)
    print(f"{links} links checked, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
