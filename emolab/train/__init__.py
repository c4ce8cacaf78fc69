"""Trainers, evaluation protocols and metrics."""
