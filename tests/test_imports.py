"""The import graph of ``src/tfscope`` has no cycles, and library code never imports a CLI module."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src"


def _graph() -> tuple[dict[str, set[str]], set[str]]:
    mods = {}
    for p in (ROOT / "tfscope").rglob("*.py"):
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = p
    packages = {n for n, p in mods.items() if p.name == "__init__.py"}
    edges: dict[str, set[str]] = {n: set() for n in mods}
    for name, p in mods.items():
        pkg = name if name in packages else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(p.read_text())):  # function-level imports count too
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges[name] |= {t for t in targets if t in mods and t != name}
    return edges, packages


def test_no_import_cycles_and_no_library_to_cli_imports():
    edges, packages = _graph()
    is_cli = lambda m: m.rsplit(".", 1)[-1].startswith("cli") or m.endswith("__main__")  # noqa: E731
    bad = sorted(f"{a} -> {b}" for a in edges for b in edges[a] if is_cli(b) and not is_cli(a))
    assert not bad, bad
    # cycles among modules (a package __init__ re-exporting its children is not a cycle of code)
    color, cycles = {}, []

    def dfs(u, stack):
        color[u] = 1
        stack.append(u)
        for v in edges[u]:
            if color.get(v) == 1:
                cyc = stack[stack.index(v):] + [v]
                if len({m for m in cyc if m not in packages}) >= 2:
                    cycles.append(" -> ".join(cyc))
            elif not color.get(v):
                dfs(v, stack)
        stack.pop()
        color[u] = 2

    for m in edges:
        if not color.get(m):
            dfs(m, [])
    assert not cycles, cycles


def test_each_task_cli_lives_in_its_package_and_the_top_level_cli_only_dispatches():
    import importlib

    from tfscope.cli import CLI_MODULES

    top = sorted(p.name for p in (ROOT / "tfscope").glob("cli*.py"))
    assert top == ["cli.py", "cli_common.py"], top  # task CLIs are tfscope/<task>/cli*.py
    edges, _ = _graph()
    assert edges["tfscope.cli"] <= {"tfscope", "tfscope.errors"}, edges["tfscope.cli"]  # dispatch by name only
    for mod in CLI_MODULES:
        assert mod.count(".") == 2 and mod.rsplit(".", 1)[1].startswith("cli"), mod
        assert callable(importlib.import_module(mod).add_cli)


def test_no_private_names_across_modules():
    """``from X import _name`` across modules is refused: a name another module needs is public (documented) or the
    caller does without it. (``import a as _b`` aliases are the caller's own private names and are allowed.)"""
    bad = []
    for p in (ROOT / "tfscope").rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "__future__":
                bad += [f"{p.relative_to(ROOT)}:{node.lineno}: {a.name} from {'.' * node.level}{node.module or ''}"
                        for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, bad


#: task packages: one per product role (the five published systems, the scanner and its zoo, and what builds on them)
TASK_PACKAGES = {"snr", "scan", "zoo", "multilabel", "moe", "tfclass", "protein", "interpret", "report", "variants",
                 "anytf"}
#: the sideways imports between task packages that are allowed (importer, imported); everything else goes through the
#: shared layers below them (io, models, train, checkpoint, metrics, sequence, executor, device)
SIDEWAYS = {
    ("scan", "zoo"),          # `tfscope scan` and the demo load the bundled zoo
    ("zoo", "scan"),          # zoos load as scan models; the zoo's calls are calibrated by scanning chr7
    ("zoo", "snr"),           # the zoo's localizers are BertSNR-task models (data, training)
    ("scan", "snr"),          # the demo trains BertSNR-task models before it scans
    ("snr", "scan"),          # `tfscope snr predict` is `tfscope scan` with --checkpoint
    ("snr", "zoo"),           # `snr train --windows` uses the zoo's genome windows
    ("scan", "protein"),      # `scan --protein`: PWMs inferred from a protein's DNA-binding domains
    ("protein", "scan"),      # ... which scan as scan models
    ("tfclass", "protein"),   # `tfclass predict --protein`
    ("scan", "report"),       # the HTML report of a scan
    ("report", "scan"),       # the report's known-site recall
    ("report", "interpret"),  # the report's attribution logos
    ("interpret", "scan"),    # `tfscope explain` on zoo models
    ("interpret", "zoo"),
    ("multilabel", "interpret"),  # TF-MoDISco on the multi-label models' attributions
    ("snr", "interpret"),     # `snr motifs`: motifs from predicted sites
    ("variants", "scan"),     # variant effects score alleles with the scan engine ...
    ("variants", "zoo"),      # ... and the zoo's calibration
    ("variants", "report"),   # `variants --report`: the report's page and tables ...
    ("variants", "interpret"),  # ... and attribution logos
    ("anytf", "scan"),        # the motif-conditioned model's calls are scan calls ...
    ("anytf", "zoo"),         # ... calibrated with the zoo's paralog groups and per-site evaluation
    ("scan", "anytf"),        # `scan --motifs`
}


def test_sideways_imports_between_task_packages_are_on_the_allow_list():
    edges, _ = _graph()
    pkg = lambda m: m.split(".")[1] if m.count(".") >= 1 else None  # noqa: E731
    bad = sorted(f"{a} -> {b}" for a in edges for b in edges[a]
                 if pkg(a) in TASK_PACKAGES and pkg(b) in TASK_PACKAGES and pkg(a) != pkg(b)
                 and (pkg(a), pkg(b)) not in SIDEWAYS)
    assert not bad, bad


def test_modules_import_on_their_own():
    """A package ``__init__`` that re-exports its children can close a loop the static graph does not see (importing
    ``tfscope.scan.known`` ran ``tfscope/scan/__init__``, which imported ``files`` -> ``report.html`` -> ``scan.known``):
    these entry points import first in a fresh interpreter."""
    import subprocess
    import sys

    for mod in ("tfscope.report.html", "tfscope.zoo.genomic", "tfscope.scan.known", "tfscope.anytf.scan"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True, text=True)
        assert r.returncode == 0, f"import {mod}: {r.stderr.strip().splitlines()[-1:]}"
