"""Datasets: real-format readers for DEAP and MAHNOB-HCI, the manifest, and the record type.

>>> from emolab.data import read_deap
>>> for rec in read_deap("/data/deap", subjects=[1, 2]):   # doctest: +SKIP
...     print(rec.subject, rec.trial, rec.experiment_id, rec.signals.shape)
"""

from emolab.data.deap import read_deap
from emolab.data.mahnob import read_mahnob
from emolab.data.record import Record

__all__ = ["Record", "read_deap", "read_mahnob"]
