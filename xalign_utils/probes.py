"""Pretraining probes: candidate base-model recipes trained at equal compute and measured with the
book's protocol, so choosing the shipped recipe is a measured decision (issue "Base model II").

Run outside CI (each probe takes its budget of CPU time, one thread):

    xalign probe run base --minutes 30          # train one candidate (resumable)
    xalign probe evaluate                       # measure every trained probe -> checkpoints/probes/

"Equal compute" is equal training time on one CPU thread: a probe first times 30 steps of its own
recipe and sets its step count so that the training steps fill the budget (the held-out checks
during training are not counted). The trained weights stay in the cache (`XALIGN_CACHE_DIR/probes`);
their training logs and the measured table are written to `checkpoints/probes/`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from transformers import XLMRobertaForMaskedLM

from .cache import atomic_dir, atomic_write_text, cache_dir
from .checkpoints import CHECKPOINTS
from .models import encoder_config
from .presets import Preset, get_preset
from .pretrain import MLMBatches, mlm_loss, preset_tokenizer, pretrain
from .train import seed_everything, train_loop

PROBE_DIR = CHECKPOINTS / "probes"

# Candidates from the literature, each a change to the ci recipe (2 layers x 128, dropout 0, 8k Unigram).
CANDIDATES: dict[str, dict] = {
    "base": {},
    # depth over width at about the same body size (K et al. 2020: depth matters for cross-lingual transfer)
    "deep-4x96": {"model": {"hidden_size": 96, "num_hidden_layers": 4, "num_attention_heads": 2, "intermediate_size": 384}},
    # regularisation against memorising 2.6M tokens
    "dropout-0.1": {"model": {"dropout": 0.1}},
    # a smaller model (Dufter & Schuetze 2020: overparameterisation hurts multilinguality)
    "narrow-2x64": {"model": {"hidden_size": 64, "intermediate_size": 256}},
    # tokenizer: characters beyond 99.95% coverage as byte pieces, slots freed for longer pieces
    "coverage-8k": {"model": {"character_coverage": 0.9995, "byte_fallback": True}},
    # tokenizer: a 16k vocabulary (fertility -13% in Latin/Cyrillic, see the tokenizer table)
    "vocab-16k": {"model": {"vocab_size": 16000, "character_coverage": 0.9995, "byte_fallback": True}},
}


def probe_preset(name: str, base: str = "ci") -> Preset:
    """The preset of candidate `name` (one-line error listing the candidates)."""
    if name not in CANDIDATES:
        raise ValueError(f"unknown probe {name!r}; choose one of: {', '.join(CANDIDATES)}")
    return get_preset(base).with_changes(**CANDIDATES[name])


def seconds_per_step(preset: Preset, seed: int = 0, steps: int = 30, warmup_steps: int = 5) -> float:
    """Wall seconds per training step of `preset` on this machine, timed after a few warm-up steps."""
    tok = preset_tokenizer(preset, seed)
    batches = MLMBatches(preset, tok, seed)
    seed_everything(seed)
    model = XLMRobertaForMaskedLM(encoder_config(preset.model, tok))
    train_loop(model, mlm_loss, batches, warmup_steps, lr=preset.train.lr, desc="warm-up")
    t0 = time.perf_counter()
    train_loop(model, mlm_loss, batches, steps, lr=preset.train.lr, desc="timing")
    return (time.perf_counter() - t0) / steps


def equal_compute_plans(costs: dict[str, float], base_steps: int, reference: str = "base",
                        round_to: int = 50) -> dict[str, int]:
    """Step counts that give every candidate the compute of `base_steps` steps of `reference`:
    steps = base_steps * cost(reference) / cost(candidate), costs in seconds per step measured side
    by side in one process (`seconds_per_step`), rounded to the nearest `round_to`."""
    return {name: max(round_to, int(round(base_steps * costs[reference] / c / round_to)) * round_to)
            for name, c in costs.items()}


def write_plans(costs: dict[str, float], base_steps: int, minutes: float) -> None:
    """Plan files for the candidates in `costs` (a probe started later trains the planned steps)."""
    for name, steps in equal_compute_plans(costs, base_steps).items():
        plan = {"name": name, "minutes": minutes, "seconds_per_step": round(costs[name], 4), "steps": steps,
                "threads": 1, "costs_measured_side_by_side": {k: round(v, 4) for k, v in costs.items()}}
        atomic_write_text(cache_dir() / "probes" / f".plan-{name}.json", json.dumps(plan))


def run_probe(name: str, minutes: float = 30.0, seed: int = 0, base: str = "ci") -> Path:
    """Train candidate `name` for `minutes` of training steps; returns its model directory (cached)."""
    preset = probe_preset(name, base)
    out = cache_dir() / "probes" / name
    if (out / "training_log.json").exists():
        return out
    plan_file = cache_dir() / "probes" / f".plan-{name}.json"
    if plan_file.exists():  # a resumed probe keeps the step count it planned
        plan = json.loads(plan_file.read_text())
    else:
        sps = seconds_per_step(preset, seed)
        log_every = preset.train.log_every
        plan = {"name": name, "minutes": minutes, "seconds_per_step": round(sps, 4),
                "steps": max(log_every, int(minutes * 60 / sps) // log_every * log_every),
                "threads": torch.get_num_threads()}
        atomic_write_text(plan_file, json.dumps(plan))
    preset = preset.with_changes(train={"steps": plan["steps"]})
    resume = cache_dir() / "probes" / f".resume-{name}"
    resume.mkdir(parents=True, exist_ok=True)
    atomic_dir(out, lambda tmp: _train(preset, seed, tmp, resume, plan))
    return out


def _train(preset: Preset, seed: int, out: Path, resume: Path, plan: dict) -> None:
    log = pretrain(preset, seed, out, resume_dir=resume)
    log["probe"] = plan
    (out / "training_log.json").write_text(json.dumps(log, indent=1))
    PROBE_DIR.mkdir(parents=True, exist_ok=True)
    atomic_write_text(PROBE_DIR / f"{plan['name']}.training_log.json", json.dumps(log, indent=1))


def training_minutes(log: dict) -> float:
    """Minutes spent in training steps (wall time minus the held-out checks), from a training log."""
    curve = log["curve"]
    return float(np.sum(np.diff([0.0] + [e["wall_s"] for e in curve]))) / 60


# ---------------------------------------------------------------- measuring the probes

def _mean_frame(frames):
    return sum(frames) / len(frames)


def evaluate_probe(name: str, seed: int = 0) -> dict:
    """Measure a trained probe with the book's protocol (`evaluate.measure_protocol`) against random-init
    controls of its own shape and tokenizer (seeds `pretrain.CONTROL_SEEDS`), with paired intervals."""
    from .evaluate import by_script, measure_protocol, scripts_of
    from .metrics import paired_bootstrap
    from .models import load_model, random_init_encoder
    from .pretrain import CONTROL_SEEDS
    from .transfer import classification_data, zero_shot_classification

    path = cache_dir() / "probes" / name
    if not (path / "training_log.json").exists():
        raise ValueError(f"probe {name!r} is not trained; run `xalign probe run {name}` first")
    log = json.loads((path / "training_log.json").read_text())
    preset = probe_preset(name)
    langs = list(preset.langs)
    model = load_model(path, mlm=True)
    controls = [random_init_encoder(preset, model.tokenizer, s) for s in CONTROL_SEEDS]
    trained = measure_protocol(model, langs, seed)
    ctrl = [measure_protocol(c, langs, seed) for c in controls]
    task = classification_data(langs, seed=seed)
    apps = zero_shot_classification(model, langs, seed=seed, task=task)
    apps_ctrl = [zero_shot_classification(c, langs, seed=seed, task=task) for c in controls]
    non_en = [l for l in langs if l != "en"]
    out = {"name": name, "change": CANDIDATES[name], "steps": log["steps"],
           "train_minutes": round(training_minutes(log), 1), "tokens_m": round(log["tokens_seen"] / 1e6, 1),
           "parameters": model.parameters(), "plan": log.get("probe", {}),
           "held_out_mlm_final": round(float(np.mean(list(log["held_out_mlm_loss"].values()))), 3)}
    evals = [e for e in log["curve"] if "held_out_mlm_loss" in e]
    best = min(evals, key=lambda e: e["held_out_mlm_loss"])
    out.update(held_out_mlm_best=best["held_out_mlm_loss"], held_out_mlm_best_step=best["step"])
    for view in ("centred", "raw"):
        t_hits = getattr(trained, f"hits_{view}")
        c_hits = [getattr(c, f"hits_{view}") for c in ctrl]
        iv = paired_bootstrap(t_hits.to_numpy(), _mean_frame(c_hits).to_numpy(), seed=seed)
        out[view] = {"layer": getattr(trained, f"layer_{view}"), "trained": round(float(t_hits.to_numpy().mean()), 4),
                     "control": [round(float(c.to_numpy().mean()), 4) for c in c_hits],
                     "diff": iv.as_dict(), "hits": t_hits.to_numpy().mean(1).round(4).tolist()}
    out["by_script"] = {}
    for script, ls in scripts_of(non_en).items():
        iv = paired_bootstrap(trained.hits_centred[ls].to_numpy(),
                              _mean_frame([c.hits_centred[ls] for c in ctrl]).to_numpy(), seed=seed)
        out["by_script"][script] = {"trained": round(float(trained.hits_centred[ls].to_numpy().mean()), 4),
                                    "diff": iv.as_dict()}
    iv = paired_bootstrap(apps.items[non_en].to_numpy(), _mean_frame([a.items[non_en] for a in apps_ctrl]).to_numpy(),
                          seed=seed)
    out["apps"] = {"en": apps.accuracy("en"), "trained": round(float(apps.items[non_en].to_numpy().mean()), 4),
                   "control": [round(float(a.items[non_en].to_numpy().mean()), 4) for a in apps_ctrl],
                   "diff": iv.as_dict()}
    out["per_language_centred"] = {l: round(float(trained.hits_centred[l].mean()), 4) for l in non_en}
    out["by_script_trained"] = by_script(out["per_language_centred"])
    return out


def _iv(d: dict) -> str:
    return f"{d['diff']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def probe_table(results: list[dict]) -> str:
    """The probe table (Markdown), with each probe's paired intervals against its controls and against `base`."""
    from .metrics import Interval, paired_bootstrap, verdict

    base = next((r for r in results if r["name"] == "base"), None)
    head = ("| probe | steps | train min | tokens (M) | params | held-out MLM final (best @ step) | "
            "centred P@1 (controls) | Δ vs control | Δ vs base | raw P@1 Δ vs control | "
            "Δ centred by script vs control | apps acc. non-en (controls) | Δ vs control |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in results:
        vs_base = "—"
        if base is not None and r is not base:
            iv = paired_bootstrap(np.array(r["centred"]["hits"]), np.array(base["centred"]["hits"]))
            vs_base = f"{iv} {verdict(iv)}"
        scripts = "; ".join(f"{s} {_iv(v['diff'])}" for s, v in r["by_script"].items())
        c, a = r["centred"], r["apps"]
        lines.append(
            f"| {r['name']} | {r['steps']} | {r['train_minutes']} | {r['tokens_m']} | {r['parameters'] / 1e6:.2f}M | "
            f"{r['held_out_mlm_final']:.3f} ({r['held_out_mlm_best']:.3f} @ {r['held_out_mlm_best_step']}) | "
            f"{c['trained']:.3f} (layer {c['layer']}; {', '.join(f'{x:.3f}' for x in c['control'])}) | "
            f"{_iv(c['diff'])} {verdict(Interval(**c['diff']))} | {vs_base} | "
            f"{_iv(r['raw']['diff'])} {verdict(Interval(**r['raw']['diff']))} | {scripts} | "
            f"{a['trained']:.3f} ({', '.join(f'{x:.3f}' for x in a['control'])}) | "
            f"{_iv(a['diff'])} {verdict(Interval(**a['diff']))} |")
    return "\n".join(lines) + "\n"


def evaluate_probes(names: list[str] | None = None) -> list[dict]:
    """Measure every trained probe (or `names`), write checkpoints/probes/probes.json and print the table."""
    names = names or [n for n in CANDIDATES if (cache_dir() / "probes" / n / "training_log.json").exists()]
    PROBE_DIR.mkdir(parents=True, exist_ok=True)
    store = PROBE_DIR / "probes.json"
    results = {r["name"]: r for r in json.loads(store.read_text())} if store.exists() else {}
    for name in names:
        print(f"measuring probe {name}", flush=True)
        results[name] = evaluate_probe(name)
        atomic_write_text(store, json.dumps([results[n] for n in CANDIDATES if n in results], indent=1))
    ordered = [results[n] for n in CANDIDATES if n in results]
    table = probe_table(ordered)
    atomic_write_text(PROBE_DIR / "table.md", table)
    print(table)
    return ordered


# ---------------------------------------------------------------- the tokenizer study

TOKENIZER_GRID = [(8000, 1.0, False), (8000, 0.9995, True), (16000, 1.0, False), (16000, 0.9995, True),
                  (32000, 1.0, False), (32000, 0.9995, True)]


def tokenizer_study(base: str = "ci", seed: int = 0) -> list[dict]:
    """How each (vocabulary size, character coverage, byte fallback) tokenizer cuts held-out words
    (Rust et al. 2021): `tokenize.segmentation_stats` per language on PUD words (news, proper word
    segmentation) and on whitespace words of `parallel`-split help text (never seen by the tokenizer)."""
    from . import data
    from .tokenize import segmentation_stats, train_tokenizer

    preset = get_preset(base)
    pud = {l: [w for s in data.conllu(f"{l}_pud") for w in s.words] for l in preset.langs}
    help_words = {l: [w for t in data.corpus(l, "parallel")[1] for w in t.split()] for l in preset.langs}
    rows = []
    for vocab, coverage, fallback in TOKENIZER_GRID:
        t0 = time.time()
        tok = train_tokenizer(preset.langs, vocab, preset.train.lang_alpha, seed, coverage, fallback)
        secs = round(time.time() - t0, 1)
        for lang in preset.langs:
            for source, words in (("pud", pud[lang]), ("help", help_words[lang])):
                rows.append({"vocab": vocab, "coverage": coverage, "byte_fallback": fallback, "lang": lang,
                             "text": source, "train_s": secs, **segmentation_stats(tok, words)})
    PROBE_DIR.mkdir(parents=True, exist_ok=True)
    atomic_write_text(PROBE_DIR / "tokenizers.json", json.dumps(rows, indent=1))
    return rows


def tokenizer_table(rows: list[dict]) -> str:
    """Markdown: per tokenizer, fertility / single-character share / bare-"▁" share / <unk> share per language."""
    import pandas as pd

    t = pd.DataFrame(rows)
    t["tokenizer"] = t.apply(lambda r: f"{r.vocab // 1000}k, coverage {r.coverage:g}"
                             + (", byte fallback" if r.byte_fallback else ""), axis=1)
    langs = list(dict.fromkeys(t.lang))
    out = []
    for text, title in (("help", "held-out help text (parallel split), whitespace words"), ("pud", "PUD words (news)")):
        out.append(f"\n**{title}**: fertility (pieces per word) / share of words cut into single characters / "
                   "share whose first piece is a bare \"▁\" / share with <unk>\n")
        out.append("| tokenizer | " + " | ".join(langs) + " |")
        out.append("|---|" + "---|" * len(langs))
        for name, g in t[t.text == text].groupby("tokenizer", sort=False):
            g = g.set_index("lang")
            cells = [f"{g.loc[l, 'fertility']:.2f} / {g.loc[l, 'single_chars']:.3f} / {g.loc[l, 'bare_space_first']:.2f}"
                     f" / {g.loc[l, 'unk']:.3f}" for l in langs]
            out.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"
