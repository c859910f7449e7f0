#!/usr/bin/env python
"""Render `snakemake --rulegraph` as a Mermaid flowchart and refresh it in docs/outputs.md.

python tools/rulegraph.py           # rewrite the block between the markers of docs/outputs.md
python tools/rulegraph.py --check   # exit 1 if the graph in docs/outputs.md is out of date
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- rulegraph:begin -->", "<!-- rulegraph:end -->"


def dot_rulegraph() -> str:
    snakemake = Path(sys.executable).with_name("snakemake")
    return subprocess.run(
        [str(snakemake), "--rulegraph", "--configfile", "config/tests.yaml", "--quiet", "all"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def mermaid(dot: str) -> str:
    nodes = dict(re.findall(r'^\s*(\d+)\[label = "([^"]+)"', dot, flags=re.M))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", dot, flags=re.M)
    lines = ["```mermaid", "flowchart TB"]
    lines += [
        f"    {nodes[a]} --> {nodes[b]}"
        for a, b in sorted(edges, key=lambda e: (nodes[e[0]], nodes[e[1]]))
    ]
    lines.append("```")
    return "\n".join(lines)


def main() -> int:
    readme = REPO / "docs" / "outputs.md"
    text = readme.read_text()
    block = f"{BEGIN}\n{mermaid(dot_rulegraph())}\n{END}"
    new = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S)
    if "--check" in sys.argv:
        if new != text:
            print("docs/outputs.md rule graph is out of date: run python tools/rulegraph.py")
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
