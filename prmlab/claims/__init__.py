"""Pre-registered claims: each module states a published claim, the experiment that tests it,
how its effect is read from the run folders' typed records, and the rule that turns the effect
into a verdict — all written before any run.

Layer: between `experiments` and `reports`. A claim plans flagship experiments (experiments'
configs and executor) and reads their typed records (`experiments/records.py`); the report layer
renders its typed results (`claims.json`) with the generic renderer, so `reports` may import
`claims` and never the other way. Nothing here imports torch at import time: claims are
recomputed from run folders on a machine without it (`suite.py` loads the executor inside the
one function that runs models).
"""
