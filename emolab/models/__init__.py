"""Encoders, fusion heads and the multimodal wrapper of the two reproduced papers.

- :func:`build_model` builds ``"safavi"`` :cite:p:`safavi_deep_multimodal` or ``"gbvnet"``
  :cite:p:`yu2025gbvnet` with any subset of the modalities and any fusion head.
- Encoders: :class:`SafaviBioEncoder`, :class:`SafaviFaceEncoder`, :class:`GBVNetBioEncoder`,
  :class:`GBVNetFaceEncoder`; fusion heads: :class:`ConcatFusion`, :class:`GatedFusion`,
  :class:`LateFusion`, :class:`CrossModalAttentionFusion`; wrapper: :class:`MultimodalModel`.
- :func:`count_parameters`, :func:`flops_per_sample`, :func:`complexity_table` and
  :func:`trace_shapes` describe them (chapter 04).
"""

from emolab.models.flops import complexity_table, count_parameters, flops_per_sample
from emolab.models.fusion import (
    FUSION_HEADS,
    ConcatFusion,
    CrossModalAttentionFusion,
    GatedFusion,
    LateFusion,
)
from emolab.models.gbvnet_bio import GBVNetBioEncoder
from emolab.models.gbvnet_face import GBVNetFaceEncoder
from emolab.models.multimodal import MODALITIES, ModelOutput, MultimodalModel
from emolab.models.registry import FUSION_NAMES, MODEL_NAMES, ModelConfig, build_model
from emolab.models.safavi_bio import SafaviBioEncoder
from emolab.models.safavi_face import SafaviFaceEncoder
from emolab.models.summary import trace_shapes

__all__ = [
    "FUSION_HEADS",
    "FUSION_NAMES",
    "MODALITIES",
    "MODEL_NAMES",
    "ConcatFusion",
    "CrossModalAttentionFusion",
    "GBVNetBioEncoder",
    "GBVNetFaceEncoder",
    "GatedFusion",
    "LateFusion",
    "ModelConfig",
    "ModelOutput",
    "MultimodalModel",
    "SafaviBioEncoder",
    "SafaviFaceEncoder",
    "build_model",
    "complexity_table",
    "count_parameters",
    "flops_per_sample",
    "trace_shapes",
]
