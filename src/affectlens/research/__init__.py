"""Research tools: a MER-UniBench / OV-MER compatible scorer and a MERR-style dataset builder.

* :func:`run_bench` (``affectlens bench``): open-vocabulary emotion-wheel F, basic-emotion hit
  rate, sentiment and classification metrics, computed offline from the published
  emotion-wheel files.
* :func:`annotate` (``affectlens annotate``): Emotion-LLaMA MERR fine-grained records and
  instruction-tuning conversations for unlabelled clips, resumable and failure-tolerant; with a
  language model (``llm=``), reasoning captions written from each record's cues and checked
  claim by claim (:mod:`affectlens.research.reasoning`).
"""

from .annotate import annotate
from .bench import run_bench
from .wheel import load_lexicon, parse_label_list

__all__ = ["run_bench", "annotate", "load_lexicon", "parse_label_list"]
