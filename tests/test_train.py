"""`train.fit_copy`: the one place for seed + deepcopy + train loop."""
import torch

from _helpers import ci_tokenizer, tiny_encoder
from xalign_utils.train import fit_copy


def _batches(step):
    g = torch.Generator().manual_seed(step)
    return {"input_ids": torch.randint(5, 200, (4, 8), generator=g)}


def _loss(model, batch):
    out = model(input_ids=batch["input_ids"], output_hidden_states=True)
    return out.hidden_states[-1].pow(2).mean()


def _flat(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_fit_copy_trains_a_copy_and_leaves_the_start_untouched():
    start = tiny_encoder(ci_tokenizer())
    before = _flat(start.model).clone()
    trained, losses = fit_copy(start, _loss, _batches, 3, lr=1e-2, seed=0, desc="t", name="copy")
    assert torch.equal(_flat(start.model), before)
    assert not torch.equal(_flat(trained.model), before)
    assert len(losses) == 3 and trained.name == "copy" and not trained.model.training
    again, losses2 = fit_copy(start, _loss, _batches, 3, lr=1e-2, seed=0, desc="t", name="copy")
    assert losses2 == losses and torch.equal(_flat(again.model), _flat(trained.model))  # seeded


def test_fit_copy_updates_only_the_named_parameters_and_undoes_its_preparation():
    start = tiny_encoder(ci_tokenizer())
    calls = []

    def prepare(model):
        calls.append(("prepare", model.training))
        return lambda: calls.append(("undo",))

    def embeddings_only(model):
        return model.get_input_embeddings().parameters()

    trained, _ = fit_copy(start, _loss, _batches, 2, lr=1e-2, seed=0, desc="t", name="emb", params=embeddings_only,
                          prepare=prepare)
    assert calls == [("prepare", True), ("undo",)]
    emb = {id(p) for p in trained.model.get_input_embeddings().parameters()}
    for (name, p), (_, q) in zip(trained.model.named_parameters(), start.model.named_parameters()):
        assert torch.equal(p, q) == (id(p) not in emb), name


def test_fit_copy_wraps_the_copy_before_training():
    start = tiny_encoder(ci_tokenizer())
    seen = []

    def wrap(model):
        seen.append(model is start.model)
        return model

    fit_copy(start, _loss, _batches, 1, lr=1e-2, seed=0, desc="t", name="w", wrap=wrap)
    assert seen == [False]
