"""The `xalign` command: pretrain | build | run | check | bench | data.

    xalign build --preset ci                  execute changed notebooks, render _build/html
    xalign build --preset book [--stale]      render the stored book runs (book/runs/book/); run missing/stale ones
    xalign run 00_measuring_alignment -p langs '["en","fi","tr"]' -p seed 1
    xalign check --preset ci [--update]       compare metrics with tests/reference/<preset>/
    xalign pretrain --preset ci               train the base model, write checkpoints/ci/
    xalign pretrain --preset ci --decoder     train the small causal-LM decoder, write checkpoints/ci-decoder/
    xalign data                               list the vendored data sets, licences, splits
    xalign bench                              run the benchmarks in benchmarks/
    xalign fmt [--check]                      notebooks in their committed form (no outputs, stable ids)
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml


def parse_settings(settings: list[str]) -> dict[str, dict]:
    """`--set model.hidden_size=96 --set train.corpus=disjoint` -> {"model": {...}, "train": {...}} (YAML values)."""
    out: dict[str, dict] = {"model": {}, "train": {}}
    for item in settings or []:
        name, sep, value = item.partition("=")
        group, dot, field = name.partition(".")
        if not sep or not dot or group not in out:
            raise ValueError(f"--set {item!r}: write model.FIELD=VALUE or train.FIELD=VALUE")
        from .build import parse_value

        out[group][field] = parse_value(value)
    return out


def _pretrain(args) -> int:
    from .cache import atomic_dir
    from .checkpoints import shipped_checkpoint
    from .presets import get_preset
    from .pretrain import pretrain

    preset = get_preset(args.preset).variant(args.corpus or "comparable")
    changes = parse_settings(args.set)
    if args.steps:
        changes["train"]["steps"] = args.steps
    preset = preset.with_changes(**changes)
    arch = "decoder" if args.decoder else "encoder"
    out = Path(args.out) if args.out else shipped_checkpoint(preset, args.seed, arch)
    resume = out.parent / f".resume-{out.name}"
    resume.mkdir(parents=True, exist_ok=True)
    atomic_dir(out, lambda tmp: pretrain(preset, args.seed, tmp, resume_dir=resume, arch=arch))
    if resume.exists() and not any(resume.iterdir()):
        resume.rmdir()
    print(f"wrote {out}")
    return 0


def _probe(args) -> int:
    from . import probes

    if args.action == "run":
        for name in args.names:
            print(f"probe {name}: {probes.run_probe(name, args.minutes, args.seed)}", flush=True)
    elif args.action == "tokenizers":
        print(probes.tokenizer_table(probes.tokenizer_study(seed=args.seed)))
    else:
        probes.evaluate_probes(args.names or None)
    return 0


def _verdicts(args) -> int:
    from .build import notebooks
    from .verdicts import table

    print(table(args.notebook or notebooks(), args.a, args.b))
    return 0


def _build(args) -> int:
    from .build import build

    build(args.preset, only=args.notebook or None, render=not args.no_render, force=args.force, jobs=args.jobs,
          stale=args.stale, stored_only=args.stored_only)
    return 0


def _run(args) -> int:
    from .build import parse_value, run

    overrides = {}
    for name, value in args.param or []:
        try:
            overrides[name] = parse_value(value)
        except yaml.YAMLError:
            raise ValueError(f"parameter {name}: {value!r} is not valid YAML (quote lists like '[\"en\",\"fi\"]')") from None
    run(args.notebook, overrides, Path(args.out) if args.out else None)
    return 0


def _check(args) -> int:
    from .build import check

    return check(args.preset, update=args.update)


def _data(args) -> int:
    from . import data

    for name, ds in data.DATASETS.items():
        rows = data.registry()[name]
        print(f"{name:<8} {len(rows):>3} files  {ds.licence:<22} {ds.description}")
    print("\nLibreOffice-help paragraphs per split (deduplicated):")
    print(f"  {'lang':<5}" + "".join(f"{s:>10}" for s in data.SPLITS))
    from .languages import available

    for lang in available("lohelp"):
        print(f"  {lang:<5}" + "".join(f"{len(data.corpus(lang, s)[1]):>10}" for s in data.SPLITS))
    return 0


def _bench(args) -> int:
    root = Path(__file__).resolve().parent.parent / "benchmarks"
    for script in sorted(root.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        subprocess.run([sys.executable, str(script)], check=True)
    return 0


def _fmt(args) -> int:
    from .nbfmt import format_all

    root = Path(__file__).resolve().parent.parent / "notebooks"
    paths = [Path(p) for p in args.notebooks] or sorted(root.glob("*.ipynb"))
    changed = format_all(paths, check=args.check)
    for p in changed:
        print(f"{'not in normal form' if args.check else 'formatted'}: {p.name}")
    if args.check and changed:
        print("run `xalign fmt` to fix", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="xalign", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="pretrain a preset's base model and write checkpoints/<preset>/")
    p.add_argument("--preset", default="ci")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="override the preset's step budget")
    p.add_argument("--corpus", default=None, choices=["comparable", "disjoint", "matched"],
                   help="pretraining corpus variant (disjoint: each page in one language only)")
    p.add_argument("--set", action="append", metavar="GROUP.FIELD=VALUE",
                   help="change a config field, e.g. --set model.hidden_size=96 (repeatable)")
    p.add_argument("--decoder", action="store_true",
                   help="train the Llama-shaped causal-LM decoder instead (default out: checkpoints/<preset>-decoder/)")
    p.add_argument("--out", default=None, help="output directory (default: checkpoints/<preset>/)")
    p.set_defaults(func=_pretrain)
    p = sub.add_parser("probe", help="train / measure candidate pretraining recipes at equal compute")
    p.add_argument("action", choices=["run", "evaluate", "tokenizers"])
    p.add_argument("names", nargs="*", help="candidate names (xalign_utils.probes.CANDIDATES)")
    p.add_argument("--minutes", type=float, default=30.0, help="training minutes per probe (one thread)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_probe)
    p = sub.add_parser("build", help="execute the notebooks (papermill) and render the book")
    p.add_argument("--preset", default="ci")
    p.add_argument("--notebook", action="append", help="only this notebook (repeatable)")
    p.add_argument("--no-render", action="store_true", help="execute only")
    p.add_argument("--force", action="store_true", help="re-run notebooks even if unchanged")
    p.add_argument("--stale", action="store_true",
                   help="stored presets (book): recompute the chapters whose inputs changed since their stored run")
    p.add_argument("--stored-only", action="store_true",
                   help="stored presets (book): render the stored runs, execute nothing (stale ones under a banner)")
    p.add_argument("--jobs", type=int, default=None,
                   help="notebooks executed at once (default: $XALIGN_JOBS, else one per core, at most 4)")
    p.set_defaults(func=_build)
    p = sub.add_parser("run", help="re-run one notebook with other parameters into its own folder")
    p.add_argument("notebook", help="notebook stem, e.g. 00_measuring_alignment")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="parameter (YAML value)")
    p.add_argument("--out", default=None, help="output folder (default: _build/runs/<stem>-<hash>/)")
    p.set_defaults(func=_run)
    p = sub.add_parser("check", help="compare metrics.json of every notebook with tests/reference/<preset>/")
    p.add_argument("--preset", default="ci")
    p.add_argument("--update", action="store_true", help="rewrite the references and print what changed")
    p.set_defaults(func=_check)
    p = sub.add_parser("verdicts", help="the chapters' verdicts at two presets side by side, and which flipped")
    p.add_argument("a", nargs="?", default="ci")
    p.add_argument("b", nargs="?", default="book")
    p.add_argument("--notebook", action="append", help="only this notebook (repeatable)")
    p.set_defaults(func=_verdicts)
    p = sub.add_parser("data", help="list data sets, licences and split sizes")
    p.set_defaults(func=_data)
    p = sub.add_parser("fmt", help="put notebooks in their committed normal form (no outputs, stable cell ids)")
    p.add_argument("notebooks", nargs="*", help="notebook files (default: notebooks/*.ipynb)")
    p.add_argument("--check", action="store_true", help="only report notebooks not in normal form (exit 1)")
    p.set_defaults(func=_fmt)
    p = sub.add_parser("bench", help="run the benchmarks (each prints a ratio)")
    p.set_defaults(func=_bench)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, RuntimeError) as e:  # our one-line errors, never a deep traceback
        print(f"xalign: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: a build has stopped its workers (`build._stop_workers`)
        print("xalign: interrupted" + ("; what finished is kept (chapters, and seeds of a stored preset), so the same "
                                       "command resumes there" if args.func is _build else ""), file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
