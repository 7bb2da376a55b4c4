"""Each chapter's parameter checks (xalign_utils.chapters): refused with a one-line error before the kernel
starts, by the same code the chapter's setup cell runs."""
from dataclasses import fields

import pytest

from xalign_utils import build, chapters

CASES = [
    ("01_parallel_data", {"sizes": [32, 600]}, r"sizes must be increasing integers between 1 and \d+"),
    ("01_parallel_data", {"steps": 0}, "steps must be a positive integer"),
    ("01_parallel_data", {"langs": ["de", "ru"]}, "langs must include 'en'"),
    ("02_contrastive", {"negatives": [4, 2]}, r"batch_size and the sweep's negatives must be integers between 2 and \d+"),
    ("02_contrastive", {"tau": 0.0}, "lr, tau and word_tau must be positive"),
    ("02_contrastive", {"langs": ["en", "de"]}, "at least two other languages"),
    ("02_contrastive", {"pooling": "max"}, "pooling must be 'mean' or 'cls'"),
    ("04_augmentation", {"p": 1.5}, r"p and the values of p_sweep must be in \(0, 1\]"),
    ("04_augmentation", {"mlm_steps": 0}, "mlm_steps must be a positive integer"),
    ("03_adapters", {"ranks": [4, 0]}, "ranks must be a non-empty increasing list of positive integers"),
    ("03_adapters", {"lang_steps": -1}, "lang_steps must be a positive integer"),
    ("03_adapters", {"adapter_lr": 0.0}, "lr, adapter_lr, finetune_lr and tau must be positive"),
    ("06_generative", {"weights": [10.0, 1.0]}, "weights must be a non-empty increasing list of positive numbers"),
    ("06_generative", {"align_layers": [1, "middle"]}, r"align_layers name the same hidden state twice"),
]


@pytest.mark.parametrize("stem, overrides, match", CASES, ids=lambda x: x if isinstance(x, str) and x[:2].isdigit() else None)
def test_bad_parameters_are_refused_before_the_kernel_starts(stem, overrides, match, tmp_path, monkeypatch):
    def no_kernel(*args, **kwargs):
        raise AssertionError("a kernel was started for a refused parameter")

    monkeypatch.setattr(build, "execute", no_kernel)
    with pytest.raises(ValueError, match=match) as e:
        build.run(stem, overrides, tmp_path)
    assert "\n" not in str(e.value)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.mark.parametrize("stem", sorted(chapters.CHAPTERS))
def test_every_chapter_dataclass_names_its_notebooks_parameters_and_accepts_the_defaults(stem):
    defaults = build.notebook_parameters(stem)
    assert [f.name for f in fields(chapters.CHAPTERS[stem])] == list(defaults)
    assert chapters.check_parameters(stem, defaults) is not None


def test_a_missing_data_folder_is_refused_before_the_kernel_starts(tmp_path, monkeypatch):
    monkeypatch.setenv("XALIGN_DATA_DIR", str(tmp_path / "nonexistent"))
    monkeypatch.setattr(build, "execute", lambda *a, **k: pytest.fail("a kernel was started"))
    with pytest.raises(RuntimeError, match=r"data folder .*nonexistent does not exist \(XALIGN_DATA_DIR\)") as e:
        build.run("00_measuring_alignment", {}, tmp_path / "out")
    assert "\n" not in str(e.value)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("XALIGN_DATA_DIR", str(tmp_path / "empty"))
    with pytest.raises(RuntimeError, match="has no MANIFEST.tsv"):
        build.build("ci")


def test_generative_resolves_named_hidden_states_against_the_preset_decoder():
    params = {**build.notebook_parameters("06_generative"), "align_layers": ["last", 2]}
    with pytest.raises(ValueError, match="align_layers name the same hidden state twice"):
        chapters.check_parameters("06_generative", params)
    params["align_layers"] = [7]
    with pytest.raises(ValueError, match="out of range for a 2-layer decoder"):
        chapters.check_parameters("06_generative", params)


@pytest.mark.parametrize("stem", sorted(s for s, c in chapters.CHAPTERS.items() if issubclass(c, chapters.Chapter)))
def test_the_real_model_runs_where_it_fits_and_is_refused_at_once_elsewhere(stem):
    params = {**build.notebook_parameters(stem), "model": "me5-small"}
    if stem in ("00_measuring_alignment", "05_transformations"):
        assert chapters.check_parameters(stem, params).model == "me5-small"
    else:
        with pytest.raises(ValueError, match=r"model 'me5-small' is refused here: this chapter ") as e:
            chapters.check_parameters(stem, params)
        assert "\n" not in str(e.value)


def test_synthesis_takes_no_model_and_checks_its_resamples():
    params = build.notebook_parameters("07_synthesis")
    assert "model" not in params and "langs" not in params
    assert chapters.check_parameters("07_synthesis", params).resamples == params["resamples"]
    with pytest.raises(ValueError, match="corr_resamples must be an integer of at least 100; got 10"):
        chapters.check_parameters("07_synthesis", {**params, "corr_resamples": 10})


def test_sizes_left_at_none_follow_the_model_and_explicit_sizes_stay():
    params = build.notebook_parameters("00_measuring_alignment")
    ci = chapters.check_parameters("00_measuring_alignment", params)
    assert (ci.control_seeds, ci.n_fit, ci.pos_sentences, ci.apps_train, ci.pos_train) == ([0, 1, 2], 2000, 500, 4000, None)
    real = chapters.check_parameters("00_measuring_alignment", {**params, "model": "me5-small"})
    assert real.control_seeds == [0]
    assert (real.n_fit, real.pos_sentences, real.apps_train, real.pos_train) == (
        params["reference_n_fit"], params["reference_pos_sentences"], params["reference_apps_train"],
        params["reference_pos_train"])
    chosen = chapters.check_parameters("00_measuring_alignment",
                                       {**params, "model": "me5-small", "n_fit": 300, "control_seeds": [4, 5]})
    assert (chosen.n_fit, chosen.control_seeds) == (300, [4, 5])
    with pytest.raises(ValueError, match="apps_train must be a positive integer; got 0"):
        chapters.check_parameters("00_measuring_alignment", {**params, "apps_train": 0})
