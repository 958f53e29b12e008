"""One CLI vocabulary (docs/cli.md): the same meaning has the same option in every subcommand."""

import argparse

from tfscope.cli import build_parser

# spellings replaced by the vocabulary of docs/cli.md
RETIRED = {"--fasta", "--bedgraph", "--bigwig", "--max-seconds", "--time-budget", "--time", "--budget", "--model-dir",
           "--output", "--ckpt", "--cpu", "--gpu", "--threshold-file"}


def _commands(parser, prefix=()):
    """Yield (command words, parser) of every leaf subcommand."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield prefix, parser
        return
    seen = set()
    for name, p in subs[0].choices.items():
        if id(p) in seen:  # aliases (tfscope family = tfscope tfclass)
            continue
        seen.add(id(p))
        yield from _commands(p, (*prefix, name))


def test_one_vocabulary_everywhere():
    leaves = list(_commands(build_parser()))
    assert len(leaves) >= 20
    for words, p in leaves:
        opts = {s: a for a in p._actions for s in a.option_strings}
        cmd = " ".join(words)
        assert not RETIRED & set(opts), (cmd, RETIRED & set(opts))
        if "--json" in opts:  # always a path ('-' = stdout), never a flag
            assert opts["--json"].nargs is None and not isinstance(opts["--json"], argparse._StoreTrueAction), cmd
        if "--max-minutes" in opts:
            assert opts["--max-minutes"].type is float, cmd
        if "--checkpoint" in opts:
            assert opts["--checkpoint"].dest == "checkpoint", cmd
        if "--model" in opts:  # an architecture or method name, never a directory
            assert opts["--model"].choices, cmd
        if "--device" in opts:
            assert opts["--device"].default == "auto", cmd
        for a in p._actions:  # no option spells a time budget in seconds
            assert not any(s.endswith("-seconds") for s in a.option_strings), (cmd, a.option_strings)


def test_family_is_an_alias_of_tfclass():
    a = build_parser().parse_args(["family", "predict", "m.jaspar", "--json", "-"])
    b = build_parser().parse_args(["tfclass", "predict", "m.jaspar", "--json", "-"])
    assert a.func is b.func and a.json == b.json == "-"


def test_snr_predict_is_an_alias_of_scan():
    a = build_parser().parse_args(["snr", "predict", "x.fa", "--checkpoint", "c", "--tracks", "tsv"])
    b = build_parser().parse_args(["scan", "x.fa", "--checkpoint", "c", "--tracks", "tsv"])
    assert a.func is b.func and vars(a).keys() >= {"fasta", "checkpoint", "tracks", "threshold", "out", "report"}
    assert {k: v for k, v in vars(a).items() if k not in ("command", "snr_cmd")} == \
        {k: v for k, v in vars(b).items() if k != "command"}
