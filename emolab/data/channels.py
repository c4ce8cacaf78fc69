"""Channel names and MNE channel types of DEAP and MAHNOB-HCI, in their on-disk order.

Both datasets record 32 EEG channels of the 10-20 system in the same order (the "Geneva" order
of DEAP's preprocessed files) followed by peripheral channels.
"""

from __future__ import annotations

# The 32 EEG channels in DEAP's preprocessed (Geneva) order; MAHNOB-HCI's BDF uses the same order.
EEG_CH_NAMES: tuple[str, ...] = (
    "Fp1", "AF3", "F3", "F7", "FC5", "FC1", "C3", "T7", "CP5", "CP1", "P3", "P7", "PO3", "O1",
    "Oz", "Pz", "Fp2", "AF4", "Fz", "F4", "F8", "FC6", "FC2", "Cz", "C4", "T8", "CP6", "CP2",
    "P4", "P8", "PO4", "O2",
)  # fmt: skip

# DEAP channels 33-40 (1-based), with MNE channel types.
DEAP_PERIPHERAL: tuple[tuple[str, str], ...] = (
    ("hEOG", "eog"),          # horizontal EOG (hEOG1 - hEOG2)
    ("vEOG", "eog"),          # vertical EOG (vEOG1 - vEOG2)
    ("zEMG", "emg"),          # zygomaticus major EMG
    ("tEMG", "emg"),          # trapezius EMG
    ("GSR", "gsr"),           # galvanic skin response
    ("Resp", "resp"),         # respiration belt
    ("Plet", "bio"),          # plethysmograph (blood volume pulse)
    ("Temp", "temperature"),  # skin temperature
)
DEAP_CH_NAMES: tuple[str, ...] = EEG_CH_NAMES + tuple(n for n, _ in DEAP_PERIPHERAL)
DEAP_CH_TYPES: tuple[str, ...] = ("eeg",) * 32 + tuple(t for _, t in DEAP_PERIPHERAL)
DEAP_SFREQ = 128.0
DEAP_BASELINE_S = 3.0  # each preprocessed trial starts with 3 s of pre-trial baseline
DEAP_N_TRIALS = 40
DEAP_N_SAMPLES = 8064  # 63 s at 128 Hz

# MAHNOB-HCI emotion BDF: 47 channels at 256 Hz, the last being the Status trigger channel.
MAHNOB_PERIPHERAL: tuple[tuple[str, str], ...] = (
    ("EXG1", "ecg"), ("EXG2", "ecg"), ("EXG3", "ecg"),  # ECG leads
    ("EXG4", "misc"), ("EXG5", "misc"), ("EXG6", "misc"), ("EXG7", "misc"), ("EXG8", "misc"),
    ("GSR1", "gsr"), ("GSR2", "gsr"),
    ("Erg1", "misc"), ("Erg2", "misc"),
    ("Resp", "resp"),
    ("Temp", "temperature"),
)  # fmt: skip
MAHNOB_CH_NAMES: tuple[str, ...] = EEG_CH_NAMES + tuple(n for n, _ in MAHNOB_PERIPHERAL)
MAHNOB_CH_TYPES: tuple[str, ...] = ("eeg",) * 32 + tuple(t for _, t in MAHNOB_PERIPHERAL)
MAHNOB_STIM_CHANNEL = "Status"
MAHNOB_SFREQ = 256.0
