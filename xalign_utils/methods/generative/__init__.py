"""Generative models: which language a decoder writes, where its alignment lives, and AFP-style
alignment at a chosen layer (groundwork for notebook 06_generative; the decoder is
`checkpoints.decoder_model`). One module per concern; every name is importable from here.

- `LanguageID`: a maintained offline language identifier (`py3langid` 0.3.0, pinned: its bundled
  model is data, a new version can change every number), restricted to the languages asked about;
  an unsupported language is a one-line error naming the supported ones. Its own error is measured
  with `LanguageID.accuracy` on held-out human text before it is trusted with generated text.
- `layer_states` / `LayerContrastLoss`: sentence InfoNCE (notebook 02's `info_nce`) on mean-pooled
  hidden state `layer` of a decoder (AFP, Li et al. 2024, aligns a middle layer). The loss reads
  hidden state `layer` only, so its gradient reaches that layer's inputs and below, never the
  layers above it (tested).
- `token_languages` / `logit_lens`: the logit lens (each hidden state through the final norm and
  the LM head) and a table giving each vocabulary piece the language whose `pretrain` text uses it
  most, to ask in which language each layer "thinks".
- `continue_texts` / `continue_by_language`: greedy or sampled continuations of prompts that start
  with a language tag (one language, or every language in one batch).
- `TaggedDecoder` / `tagged`: the decoder read as a sentence encoder the way it was trained: each
  text as `<s> <xx> pieces`, hidden states mean-pooled over the text's own pieces (not `<s>`, not
  the tag); one per language in a `models.PerLanguage`, so every shared measure takes it.
  `TaggedPairBatches` feeds AFP exactly these rows, so the loss and the measures read the same states.
- `layer_alignment`: weak P@1 (raw and inductively centred) and strong mAP at every hidden state,
  with per-item outcomes for paired intervals; `lens_shares`, `correct_language`,
  `reference_continuations`, `heldout_rows`: the logit-lens, output-language and perplexity measures.
"""
from .afp import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .generation import *  # noqa: F401,F403
from .lens import *  # noqa: F401,F403
from .output_language import *  # noqa: F401,F403
from .tagged import *  # noqa: F401,F403
