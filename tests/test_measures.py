"""The measure registry: one tidy naming for encoder and decoder rows."""
import pytest

from xalign_utils import measures


@pytest.mark.parametrize("name, base", [("p_at_1_cosine", "p_at_1_cosine"), ("p_at_1_cosine_centred", "p_at_1_cosine"),
                                        ("p_at_1_cosine@0", "p_at_1_cosine"),
                                        ("p_at_1_cosine_non_english", "p_at_1_cosine"),
                                        ("strong_same_language_bias", "strong_same_language_bias"),
                                        ("pos_majority", "pos_majority"), ("apps_finetuned_gap", "apps_finetuned_gap")])
def test_registered_names_resolve_to_their_base_measure(name, base):
    assert measures.base(name).name == base


@pytest.mark.parametrize("drifted", ["p_at_1_centred", "same_language_bias", "weak_p1", "lir_p_at_1_cosine"])
def test_a_name_outside_the_registry_is_refused_in_one_line(drifted):
    with pytest.raises(ValueError, match="measures.py") as err:
        measures.check_names(["strong_map", drifted])
    assert "\n" not in str(err.value) and repr(drifted) in str(err.value)


def test_labels_are_unique_and_every_measure_says_which_way_is_better():
    labels = [m.label for m in measures.MEASURES.values()]
    assert len(labels) == len(set(labels))
    assert all(m.higher_is_better in (True, False, None) and m.about for m in measures.MEASURES.values())
