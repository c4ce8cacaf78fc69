"""emolab: multimodal emotion recognition from face video and physiological signals, taught honestly.

The package holds everything the book's notebooks reuse: dataset readers and the synthetic
generator (:mod:`emolab.data`), preprocessing (:mod:`emolab.preprocess`), the encoders and fusion
heads of the two reproduced papers (:mod:`emolab.models`), trainers and evaluation protocols
(:mod:`emolab.train`) and plots (:mod:`emolab.viz`).
"""

from emolab._logging import logger, set_log_level
from emolab.paths import cache_dir

__version__ = "0.1.0"

__all__ = ["__version__", "cache_dir", "logger", "set_log_level"]
