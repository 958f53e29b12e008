"""One CLI vocabulary (docs/cli.md): the same meaning has the same option in every subcommand."""

import argparse

from tfscope.cli import build_parser

# spellings replaced by the vocabulary of docs/cli.md
RETIRED = {"--fasta", "--bedgraph", "--bigwig", "--max-seconds", "--time-budget", "--time", "--budget", "--model-dir",
           "--output", "--ckpt", "--cpu", "--gpu", "--threshold-file"}

#: one concept, one spelling: the second spellings that are refused, by the concept's one option (issue 42)
CONCEPTS = {
    "--workers": {"--threads", "--jobs", "--processes", "--n-jobs", "--cores"},  # processes sharing the work
    "--windows": {"--genomic-background", "--multilabel", "--windows-table", "--background"},  # a windows table
}


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
            assert "--allow-unverified" in opts, cmd  # every checkpoint-loading command (docs/cli.md, "Trust")
        if "--model" in opts:  # an architecture or method name, never a directory
            assert opts["--model"].choices, cmd
        if "--device" in opts:
            assert opts["--device"].default == "auto", cmd
        for one, second in CONCEPTS.items():
            assert not second & set(opts), f"{cmd}: {sorted(second & set(opts))} is spelled {one} (docs/cli.md)"
        if "--windows" in opts:
            assert opts["--windows"].help and "windows" in opts["--windows"].help, cmd
        if "--out" in opts:  # one -o/--out convention on every command
            assert "-o" in opts and opts["-o"] is opts["--out"], cmd
        for a in p._actions:  # no option spells a time budget in seconds
            assert not any(s.endswith("-seconds") for s in a.option_strings), (cmd, a.option_strings)


# commands in which torch never runs (no --device needed); every other command trains or predicts with torch
TORCH_FREE = {"data windows", "zoo list", "tfclass build", "tfclass evaluate", "protein domains"}


def test_every_command_has_json_help_and_device():
    """Every leaf command writes a JSON summary (--json PATH), every option says what it does, and every command
    in which torch runs takes --device (docs/cli.md)."""
    leaves = list(_commands(build_parser()))
    names = {" ".join(w) for w, _ in leaves}
    assert TORCH_FREE <= names  # the exemptions name real commands
    for words, p in leaves:
        cmd = " ".join(words)
        opts = {s: a for a in p._actions for s in a.option_strings}
        assert "--json" in opts, f"{cmd}: no --json PATH"
        assert ("--device" in opts) != (cmd in TORCH_FREE), f"{cmd}: --device where torch runs, only there"
        for a in p._actions:
            if isinstance(a, argparse._HelpAction):
                continue
            assert a.help and a.help.strip(), f"{cmd}: {a.option_strings or a.dest} has no help text"
            assert "``" not in a.help, f"{cmd}: RST quoting in the help of {a.option_strings}"


def test_help_shows_defaults_without_noise():
    parser = build_parser()
    top = parser.format_help()
    assert "``" not in top and "per-TF" not in top
    for words, p in _commands(parser):
        text = " ".join(p.format_help().split())  # argparse wraps lines
        cmd = " ".join(words)
        assert "(default: None)" not in text and "(default: False)" not in text, cmd
        assert text.count("(default:") <= sum(1 for a in p._actions if a.option_strings and a.help), cmd
    scan = dict((" ".join(w), p) for w, p in _commands(parser))["scan"]
    text = " ".join(scan.format_help().split())
    assert "(default: tfscope-scan.bed)" in text and "chr7" in text and "validation-tuned threshold)" not in text
    demo = " ".join(dict((" ".join(w), p) for w, p in _commands(parser))["demo"].format_help().split())
    assert "(default: all bundled)" in demo and "(default: 4)" in demo


def test_plural():
    from tfscope.cli_common import plural

    assert plural(1, "sequence") == "1 sequence" and plural(2, "sequence") == "2 sequences"
    assert plural(0, "TF class", "TF classes") == "0 TF classes" and plural(12345, "site") == "12,345 sites"


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
