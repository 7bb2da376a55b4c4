"""The chapter kit: what each chapter needs besides its method and its measures.

One module per chapter (tables, figures, the glue of its intervals and verdicts, its status
sentences), tested in `tests/test_kit_<module>.py`, so that a chapter shows its method's core and
what it measures, and nothing the reader sees is glue. Shared pieces live in the package proper:
`metrics.Verdicts` (every paired comparison), `metrics.verdict_table`, `record.glue_text` /
`record.glue_verdict`, `plot.interval_bars`, `train.fit_copy`, `findings` (status sentences).
"""
