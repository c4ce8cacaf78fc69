"""Preprocessing: physiological signals (MNE) and faces (mediapipe)."""
