"""Encoders, fusion heads and the multimodal wrapper of the two reproduced papers."""
