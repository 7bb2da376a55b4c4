"""Status lines for the survey's findings, chosen from interval verdicts (never from bare numbers).

Introduced in notebook 01_parallel_data. A verdict is what `metrics.verdict` returns: "better",
"worse" or "inconclusive". Every branch is tested (tests/test_findings.py), so the prose a chapter
pastes is true for every outcome, not only for the one its author saw.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

VERDICTS = ("better", "worse", "inconclusive")


def says(verdict: str, better: str, worse: str, inconclusive: str) -> str:
    """The phrase for a verdict (one-line error for anything else)."""
    if verdict not in VERDICTS:
        raise ValueError(f"unknown verdict {verdict!r}; expected one of: {', '.join(VERDICTS)}")
    return {"better": better, "worse": worse, "inconclusive": inconclusive}[verdict]


def parallel_data_status(gains: Mapping[str, str], pairing: Mapping[str, str], pairing_centred: Mapping[str, str]) -> str:
    """"Parallel data helps alignment". `gains`: each method's weak-P@1 verdict against the starting
    model; `pairing`: for the methods that have one, the verdict against their control trained on the
    same text without the pairing; `pairing_centred`: the same after inductive centring.

    Reproduced when a method beats both the starting model and its no-pairing control, and the
    advantage over the control survives centring (so it is not only a shift of language means)."""
    helped = [m for m, v in gains.items() if v == "better"]
    paired = [m for m in helped if pairing.get(m) == "better"]
    if any(pairing_centred.get(m) == "better" for m in paired):
        return "reproduced"
    if paired:
        return ("partly reproduced (a method beats its no-pairing control on raw retrieval, but not after centring: "
                "the pairing's advantage may be only a shift of language means)")
    if helped:
        return ("partly reproduced (methods gain over the starting model, but none beats its control trained on "
                "the same text without the pairing)")
    if any(v == "worse" for v in gains.values()):
        return "contradicted (no method gains; some lose)"
    return "not reproduced (no gain can be distinguished from zero)"


def transfer_status(alignment: Mapping[str, str], transfer: Mapping[str, Sequence[str]]) -> str:
    """"Explicit alignment improves alignment; transfer gains are smaller and less robust".
    `alignment`: each method's weak-alignment verdict; `transfer`: its verdicts on the transfer tasks."""
    helped = [m for m, v in alignment.items() if v == "better"]
    if not helped:
        return "not reproduced (no method improves alignment)"
    verdicts = [v for m in helped for v in transfer[m]]
    n_better = sum(v == "better" for v in verdicts)
    if n_better == len(verdicts):
        return "not reproduced (every alignment gain comes with a transfer gain on every task)"
    return (f"reproduced (transfer gains are less reliable: {n_better} of {len(verdicts)} task comparisons of the "
            f"{len(helped)} alignment-improving method(s) show a gain)")


def contrastive_status(sentence_gain: str, versus_other: str, english_only_gain: str,
                       english_only_vs_control: str) -> str:
    """"Contrastive objectives give the strongest sentence-level alignment; English-only contrastive
    learning carries over to other languages". `sentence_gain`: sentence InfoNCE's weak-P@1 verdict
    against the starting model; `versus_other`: InfoNCE against a non-contrastive parallel objective
    (distillation) trained with the same data, steps and learning rate; `english_only_gain`: English-only
    SimCSE's weak-P@1 verdict against the starting model; `english_only_vs_control`: SimCSE against the
    same training without dropout (identical passes: no positive signal, only paragraphs pushed apart).

    The English-only part counts only when SimCSE beats both the starting model and its no-dropout
    control, so a gain that any spreading-out of English paragraphs would give does not count."""
    for v in (sentence_gain, versus_other, english_only_gain, english_only_vs_control):
        says(v, "", "", "")  # refuses anything that is not a verdict
    strongest = sentence_gain == "better" and versus_other == "better"
    english = english_only_gain == "better" and english_only_vs_control == "better"
    if english_only_gain != "better":
        simcse = says(english_only_gain, "", "English-only SimCSE lowers en→X retrieval",
                      "English-only SimCSE shows no gain in en→X retrieval that the interval can tell from zero")
    else:
        simcse = ("English-only SimCSE gains, but " + says(english_only_vs_control, "", "less than",
                                                           "not measurably more than")
                  + " the same training without dropout positives")
    versus = says(versus_other, "more than", "less than", "not measurably more than")
    if strongest and english:
        return "reproduced"
    if strongest:
        return f"partly reproduced (sentence InfoNCE beats the starting model and distillation at the same budget; {simcse})"
    if english:
        first = (f"sentence InfoNCE gains, but {versus} distillation at the same budget" if sentence_gain == "better"
                 else "sentence InfoNCE shows no gain over the starting model")
        return f"partly reproduced (English-only SimCSE beats the starting model and its no-dropout control; {first})"
    if sentence_gain == "better":
        return f"not reproduced (sentence InfoNCE gains, but {versus} distillation at the same budget; {simcse})"
    if "worse" in (sentence_gain, english_only_gain):
        return "contradicted (a contrastive objective lowers en→X retrieval)"
    return "not reproduced (no contrastive objective shows a gain the interval can tell from zero)"


def augmentation_status(tasks: Mapping[str, str]) -> str:
    """"Code-switching augmentation with dictionaries improves transfer cheaply". `tasks`: for each
    transfer task, the verdict of the head trained on code-switched English data against the head
    trained on plain English data (zero-shot, non-English test items)."""
    for v in tasks.values():
        says(v, "", "", "")
    better = [t for t, v in tasks.items() if v == "better"]
    worse = [t for t, v in tasks.items() if v == "worse"]
    if better and worse:
        return f"mixed (code-switched task data helps {', '.join(better)} and hurts {', '.join(worse)})"
    if better and len(better) == len(tasks):
        return "reproduced"
    if better:
        return f"partly reproduced (code-switched task data helps {', '.join(better)}; the other tasks show no change)"
    if worse:
        return f"contradicted (code-switched task data lowers {', '.join(worse)})"
    return "not reproduced (no transfer change the interval can tell from zero)"


def stand_in_status(reference_gain: Mapping[str, str], versus_plain: Mapping[str, str],
                    versus_reference: Mapping[str, str]) -> str:
    """"Dictionaries can partly stand in for parallel data". Per measure (weak P@1 and the transfer
    tasks): `reference_gain`, the parallel-data reference's (TLM's) verdict against the starting
    model; `versus_plain`, code-switched MLM against plain MLM on the same text (is it the
    dictionary?); `versus_reference`, code-switched MLM against the reference.

    A measure supports the finding when code-switched MLM beats plain MLM and is not below the
    reference; it can only be decided where the reference itself moves or code-switched MLM beats it."""
    for table in (reference_gain, versus_plain, versus_reference):
        for v in table.values():
            says(v, "", "", "")
    support = [m for m in versus_plain if versus_plain[m] == "better" and versus_reference.get(m) != "worse"]
    decidable = [m for m in support if reference_gain.get(m) == "better" or versus_reference.get(m) == "better"]
    against = [m for m in versus_plain if reference_gain.get(m) == "better" and m not in support]
    lag = "code-switched MLM does not beat plain MLM or stays below TLM"
    if decidable and not against:
        return f"reproduced on {', '.join(decidable)} (code-switched MLM beats plain MLM and is not below TLM)"
    if decidable:
        return (f"partly reproduced (on {', '.join(decidable)} code-switched MLM beats plain MLM and is not below TLM; "
                f"on {', '.join(against)} TLM gains and {lag})")
    if against:
        return f"not reproduced (on {', '.join(against)} TLM gains and {lag})"
    return "cannot be decided here (neither TLM nor code-switched MLM moves a measure beyond plain MLM)"


def adapter_status(full_gain: str, lora_gain: Mapping[str, str], lora_gain_centred: Mapping[str, str],
                   lora_vs_full: Mapping[str, str], lora_vs_full_strong: Mapping[str, str],
                   share: Mapping[str, float]) -> str:
    """"Parameter-efficient modules reach much of the benefit at a fraction of the trained
    parameters". `full_gain`: full fine-tuning's weak-alignment verdict against the starting model;
    per LoRA variant (e.g. "rank 4"): `lora_gain` / `lora_gain_centred`, its raw / centred weak P@1
    verdict against the starting model (a raw gain that centring removes is a shift of language
    means); `lora_vs_full` / `lora_vs_full_strong`, its weak P@1 / strong mAP verdict against full
    fine-tuning with the same data and steps; `share`, its trained parameters over full fine-tuning's.

    Reproduced when a LoRA variant gains (raw and centred) and is not measurably below full
    fine-tuning on weak or on strong alignment (the smallest such variant is named)."""
    for table in (lora_gain, lora_gain_centred, lora_vs_full, lora_vs_full_strong):
        for v in table.values():
            says(v, "", "", "")
    says(full_gain, "", "", "")
    gaining = [k for k, v in lora_gain.items() if v == "better" and lora_gain_centred.get(k) == "better"]
    level = sorted((k for k in gaining if lora_vs_full.get(k) != "worse"), key=lambda k: share[k])
    both = [k for k in level if lora_vs_full_strong.get(k) != "worse"]
    also = "" if full_gain == "better" else "; full fine-tuning itself shows no gain"
    if both:
        k = both[0]
        return (f"reproduced ({k}: {100 * share[k]:.1f} % of the trained parameters, gains not measurably below "
                f"full fine-tuning's on weak or strong alignment{also})")
    if level:
        k = level[0]
        return (f"partly reproduced ({k}, {100 * share[k]:.1f} % of the trained parameters, is level with full "
                f"fine-tuning on weak alignment but below it on strong alignment{also})")
    if gaining:
        return (f"partly reproduced (LoRA gains, {', '.join(gaining)}, but stays below full fine-tuning with the "
                "same data and steps)")
    raw_only = [k for k, v in lora_gain.items() if v == "better"]
    if raw_only:
        return (f"not reproduced (LoRA's raw gains, {', '.join(raw_only)}, do not survive centring: a shift of "
                "language means, not alignment)")
    if full_gain == "better":
        return "not reproduced (full fine-tuning gains; no LoRA variant does)"
    return "cannot be decided here (neither full fine-tuning nor LoRA moves alignment at this budget)"


def modular_status(learned: Mapping[str, bool], transfers: Mapping[str, bool], versus_task_only: Mapping[str, str],
                   versus_full: Mapping[str, str], identity: str) -> str:
    """MAD-X's claim that swapping in the target language's adapter transfers an English task better,
    while language-specific information is kept. Per task: `learned`, whether the fine-tuned English
    models beat the majority class on English; `transfers`, whether any route beats the majority class
    zero-shot (on the non-English items); `versus_task_only`, the zero-shot verdict of language + task
    adapters against the task adapter alone; `versus_full`, against full fine-tuning (tasks without a
    full fine-tuning run are left out). `identity`: the language-ID probe of the language-adapter model
    against the starting model ("better" = lower = identity removed)."""
    for v in [*versus_task_only.values(), *versus_full.values(), identity]:
        says(v, "", "", "")
    tasks = [t for t, ok in learned.items() if ok]
    if not tasks:
        return "cannot be decided here (no fine-tuned model learned an English task beyond the majority class)"
    moving = [t for t in tasks if transfers.get(t)]
    if not moving:
        return (f"cannot be decided here ({', '.join(tasks)} learned on English, but no route beats the majority "
                "class zero-shot)")
    kept = says(identity, "the language adapters remove language identity", "language identity is kept (more of it)",
                "language identity is kept")
    worse = [f"{t} worse than {b}" for t in moving for b, table in (("the task adapter alone", versus_task_only),
                                                                      ("full fine-tuning", versus_full))
             if table.get(t) == "worse"]
    better = [t for t in moving if versus_task_only.get(t) == "better"]
    if worse:
        return f"not reproduced (swapping language adapters transfers {'; '.join(worse)}; {kept})"
    if better and identity != "better":
        full = [t for t in better if t in versus_full]
        tail = f", not below full fine-tuning on {', '.join(full)}" if full else ""
        return f"reproduced on {', '.join(better)} (better than the task adapter alone{tail}; {kept})"
    if better:
        return f"partly reproduced (better transfer on {', '.join(better)}, but {kept})"
    return f"not reproduced (no transfer difference the interval can tell from zero; {kept})"


def layer_status(versus_last: Mapping[str, str], versus_embeddings: Mapping[str, str],
                 versus_control: Mapping[str, str]) -> str:
    """"Alignment inside a decoder is highest in its middle layers" (Wendler et al. 2024). Per measure
    (e.g. "weak P@1", "strong mAP"): the middle hidden state's verdict against the last one
    (`versus_last`), against the embeddings (`versus_embeddings`), and against the same hidden state
    of the random-init control (`versus_control`).

    Undecidable when the pretrained middle is above its control on no measure (a peak of an
    alignment that training did not make says nothing); reproduced when the middle is better than
    both ends on every measure; contradicted when it is worse than the last on every measure."""
    for v in [*versus_last.values(), *versus_embeddings.values(), *versus_control.values()]:
        says(v, "", "", "")
    measures = list(versus_last)
    if not any(versus_control.get(m) == "better" for m in measures):
        return ("cannot be decided here (at the middle hidden state the pretrained decoder is above its random-init "
                "control on no measure)")
    top = [m for m in measures if versus_last[m] == "better" and versus_embeddings.get(m) == "better"]
    below = [m for m in measures if versus_last[m] == "worse"]
    if measures and len(top) == len(measures):
        return "reproduced (the middle hidden state is better aligned than the embeddings and the last one on every measure)"
    if measures and len(below) == len(measures):
        return "contradicted (the last hidden state is better aligned than the middle one on every measure)"
    if top:
        rest = f"; the last is better on {', '.join(below)}" if below else ""
        return f"mixed (the middle hidden state peaks on {', '.join(top)}{rest})"
    if below:
        return f"not reproduced (no measure peaks in the middle; the last hidden state is better on {', '.join(below)})"
    return "not reproduced (no measure peaks in the middle by more than the interval)"


def generative_status(alignment: Mapping[str, str], alignment_centred: Mapping[str, str], language: Mapping[str, str],
                      script: Mapping[str, str], last_vs_middle: Mapping[str, str]) -> str:
    """"Stronger cross-lingual alignment of a generative model can hurt generating in the correct
    language" (AFP, Li et al. 2024; the survey's generative section). Per alignment variant (e.g.
    "last, λ = 1"), each against the control trained the same steps with λ = 0: `alignment` /
    `alignment_centred`, the raw / centred weak P@1 verdict at the layer it aligns (a raw gain that
    centring removes is a shift of language means); `language`, the correct-language-rate verdict;
    `script`, the verdict on the share of letters outside the prompt language's script ("worse" =
    more of them: output that left the language, not only garbled or short output).
    `last_vs_middle`: per strength, the correct-language verdict of aligning the last hidden state
    against aligning the middle one.

    Reproduced when a variant that gains alignment (raw and centred) loses correct-language output
    and writes more letters of another script; partly when it only loses correct-language output."""
    for v in [*alignment.values(), *alignment_centred.values(), *language.values(), *script.values(),
              *last_vs_middle.values()]:
        says(v, "", "", "")
    aligned = [k for k, v in alignment.items() if v == "better" and alignment_centred.get(k) == "better"]
    if not aligned:
        return "cannot be decided here (no variant gains alignment, raw and centred, over its λ = 0 control)"
    costly = [k for k in aligned if language.get(k) == "worse"]
    switched = [k for k in costly if script.get(k) == "worse"]
    late = [s for s, v in last_vs_middle.items() if v == "worse"]
    where = f"; aligning the last hidden state costs more than the middle one at {', '.join(late)}" if late else ""
    if switched:
        return (f"reproduced ({', '.join(switched)} gain alignment and lose correct-language output, writing more letters "
                f"of another script{where})")
    if costly:
        return (f"partly reproduced ({', '.join(costly)} gain alignment and lose correct-language output, but write no "
                f"more letters of another script: the loss may be degraded rather than other-language text{where})")
    return (f"not reproduced ({', '.join(aligned)} gain alignment without a measurable loss of correct-language "
            f"output{where})")
