"""Throughput of MLM pretraining steps: masked-positions-only head vs the default full-sequence head.

Both variants run side by side in one process on the same batches (ci preset shape), alternating,
so machine noise hits both alike. Prints tokens/s of each and the ratio (target: about 3x).

    python benchmarks/bench_mlm_head.py [--steps 30] [--preset ci]
"""
from __future__ import annotations

import argparse
import time

import torch
from transformers import XLMRobertaForMaskedLM

from xalign_utils.checkpoints import base_model
from xalign_utils.models import encoder_config
from xalign_utils.presets import get_preset
from xalign_utils.pretrain import MLMBatches, mlm_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--preset", default="ci")
    args = ap.parse_args()
    preset = get_preset(args.preset)
    tok = base_model(preset.name).tokenizer
    batches = MLMBatches(preset, tok, seed=0)
    models = {}
    for name in ("masked-only", "full-sequence"):
        torch.manual_seed(0)
        m = XLMRobertaForMaskedLM(encoder_config(preset.model, tok)).train()
        models[name] = (m, torch.optim.AdamW(m.parameters(), lr=1e-4))
    spent = {name: 0.0 for name in models}
    tokens = 0
    for step in range(args.steps + 2):
        batch = batches(step)
        for name, (m, opt) in models.items():
            t0 = time.perf_counter()
            loss = mlm_loss(m, batch, masked_only=(name == "masked-only"))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if step >= 2:  # two warm-up steps
                spent[name] += time.perf_counter() - t0
        if step >= 2:
            tokens += batch["input_ids"].numel()
    for name, s in spent.items():
        print(f"{name:>14}: {tokens / s:9.0f} tokens/s  ({s / args.steps * 1000:.0f} ms/step)")
    print(f"ratio masked-only / full-sequence throughput: {spent['full-sequence'] / spent['masked-only']:.2f}x")


if __name__ == "__main__":
    main()
