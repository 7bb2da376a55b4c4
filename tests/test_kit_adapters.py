"""The kit of notebook 03_adapters on small made-up inputs: the tables' rows and columns, the glued
sentences for each verdict, the recorded names, the figures' axes, and the adapter save-and-reload
check."""
import copy
import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
import torch

matplotlib.use("Agg")

from _helpers import ci_tokenizer, tiny_encoder  # noqa: E402
from xalign_utils import findings, metrics  # noqa: E402
from xalign_utils import record as R  # noqa: E402
from xalign_utils.kit import adapters as kit  # noqa: E402
from xalign_utils.methods import adapters as AD  # noqa: E402
from xalign_utils.transfer import TransferResult  # noqa: E402

RANKS = {1: "LoRA rank 1", 4: "LoRA rank 4"}
LANGS = ["en", "de", "es"]


@pytest.fixture
def glued(monkeypatch):
    """Everything glued (name -> its plain-text form) instead of myst-nb's display."""
    import myst_nb

    out = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=True: out.__setitem__(name, repr(value)))
    return out


@pytest.fixture
def recorded(monkeypatch, tmp_path):
    """Where `record` and `record_results` write in this test: (metrics.json, results.csv)."""
    monkeypatch.setenv("XALIGN_METRICS_PATH", str(tmp_path / "metrics.json"))
    monkeypatch.setenv("XALIGN_RESULTS_PATH", str(tmp_path / "results.csv"))
    return tmp_path / "metrics.json", tmp_path / "results.csv"


def result(acc: dict[str, float], majority: float = 0.25, n: int = 4) -> TransferResult:
    """A transfer result whose per-item outcomes have the given per-language means."""
    items = pd.DataFrame({l: [a] * n for l, a in acc.items()})
    table = pd.DataFrame({"lang": list(acc), "accuracy": list(acc.values()), "macro_f1": list(acc.values()),
                          "majority": majority, "n": n})
    return TransferResult(table, items, pd.DataFrame({l: [majority] * n for l in acc}))


@dataclass
class FakeEval:
    """What the kit reads of a `harness.VariantEval`."""

    name: str
    numbers: dict
    apps: TransferResult
    pos: TransferResult | None = None
    outcomes: dict = field(default_factory=dict)
    layer: int = -1

    def summary(self):
        return dict(self.numbers)

    def outcome(self, measure):
        return self.outcomes[measure]

    def tidy(self):
        return pd.DataFrame({"measure": list(self.numbers), "value": list(self.numbers.values())})

    def item_outcomes(self):
        return {"p_at_1_cosine": {"de": np.array([1.0, 0.0, 1.0])}}


def fake(name, p1, lid=0.9, pos=True, outcomes=None):
    numbers = {"weak P@1": p1, "weak P@1 centred": p1 + 0.01, "strong mAP": p1 / 2, "LID probe": lid,
               "apps accuracy": 0.3}
    if pos:
        numbers["POS accuracy"] = 0.2
    return FakeEval(name, numbers, result({"en": 0.5, "de": 0.3, "es": 0.3}),
                    result({"en": 0.6, "de": 0.2, "es": 0.2}) if pos else None, outcomes or {})


def interval(diff, low, high):
    return metrics.Interval(diff, low, high, 10, 100, 0, 0.95)


# ---------------------------------------------------------------- setup and tables
def test_the_parameters_are_glued_as_the_prose_cites_them(glued):
    params = SimpleNamespace(steps=64, batch_size=16, lr=1e-3, adapter_lr=5e-3, tau=0.05, ranks=[1, 4, 16],
                             lang_rank=8, lang_steps=24, lang_batch=8, lang_paragraphs=200, task_rank=8,
                             task_steps=48, task_batch=16, finetune_lr=1e-3)
    kit.glue_parameters(params, n_apps_train=500, pos_train=150, pos_test=60, n_pairs=2575, n_full=1437568)
    assert glued["lr"] == "0.001" and glued["adapter_lr"] == "0.005" and glued["tau"] == "0.05"
    assert glued["ranks"] == "1, 4, 16" and glued["n_full"] == "1,437,568" and glued["n_pairs"] == "2575"
    assert glued["apps_train"] == "500" and glued["pos_test"] == "60" and glued["task_batch"] == "16"


def test_the_before_after_table_lists_the_variants_then_the_references():
    evals = {"base": fake("base", 0.02), "LoRA rank 1": fake("LoRA rank 1", 0.06, pos=False),
             "random init": fake("random init", 0.05, pos=False)}
    chance = {"weak P@1": 0.001, "strong mAP": 0.002, "LID probe": 1 / 3, "apps accuracy": 0.1}
    lexical = {"weak P@1": 0.2, "strong mAP": 0.1, "apps accuracy": 0.4, "hits": None}
    table = kit.before_after(evals, list(evals), {"LoRA rank 1": 123}, chance, lexical, ["de", "es"])
    assert list(table.index) == ["base", "LoRA rank 1", "random init", "chance", "majority class", "TF-IDF (no model)"]
    assert table.columns[0] == "trained parameters" and "POS accuracy" in table.columns
    assert list(table["trained parameters"][:3]) == [0, 123, 0]
    assert table.loc["majority class", "apps accuracy"] == pytest.approx(0.25)
    assert table.loc["TF-IDF (no model)", "weak P@1"] == 0.2 and np.isnan(table.loc["TF-IDF (no model)", "LID probe"])
    assert np.isnan(table.loc["LoRA rank 1", "POS accuracy"])


def test_only_the_measured_headline_numbers_are_recorded(recorded, glued):
    names = {1: "LoRA rank 1"}
    rows = ["base", "random init", "full fine-tuning", "full fine-tuning (from random init)", "LoRA rank 1",
            "LoRA rank 1 (from random init)"]
    table = pd.DataFrame({"trained parameters": 0, "weak P@1": np.linspace(0.1, 0.6, 6),
                          "POS accuracy": [0.2] + [np.nan] * 5, "bias": 1.0}, index=rows)
    done = kit.record_before_after(table, names, 1)
    assert done == ["base_weak_p1", "base_pos", "control_weak_p1", "full_weak_p1", "full_ri_weak_p1",
                    "lora1_weak_p1", "lora1_ri_weak_p1"]
    stored = json.loads(recorded[0].read_text())
    assert set(stored) == set(done) and stored["lora1_ri_weak_p1"]["value"] == pytest.approx(0.6)
    assert glued["full_ri_weak_p1"] == "0.400"


def test_references_are_glued_at_their_precision(glued):
    kit.glue_references({"weak P@1": 1 / 409, "LID probe": 1 / 6}, {"weak P@1": 0.23812}, 0.9987)
    assert glued == {"chance_p1": "0.0024", "lexical_p1": "0.238", "lid_base": "0.999", "lid_chance": "0.167"}


# ---------------------------------------------------------------- LoRA verdicts and status
def gain_tables(p1="better", p1_centred="better", full="better"):
    cols = {}
    for m in ("weak P@1", "weak P@1 centred", "strong mAP", "LID probe", "apps accuracy"):
        cols[f"{m} Δ"] = [f"iv {m} {n}" for n in ("r1", "r4", "full")]
        v = {"weak P@1": p1, "weak P@1 centred": p1_centred}.get(m, "inconclusive")
        cols[f"{m}: verdict"] = [v, v, full if m == "weak P@1" else v]
    gains = pd.DataFrame(cols, index=[*RANKS.values(), "full fine-tuning"])
    gains_ri = pd.DataFrame({"weak P@1 Δ": ["ri lora", "ri full"], "weak P@1: verdict": ["worse", "better"],
                             "apps accuracy Δ": ["a", "b"], "apps accuracy: verdict": ["inconclusive"] * 2},
                            index=["LoRA rank 4 (from random init)", "full fine-tuning (from random init)"])
    return gains, gains_ri


def versus(weak="inconclusive", strong="worse"):
    out = {}
    for r in RANKS:
        out[(r, "weak P@1")] = (interval(0.0, -0.01, 0.01) if weak == "inconclusive" else interval(0.02, 0.01, 0.03),
                                weak)
        out[(r, "strong mAP")] = (interval(-0.02, -0.03, -0.01), strong)
        out[(r, "LID probe")] = (interval(0.0, -0.01, 0.01), "inconclusive")
    return out


@pytest.mark.parametrize("verdict, word", [("better", "improves"), ("worse", "lowers"),
                                           ("inconclusive", "does not measurably change")])
def test_the_lora_sentence_says_what_each_verdict_says(glued, verdict, word):
    gains, gains_ri = gain_tables(p1=verdict, full=verdict)
    ends = {"LoRA rank 4": (interval(0.1, 0.05, 0.15), "better"),
            "full fine-tuning": (interval(0, -1, 1), "inconclusive")}
    kit.glue_lora(gains, gains_ri=gains_ri, vs_full=versus(), ends=ends, lora_names=RANKS, mid=4,
                  n_trained={"LoRA rank 1": 10, "LoRA rank 4": 40}, n_full=1000)
    assert glued["lora_sentence"] == (
        f"rank 1 (1.0 % of the parameters) {word} it (Δ iv weak P@1 r1) and is level with full fine-tuning "
        f"(+0.000 [-0.010, +0.010]); rank 4 (4.0 % of the parameters) {word} it (Δ iv weak P@1 r4) and is level "
        "with full fine-tuning (+0.000 [-0.010, +0.010])")
    assert glued["verdict_full_p1"] == word and glued["iv_full_p1"] == "iv weak P@1 full"
    assert glued["lora_lid_sentence"] == "iv LID probe r1 (rank 1), iv LID probe r4 (rank 4)"
    assert glued["iv_full_apps"] == "iv apps accuracy full" and glued["mid"] == "4"
    assert glued["verdict_lora_ri"] == "loses" and glued["verdict_full_ri"] == "gains"
    assert glued["iv_lora_ri"] == "ri lora"
    assert glued["verdict_ends_lora"] == "higher than" and glued["verdict_ends_full"] == "level with"
    assert glued["iv_ends_lora"] == "+0.100 [+0.050, +0.150]"


def test_the_lora_status_is_the_findings_status_with_its_intervals(glued):
    gains, _ = gain_tables()
    n_trained = {"LoRA rank 1": 10, "LoRA rank 4": 40}
    status = kit.lora_status(gains, vs_full=versus(), lora_names=RANKS, n_trained=n_trained, n_full=1000,
                             steps=64, adapter_lr=5e-3, lr=1e-3)
    want = findings.adapter_status("better", {n: "better" for n in RANKS.values()},
                                   {n: "better" for n in RANKS.values()}, {n: "inconclusive" for n in RANKS.values()},
                                   {n: "worse" for n in RANKS.values()}, {n: v / 1000 for n, v in n_trained.items()})
    assert status == want and status.startswith("partly reproduced (LoRA rank 1")
    text = glued["status_finding8"]
    assert text.startswith(status + ": weak P@1 over the base model, full fine-tuning iv weak P@1 full; ")
    assert "LoRA rank 4 (4.0 % of the parameters) iv weak P@1 r4" in text
    assert "strong mAP against full fine-tuning: rank 1 -0.020 [-0.030, -0.010], rank 4" in text
    assert text.endswith("(one seed, 64 steps; LoRA at learning rate 0.005, full fine-tuning at 0.001)")


def test_the_versus_full_table_names_each_rank_and_measure():
    table = kit.vs_full_table(versus(), RANKS)
    assert list(table.columns) == ["difference", "verdict"]
    assert table.index[0] == "LoRA rank 1 − full fine-tuning, weak P@1" and len(table) == 6
    assert table.loc["LoRA rank 4 − full fine-tuning, strong mAP", "verdict"] == "worse"


def test_the_params_figure_has_one_panel_per_measure_and_a_point_per_variant():
    rng = np.random.default_rng(0)
    outcomes = lambda: {m: rng.random(20) for m in ("weak P@1", "strong mAP", "LID probe")}  # noqa: E731
    names = ["LoRA rank 1", "full fine-tuning"]
    evals = {n: fake(n, 0.1, outcomes=outcomes()) for n in ["base", "random init", *names, "full fine-tuning" + kit.RI]}
    n_trained = {n: 10 ** (i + 2) for i, n in enumerate(evals)}
    fig = kit.fig_params(evals, align_names=names, ri_names=["full fine-tuning" + kit.RI], n_trained=n_trained,
                         resamples=200, seed=0)
    axes = fig.axes
    assert len(axes) == 3 and [a.get_title() for a in axes] == ["Δ weak P@1", "Δ strong mAP",
                                                                "Δ LID probe (lower: less identity)"]
    assert axes[0].get_xscale() == "log"
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["from base", "from random init"]
    assert [t.get_text() for t in axes[0].texts] == ["rank 1", "full", "full"]
    assert [t.get_text() for t in axes[1].texts] == ["rank 1", "full"]
    # each point: x = trained parameters, y = the paired mean difference against its starting model
    for ax, m in zip(axes, ("weak P@1", "strong mAP", "LID probe")):
        line = ax.containers[0].lines[0]  # the base model's variants, joined
        assert list(line.get_xdata()) == [n_trained[n] for n in names]
        want = [np.mean(evals[n].outcome(m) - evals["base"].outcome(m)) for n in names]
        assert np.asarray(line.get_ydata(), float) == pytest.approx(want)
    assert len(axes[0].containers) == 2 and len(axes[1].containers) == 1  # random init: weak P@1 only
    ri = axes[0].containers[1].lines[0]
    assert list(ri.get_xdata()) == [n_trained["full fine-tuning" + kit.RI]]
    assert ri.get_ydata()[0] == pytest.approx(np.mean(evals["full fine-tuning" + kit.RI].outcome("weak P@1")
                                                      - evals["random init"].outcome("weak P@1")))


# ---------------------------------------------------------------- adapters on disk
@pytest.fixture(scope="module")
def two_adapters():
    tok = ci_tokenizer()
    enc = tiny_encoder(tok, 0, layers=1)
    model = AD.add_lora(copy.deepcopy(enc.model), AD.language_adapter("en"), rank=2)
    model = AD.add_lora(model, AD.language_adapter("de"), rank=2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return enc, model.eval()


def test_saved_adapters_reload_to_identical_outputs(two_adapters):
    enc, model = two_adapters
    probes = {AD.language_adapter("en"): ["Open the file."], AD.language_adapter("de"): ["Öffnen Sie die Datei."]}
    sizes, identical = kit.save_and_reload(model, enc, probes)
    assert set(sizes) == set(probes) and all(s > 0 for s in sizes.values()) and identical is True
    saved = {"LoRA rank 1": ({"align": 2000}, True), "LoRA rank 4": ({"align": 8000}, False)}
    table = kit.disk_table(saved, {"LoRA rank 1": 10, "LoRA rank 4": 40}, 10 ** 6)
    assert list(table.columns) == ["trained parameters", "adapter on disk (kB)", "share of the base model",
                                   "reloaded outputs identical"]
    assert table.loc["LoRA rank 4", "adapter on disk (kB)"] == 8.0
    assert table.loc["LoRA rank 1", "share of the base model"] == 0.002
    # the column is the measured comparison, not a constant
    assert table["reloaded outputs identical"].tolist() == [True, False]
    assert kit.model_bytes(enc.model) == sum(p.numel() * 4 for p in enc.model.parameters())


def test_a_reload_that_gives_other_outputs_is_refused(two_adapters, monkeypatch):
    enc, model = two_adapters
    monkeypatch.setattr(AD, "pooled_states", lambda m, tok, texts: torch.rand(len(texts), 4))
    with pytest.raises(RuntimeError, match="a reloaded language adapter gave different outputs"):
        kit.save_and_reload(model, enc, {None: ["x"]}, "language adapter")


def test_reloaded_outputs_are_compared_while_the_saved_files_exist(two_adapters, monkeypatch):
    import os

    enc, model = two_adapters
    seen = []
    load = AD.load_adapters

    def loading(base, folder, names):
        seen.append(folder)
        return load(base, folder, names)

    def pooled(m, tok, texts):
        assert os.path.isdir(seen[-1]), "compared after the saved adapters were deleted"
        return torch.zeros(len(texts), 4)

    monkeypatch.setattr(AD, "load_adapters", loading)
    monkeypatch.setattr(AD, "pooled_states", pooled)
    assert kit.save_and_reload(model, enc, {AD.language_adapter("de"): ["x"]})[1] is True


def test_disk_sizes_are_glued_in_mb_and_kb(glued):
    kit.glue_disk({"LoRA rank 1": ({"align": 22_400}, True), "LoRA rank 16": ({"align": 297_600}, True)},
                  5_800_000)
    assert glued == {"base_mb": "5.8", "disk_small": "22", "disk_large": "298"}


# ---------------------------------------------------------------- language adapters
def test_the_pretrain_sample_draws_without_replacement_in_corpus_order(monkeypatch):
    from xalign_utils import data

    monkeypatch.setattr(data, "corpus", lambda lang, split: (None, [f"{lang}{i}" for i in range(10)]))
    sample = kit.pretrain_sample(["en", "de"], 4, 0)
    assert [len(v) for v in sample.values()] == [4, 4] and sample == kit.pretrain_sample(["en", "de"], 4, 0)
    assert sorted(sample["en"], key=lambda s: int(s[2:])) == sample["en"] and len(set(sample["de"])) == 4
    assert len(kit.pretrain_sample(["en"], 50, 0)["en"]) == 10


def test_the_language_section_glues_sizes_loss_and_verdicts(glued):
    gain = {"weak P@1": (interval(0.1, 0.05, 0.2), "better"), "strong mAP": (interval(-0.1, -0.2, -0.05), "worse"),
            "apps accuracy": (interval(0, -1, 1), "inconclusive"), "POS accuracy": (interval(0, -1, 1), "inconclusive")}
    curves = {"en": [6.0] * 5 + [5.0] * 5, "de": [4.0] * 10}
    kit.glue_language({"en": 150_000, "de": 152_000}, n_lang=36864, curves=curves, steps=10, gain=gain,
                      lid_change=(interval(-0.1, -0.2, -0.05), "better"))
    assert glued["lang_kb"] == "151" and glued["n_lang"] == "36,864" and glued["lang_loss"] == "5.00 → 4.50"
    assert glued["verdict_lang_p1"] == "raise" and glued["verdict_lang_map"] == "lower"
    assert glued["verdict_lang_pos"] == "do not measurably change" and glued["verdict_lang_lid"] == "lower"
    assert glued["iv_lang_lid"] == "-0.100 [-0.200, -0.050]"


def test_the_language_curves_figure_has_a_panel_per_start_and_a_line_per_language():
    fig = kit.fig_lang_curves({"base": {"en": [3, 2, 1], "de": [3, 3, 2]}, "random init": {"en": [5, 5, 5]}})
    assert [a.get_title() for a in fig.axes] == ["language adapters on the base model",
                                                 "language adapters on the random init model"]
    assert [l.get_label() for l in fig.axes[0].lines] == ["en", "de"] and fig.axes[0].get_ylabel() == "MLM loss"
    assert list(fig.axes[0].lines[1].get_xdata()) == [1, 2, 3] and list(fig.axes[0].lines[1].get_ydata()) == [3, 3, 2]
    assert list(fig.axes[1].lines[0].get_ydata()) == [5, 5, 5]


# ---------------------------------------------------------------- task adapters
WAYS = ["MAD-X", "task adapter alone", "full fine-tuning"]
COLS = {"POS": ["de"], "apps": ["de", "es"]}


def task_runs():
    runs = {("POS", "base", w): result({"en": 0.6 + i / 10, "de": 0.2, "es": 0.2}) for i, w in enumerate(WAYS)}
    runs.update({("apps", "base", w): result({"en": 0.3, "de": 0.25, "es": 0.3}) for w in WAYS[:2]})
    runs[("POS", "random init", "MAD-X")] = result({"en": 0.4, "de": 0.1, "es": 0.1})
    return runs


def test_the_task_table_has_a_row_per_run_and_per_frozen_head():
    evals = {"base": fake("base", 0.1), "language adapters": fake("la", 0.1)}
    table = kit.task_table(task_runs(), evals, COLS)
    assert len(table) == 6 + 4 and table.index[0] == "POS: MAD-X (base)"
    assert table.index[-1] == "apps: frozen-feature head, language adapters"
    assert table.loc["POS: MAD-X (random init)", "non-English mean"] == pytest.approx(0.1)
    assert np.isnan(table.loc["POS: MAD-X (base)", "es"]) and table.loc["apps: MAD-X (base)", "es"] == 0.3
    assert list(table.columns[:3]) == ["task", "start", "English"]


def test_the_task_verdict_tables_name_each_run():
    iv = (interval(0.1, 0.05, 0.2), "better")
    runs = {k: iv for k in task_runs()}
    learned, above, madx = kit.task_verdicts(runs, runs, {("POS", "task adapter alone"): iv})
    assert list(learned.columns) == ["English − majority class", "verdict"]
    assert learned.index[-1] == "POS, MAD-X (random init)"
    assert list(above.columns)[0] == "zero-shot (non-English) − majority class"
    assert list(madx.index) == ["POS: MAD-X − task adapter alone"] and madx.iloc[0, 0] == "+0.100 [+0.050, +0.200]"


def test_task_accuracies_are_recorded_per_route_and_start(recorded, glued):
    kit.record_tasks(task_runs(), COLS)
    stored = json.loads(recorded[0].read_text())
    assert set(stored) == {f"task_{k}{e}" for k in ("pos_madx", "pos_task", "pos_ft", "apps_madx", "apps_task",
                                                    "pos_madx_ri") for e in ("", "_en")}
    assert stored["task_pos_madx_ri"]["value"] == pytest.approx(0.1)
    assert stored["task_pos_ft_en"]["value"] == pytest.approx(0.8)


@pytest.mark.parametrize("verdict, learned, transfers, want", [
    ("better", True, True, "MAD-X better"), ("worse", True, True, "MAD-X worse"), ("inconclusive", True, True, "level"),
    ("better", True, False, "not read: no route beats the majority class zero-shot"),
    ("better", False, True, "not read: the task was not learned on English")])
def test_a_madx_comparison_is_read_only_for_a_learned_and_transferred_task(verdict, learned, transfers, want):
    assert kit.madx_reading(verdict, learned, transfers) == want


def test_learned_and_transferred_read_the_base_runs_only():
    v = lambda s: (None, s)  # noqa: E731
    learned_iv = {("POS", "base", "MAD-X"): v("better"), ("POS", "base", "task adapter alone"): v("better"),
                  ("apps", "base", "MAD-X"): v("better"), ("apps", "base", "task adapter alone"): v("inconclusive"),
                  ("POS", "random init", "MAD-X"): v("worse")}
    above = {k: v("inconclusive") for k in learned_iv} | {("apps", "base", "MAD-X"): v("better")}
    learned, transfers = kit.learned_and_transferred(learned_iv, above, WAYS)
    assert learned == {"POS": True, "apps": False} and transfers == {"POS": False, "apps": True}
    assert kit.learned_text("POS", True, learned_iv, WAYS) == "learned by every route"
    assert kit.learned_text("apps", False, learned_iv, WAYS) == "learned beyond the majority class only by MAD-X"
    none = {k: v("worse") for k in learned_iv}
    assert kit.learned_text("apps", False, none, WAYS) == "not learned beyond the majority class by any route"


def test_the_modular_section_glues_every_name_the_prose_cites(glued):
    runs = task_runs()
    better = (interval(0.1, 0.05, 0.2), "better")
    learned_iv = {k: better for k in runs}
    above = {k: (interval(0, -1, 1), "inconclusive") for k in runs}
    madx_vs = {("POS", "task adapter alone"): better, ("POS", "full fine-tuning"): better,
               ("apps", "task adapter alone"): better}
    learned, transfers = kit.glue_modular(runs, ways=WAYS, cols=COLS, learned_iv=learned_iv, above_majority=above,
                                          madx_vs=madx_vs, madx_ri=better)
    assert learned == {"POS": True, "apps": True} and transfers == {"POS": False, "apps": False}
    assert glued["verdict_madx_pos_ft"] == "not read: no route beats the majority class zero-shot"
    assert glued["zs_verdict_pos"] == "beats it on no route" and glued["learned_apps"] == "learned by every route"
    assert glued["zs_apps"] == "MAD-X +0.000 [-1.000, +1.000]; task adapter alone +0.000 [-1.000, +1.000]"
    assert glued["acc_pos_ft"] == "0.200" and glued["en_pos_ft"] == "0.800" and "acc_apps_ft" not in glued
    assert glued["verdict_madx_ri"] == "above" and glued["iv_madx_apps_task"] == "+0.100 [+0.050, +0.200]"
    status = kit.glue_modular_status(learned, transfers, madx_vs, "inconclusive")
    assert status == glued["status_modular"] == findings.modular_status(
        learned, transfers, {"POS": "better", "apps": "better"}, {"POS": "better"}, "inconclusive")


def test_the_transfer_figure_shows_each_route_the_frozen_heads_and_the_majority():
    evals = {"base": fake("base", 0.1), "language adapters": fake("la", 0.1)}
    fig = kit.fig_transfer(task_runs(), evals, WAYS, COLS)
    pos, apps = fig.axes
    assert pos.get_title() == "POS tagging (PUD)" and apps.get_title() == "application classification"
    assert [t.get_text() for t in pos.get_xticklabels()] == ["en", "de"]
    assert len(pos.patches) == 5 * 2 and len(apps.patches) == 4 * 3
    labels = pos.get_legend_handles_labels()[1]
    assert set(labels) == {*WAYS, "frozen head, base", "frozen head, language adapters", "majority"}


# ---------------------------------------------------------------- trade-off, results, counts
def test_the_tradeoff_figure_places_each_variant_by_identity_and_alignment():
    evals = {"base": fake("base", 0.02, lid=0.99), "LoRA rank 1": fake("LoRA rank 1", 0.06, lid=0.98)}
    fig = kit.fig_tradeoff(evals, list(evals), {"weak P@1": 0.01}, {"weak P@1": 0.2})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["base", "LoRA rank 1", " TF-IDF"]
    assert ax.get_xlabel().startswith("language-ID probe accuracy") and ax.get_ylabel() == "weak P@1 (en→X)"


def test_results_names_and_families():
    assert kit.variant_slug("LoRA rank 4") == ("lora-rank-4", "adapters")
    assert kit.variant_slug("full fine-tuning (from random init)") == ("random-init+full-fine-tuning", "control")
    assert kit.task_slug("POS", "base", "MAD-X") == ("task-pos-mad-x", "adapters")
    assert kit.task_slug("POS", "random init", "MAD-X") == ("random-init+task-pos-mad-x", "control")


def test_every_variant_and_task_run_is_recorded_with_its_family(recorded):
    evals = {"base": fake("base", 0.1), "random init": fake("random init", 0.1), "LoRA rank 1": fake("l", 0.2),
             "LoRA rank 1 (from random init)": fake("l", 0.2), "language adapters": fake("la", 0.2)}
    runs = {("POS", "base", "MAD-X"): result({"en": 0.6, "de": 0.2}),
            ("POS", "random init", "MAD-X"): result({"en": 0.4, "de": 0.1})}
    done = []
    for r in kit.variant_results(evals, {"LoRA rank 1": 10, "LoRA rank 1 (from random init)": 10}, runs, -1, 3):
        assert r["seed"] == 3
        R.record_results(**r)  # as the chapter's hidden cell does
        done.append(r["variant"])
    assert not hasattr(kit, "record_all")
    assert done == ["base", "random-init-3", "lora-rank-1", "random-init+lora-rank-1", "language-adapters",
                    "task-pos-mad-x", "random-init+task-pos-mad-x"]
    rows = R.read_results(recorded[1])
    families = rows.groupby("variant").family.first()
    assert families["base"] == "base" and families["random-init+lora-rank-1"] == "control"
    assert families["language-adapters"] == "adapters" and families["task-pos-mad-x"] == "adapters"
    trained = rows[rows.measure == "trained_parameters"]
    assert sorted(trained.variant) == ["lora-rank-1", "random-init+lora-rank-1"] and set(trained.value) == {10.0}
    assert set(rows[rows.variant == "task-pos-mad-x"].measure) == {"pos_accuracy", "pos_macro_f1", "pos_majority"}


def test_the_verdict_count_and_its_expected_false_positives(glued):
    verdicts = metrics.Verdicts()
    verdicts.extend(["better"] * 41)
    assert verdicts.glue_count() == 41 and not hasattr(kit, "glue_verdict_count")
    assert glued == {"n_verdicts": "41", "n_spurious": "2.1"}
