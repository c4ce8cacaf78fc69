"""The segment store: keys, atomic per-subject writes, resuming after a kill, the Dataset."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import fakedata
import numpy as np
import pytest
import torch

from emolab.data.channels import DEAP_CH_NAMES, DEAP_CH_TYPES
from emolab.data.record import Record
from emolab.store import (
    ReaderConfig,
    SegmentDataset,
    SegmentStore,
    build_store,
    collate_segments,
    store_config,
    store_key,
)
from emolab.data.formats import list_subjects, mahnob_sessions_by_subject
from emolab.preprocess.physio import PhysioConfig

N_WIN = 4  # windows per fake trial
RATINGS = {  # (subject, trial) -> (valence, arousal)
    (1, 1): (7.0, 2.0), (1, 2): (3.0, 5.0), (1, 3): (5.0, 8.5),
    (2, 1): (1.0, 9.0), (2, 2): (6.0, 4.9),
    (3, 1): (4.0, 4.0),
}  # fmt: skip


@dataclass
class FakeFaceConfig:
    fps: float = 3.0
    size: int = 8


@dataclass
class FakeFaceWindows:
    frames: np.ndarray
    blendshapes: np.ndarray
    detected: np.ndarray
    valid: np.ndarray
    stats: dict


def fake_reader(root, subject):
    """Small DEAP-shaped trials: subject 1 has video for trials 1-2, the others none."""
    for trial in sorted(t for s, t in RATINGS if s == subject):
        rng = np.random.default_rng(100 * subject + trial)
        x = rng.normal(0, 10, (40, 384 + N_WIN * 128)).astype(np.float32)
        # the stimulus level of the non-EOG peripheral channels identifies the trial
        x[34:, 384:] += 1000 * subject + 100 * trial
        v, a = RATINGS[(subject, trial)]
        yield Record(
            dataset="deap", subject=subject, trial=trial, experiment_id=10 + trial,
            signals=x, sfreq=128.0, ch_names=list(DEAP_CH_NAMES), ch_types=list(DEAP_CH_TYPES),
            baseline_samples=384, ratings={"valence": v, "arousal": a, "dominance": 5.0},
            video_path=Path(f"s{subject:02d}_trial{trial:02d}.avi")
            if subject == 1 and trial < 3 else None,
            source=Path(f"s{subject:02d}.dat"),
        )  # fmt: skip


def fake_extractor(video_path, *, n_windows, window_s, offset_s, config, landmarker):
    """Frames filled with 10 * window + trial; window 1 has no face."""
    trial = int(Path(video_path).stem[-2:])
    t = int(round(config.fps * window_s))
    frames = np.zeros((n_windows, t, 3, config.size, config.size), np.uint8)
    for k in range(n_windows):
        frames[k] = 10 * k + trial
    detected = np.ones((n_windows, t), bool)
    detected[1] = False
    return FakeFaceWindows(
        frames=frames, blendshapes=np.full((n_windows, t, 52), trial, np.float32),
        detected=detected, valid=detected.any(axis=1), stats={"fps": 50.0},
    )


def build(tmp_path, **kw):
    kw.setdefault("subjects", [1, 2])
    kw.setdefault("modalities", ("face", "bio"))
    kw.setdefault("face", FakeFaceConfig())
    kw.setdefault("reader", fake_reader)
    return build_store(
        tmp_path / "data", dataset="deap", store_root=tmp_path / "store",
        face_extractor=fake_extractor, progress=False, verbose="WARNING", **kw,
    )  # fmt: skip


# -- keys -------------------------------------------------------------------------------------

PHYSIO_CHANGES = dict(
    sfreq=256.0, l_freq=1.0, h_freq=40.0, already_filtered=False, eeg_reference="average",
    eog_regression=False, channels=("Fp1",), window_s=2.0, stride_s=0.5, baseline=False,
    baseline_s=None, normalize="baseline_std",
)  # fmt: skip


def test_key_changes_with_every_config_field():
    reader = ReaderConfig(dataset="deap", root="/data/deap", reader="emolab.data.read_deap")
    physio, face = PhysioConfig(), FakeFaceConfig()
    base = store_key(store_config(reader, physio, face, ["face", "bio"]))
    assert base == store_key(store_config(reader, PhysioConfig(), FakeFaceConfig(), ["bio", "face"]))
    # every field is covered: a new field of PhysioConfig must be added to PHYSIO_CHANGES
    assert {f.name for f in dataclasses.fields(PhysioConfig)} == set(PHYSIO_CHANGES)
    keys = {base}
    for name, value in PHYSIO_CHANGES.items():
        assert getattr(physio, name) != value
        changed = dataclasses.replace(physio, **{name: value})
        keys.add(store_key(store_config(reader, changed, face, ["face", "bio"])))
    for name, value in dict(fps=10.0, size=64).items():
        changed = dataclasses.replace(face, **{name: value})
        keys.add(store_key(store_config(reader, physio, changed, ["face", "bio"])))
    for name, value in dict(dataset="mahnob", root="/elsewhere", reader="x.y").items():
        changed = dataclasses.replace(reader, **{name: value})
        keys.add(store_key(store_config(changed, physio, face, ["face", "bio"])))
    keys.add(store_key(store_config(reader, physio, face, ["bio"])))
    assert len(keys) == 1 + len(PHYSIO_CHANGES) + 2 + 3 + 1


def test_changed_config_builds_a_new_folder(tmp_path):
    a = build(tmp_path, subjects=[1])
    b = build(tmp_path, subjects=[1], physio=PhysioConfig(baseline=False))
    assert a.path != b.path and a.key != b.key
    assert a.subjects == b.subjects == [1]
    assert not np.allclose(a.bio(1), b.bio(1))
    assert a.config["physio"]["baseline"] is True and b.config["physio"]["baseline"] is False


# -- building and resuming --------------------------------------------------------------------


def test_store_layout_and_arrays(tmp_path):
    store = build(tmp_path)
    assert store.subjects == [1, 2]
    bio, face = store.bio(1), store.face(1)
    assert isinstance(bio, np.memmap) and bio.shape == (3 * N_WIN, 40, 128) and bio.dtype == np.float32
    assert face.shape == (3 * N_WIN, 3, 3, 8, 8) and face.dtype == np.uint8
    assert store.face(2) is None  # no video at all: no face file
    assert store.blendshapes(1).shape == (3 * N_WIN, 3, 52)
    meta = store.metadata()
    assert list(meta["row"]) == list(range(3 * N_WIN)) + list(range(2 * N_WIN))
    # window 1 of each video has no face, trial 3 has no video
    expect = [k != 1 for k in range(N_WIN)] * 2 + [False] * N_WIN + [False] * 2 * N_WIN
    assert list(meta["has_face"]) == expect
    assert not face[N_WIN + 1].any() and not face[2 * N_WIN :].any()
    trials = store.trials()
    assert list(trials["face_valid_segments"]) == [N_WIN - 1, N_WIN - 1, 0, 0, 0]
    assert trials["steps"].str.contains("band-pass: skipped").all()
    assert not list((store.path).glob(".tmp-*"))


def test_rerun_builds_only_missing_subjects(tmp_path):
    calls = []

    def counting_reader(root, subject):
        calls.append(subject)
        return fake_reader(root, subject)

    counting_reader.__qualname__ = "fake_reader"  # same key as the other builds
    build(tmp_path, subjects=[1], reader=counting_reader)
    store = build(tmp_path, subjects=[1, 2, 3], reader=counting_reader)
    assert calls == [1, 2, 3]
    store = build(tmp_path, subjects=[3, 1], reader=counting_reader)
    assert calls == [1, 2, 3] and store.subjects == [1, 2, 3]


def test_failure_mid_subject_leaves_no_partial_subject(tmp_path):
    def failing_reader(root, subject):
        for i, rec in enumerate(fake_reader(root, subject)):
            if subject == 2 and i == 1:
                raise OSError("disk gone")
            yield rec

    failing_reader.__qualname__ = "fake_reader"
    with pytest.raises(OSError, match="disk gone"):
        build(tmp_path, subjects=[1, 2, 3], reader=failing_reader)
    store = SegmentStore(next((tmp_path / "store").iterdir()))
    assert store.subjects == [1]
    assert not list(store.path.glob(".tmp-*"))


def test_kill_mid_write_leaves_readable_store_that_rerun_completes(tmp_path):
    """A real SIGKILL while subject 2's arrays are being written."""
    tests_dir = Path(__file__).parent
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(tests_dir)!r})
        from pathlib import Path
        import numpy as np
        import test_store
        real_save = np.save
        def dying_save(path, arr, *a, **k):
            if "s02" in str(path) and str(path).endswith("bio.npy"):
                with open(path, "wb") as f:       # half a file, then the process dies
                    f.write(b"\\x93NUMPY" + bytes(1000))
                os.kill(os.getpid(), signal.SIGKILL)
            return real_save(path, arr, *a, **k)
        np.save = dying_save
        test_store.build(Path({str(tmp_path)!r}), subjects=[1, 2, 3])
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tests_dir.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    folder = next((tmp_path / "store").iterdir())
    assert len(list(folder.glob(".tmp-s02-*"))) == 1  # the half-written subject
    store = SegmentStore(folder)
    assert store.subjects == [1]  # readable, without the half subject
    assert len(SegmentDataset(store)) == 3 * N_WIN

    calls = []

    def counting_reader(root, subject):
        calls.append(subject)
        return fake_reader(root, subject)

    counting_reader.__qualname__ = "fake_reader"
    store = build(tmp_path, subjects=[1, 2, 3], reader=counting_reader)
    assert calls == [2, 3]
    assert store.subjects == [1, 2, 3]
    assert not list(folder.glob(".tmp-*"))
    assert store.bio(2).shape == (2 * N_WIN, 40, 128)


# -- the Dataset ------------------------------------------------------------------------------


def test_dataset_items_shapes_and_metadata(tmp_path):
    store = build(tmp_path)
    ds = SegmentDataset(store)
    assert len(ds) == len(ds.metadata) == 5 * N_WIN
    for i in range(len(ds)):
        item, row = ds[i], ds.metadata.iloc[i]
        assert item["bio"].shape == (40, 128) and item["bio"].dtype == torch.float32
        assert item["face"].shape == (3, 3, 8, 8) and item["face"].dtype == torch.float32
        for k in ("subject", "trial", "experiment_id", "segment", "has_face"):
            assert item[k] == row[k], k
        v, a = RATINGS[(item["subject"], item["trial"])]
        assert item["ratings"].tolist() == pytest.approx([v, a])
        assert item["labels"].tolist() == [float(v >= 5), float(a >= 5)]
        # the stimulus level of the fake trial survives baseline correction
        level = 1000 * item["subject"] + 100 * item["trial"]
        assert abs(item["bio"][34:].mean().item() - level) < 5
        if item["has_face"]:
            expected = (10 * item["segment"] + item["trial"]) / 255.0
            torch.testing.assert_close(item["face"], torch.full_like(item["face"], expected))
        else:
            assert not item["face"].any()
    assert ds.metadata["has_face"].sum() == 2 * (N_WIN - 1)
    assert ds[-1]["subject"] == 2
    with pytest.raises(IndexError):
        ds[len(ds)]


@pytest.mark.parametrize("modalities", [("face", "bio"), ("bio",), ("face",)])
def test_batched_fetch_equals_item_fetch(tmp_path, modalities):
    ds = SegmentDataset(build(tmp_path, subjects=[1, 2]), modalities=modalities)
    order = np.random.default_rng(0).permutation(len(ds)).tolist() + [-1]
    for got, i in zip(ds.__getitems__(order), order):
        want = ds[i]
        assert got.keys() == want.keys()
        for k, v in want.items():
            if isinstance(v, torch.Tensor):
                torch.testing.assert_close(got[k], v)
            else:
                assert got[k] == v


@pytest.mark.parametrize("modalities", [("face", "bio"), ("bio",), ("face",)])
def test_arrays_equal_items_with_faces_still_uint8(tmp_path, modalities):
    ds = SegmentDataset(build(tmp_path, subjects=[1, 2]), modalities=modalities)
    order = np.random.default_rng(1).permutation(len(ds))[:17]
    arrays = ds.arrays(order)
    if "face" in modalities:
        assert arrays["face"].dtype == np.uint8
    for j, i in enumerate(order):
        want = ds[int(i)]
        for k, v in want.items():
            got = arrays[k][j]
            if k == "face":
                np.testing.assert_allclose(got / 255.0, v.numpy(), atol=1e-6)
            elif isinstance(v, torch.Tensor):
                np.testing.assert_array_equal(got, v.numpy())
            else:
                assert got == v, k
    with pytest.raises(IndexError):
        ds.arrays([len(ds)])


def test_dataset_selection_of_subjects_and_modalities(tmp_path):
    store = build(tmp_path)
    ds = SegmentDataset(store, subjects=[2], modalities=("bio",), threshold=6.0)
    assert set(ds.metadata["subject"]) == {2} and len(ds) == 2 * N_WIN
    item = ds[0]
    assert "face" not in item and item["has_face"] is False
    assert item["labels"].tolist() == [0.0, 1.0]  # valence 1 < 6, arousal 9 >= 6
    face_only = SegmentDataset(store, modalities=("face",))
    assert "bio" not in face_only[0] and face_only[0]["face"].shape == (3, 3, 8, 8)
    with pytest.raises(KeyError, match="subjects \\[7\\]"):
        SegmentDataset(store, subjects=[7])
    bio_store = build(tmp_path, modalities=("bio",))
    with pytest.raises(ValueError, match="without \\['face'\\]"):
        SegmentDataset(bio_store)


def test_dataloader_with_worker_batches(tmp_path):
    ds = SegmentDataset(build(tmp_path))
    ds[0]  # opens memory maps, which must not travel to the worker
    loader = torch.utils.data.DataLoader(ds, batch_size=8, num_workers=1)
    batches = list(loader)
    assert batches[0]["bio"].shape == (8, 40, 128)
    assert batches[0]["face"].shape == (8, 3, 3, 8, 8)
    assert sum(len(b["subject"]) for b in batches) == len(ds)


@pytest.mark.parametrize("modalities", [("face", "bio"), ("bio",)])
def test_collate_segments_matches_default_collate(tmp_path, modalities):
    ds = SegmentDataset(build(tmp_path), modalities=modalities)
    items = ds.__getitems__([3, 0, 9, 17])
    got, want = collate_segments(items), torch.utils.data.default_collate(items)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        torch.testing.assert_close(got[k], want[k])
    with pytest.raises(ValueError):
        collate_segments([])


def test_stack_items_is_the_one_collate_of_every_item_kind():
    """One function stacks items for the DataLoader, the in-memory folds and the trainer: tensors
    (bfloat16 too), arrays and lists, bools, ints and floats, a subset of keys, NumPy out."""
    from emolab.store.dataset import stack_items

    items = [{"x": torch.full((2,), float(i)), "h": torch.ones(1, dtype=torch.bfloat16), "a": np.arange(3) + i,
              "l": [i, i + 1], "b": bool(i % 2), "i": i, "f": 0.5 * i} for i in range(3)]  # fmt: skip
    out = stack_items(items)
    assert out["x"].shape == (3, 2) and out["h"].dtype == torch.bfloat16 and out["a"].shape == (3, 3)
    assert out["l"].tolist() == [[0, 1], [1, 2], [2, 3]]
    assert (out["b"].dtype, out["i"].dtype, out["f"].dtype) == (torch.bool, torch.int64, torch.float32)
    assert set(stack_items(items, keys=["x", "missing"])) == {"x"}
    as_np = stack_items(items, keys=["a", "f"], as_numpy=True)
    assert isinstance(as_np["a"], np.ndarray) and as_np["f"].dtype == np.float32
    with pytest.raises(TypeError, match=r"'name'.*keys="):
        stack_items([{"name": "s01"}])


def test_bio_only_store_needs_no_face_code(tmp_path):
    store = build_store(
        tmp_path / "data", dataset="deap", subjects=[1], modalities=("bio",),
        store_root=tmp_path / "store", reader=fake_reader, progress=False,
    )  # fmt: skip
    assert store.modalities == ("bio",) and store.face(1) is None
    assert store.config["face"] is None


# -- subject discovery ------------------------------------------------------------------------


def test_list_subjects(tmp_path, mahnob_folder):
    deap = tmp_path / "deap" / "data_preprocessed_python"
    deap.mkdir(parents=True)
    for s in (3, 1, 12):
        (deap / f"s{s:02d}.dat").write_bytes(b"")
    assert list_subjects(tmp_path / "deap", "deap") == [1, 3, 12]
    # session 11 is a neutral clip without ratings
    assert mahnob_sessions_by_subject(mahnob_folder) == {1: [10, 12], 2: [20]}
    assert list_subjects(mahnob_folder, "mahnob") == [1, 2]
    with pytest.raises(FileNotFoundError, match="data_preprocessed_python"):
        list_subjects(tmp_path / "nothing", "deap")


# -- with the real readers and the real face pipeline -----------------------------------------


def test_deap_store_from_real_format_pairs_trials_and_has_no_face_for_s23(tmp_path):
    fake = fakedata.write_deap_folder(tmp_path / "deap", subjects=(1, 23), n_trials=3,
                                      n_samples=384 + 2 * 128, seed=3)  # fmt: skip
    physio = PhysioConfig(baseline=False, eog_regression=False)  # keep the trial marks
    store = build_store(fake.root, dataset="deap", physio=physio, store_root=tmp_path / "store",
                        progress=False, verbose="WARNING")  # fmt: skip
    assert store.subjects == [1, 23]
    ds = SegmentDataset(store)
    assert len(ds) == 2 * 3 * 2
    for i in range(len(ds)):
        item = ds[i]
        s, e = item["subject"], item["experiment_id"]
        assert fake.trial_of(s, e) == item["trial"]  # presentation order <-> video id
        assert abs(item["bio"][0].mean().item() - fakedata.deap_mark(s, e)) < 1.0
        v, a = fakedata.deap_labels(s, e)[:2]
        assert item["ratings"].tolist() == pytest.approx([v, a])
        # flat-colour videos hold no face: every window is left out of the face modality
        assert item["has_face"] is False and item["face"].shape == (5, 3, 64, 64)
    trials = store.trials()
    assert (trials.loc[trials["subject"] == 1, "video"] != "").all()
    assert (trials.loc[trials["subject"] == 23, "video"] == "").all()
    assert store.face(1) is not None and store.face(23) is None
    assert (trials.loc[trials["subject"] == 1, "face_detection_rate"] == 0).all()


def _store_files(store) -> dict[str, bytes]:
    return {str(f.relative_to(store.path)): f.read_bytes() for f in sorted(store.path.rglob("*")) if f.is_file()}


def test_parallel_build_writes_the_same_store_as_a_serial_one(tmp_path):
    kw = dict(dataset="deap", subjects=[1, 2, 3], face=FakeFaceConfig(), reader=fake_reader,
              face_extractor=fake_extractor, progress=False, verbose="WARNING")  # fmt: skip
    serial = build_store(tmp_path / "data", store_root=tmp_path / "s1", n_jobs=1, **kw)
    parallel = build_store(tmp_path / "data", store_root=tmp_path / "s2", n_jobs=2, **kw)
    assert serial.path.name == parallel.path.name  # n_jobs is not part of the key
    a, b = _store_files(serial), _store_files(parallel)
    assert sorted(a) == sorted(b) and any(k.endswith("face.npy") for k in a)
    assert [k for k in a if a[k] != b[k]] == []


def test_parallel_build_with_the_default_reader_and_landmarker(tmp_path):
    fake = fakedata.write_deap_folder(tmp_path / "deap", subjects=(1, 2, 23), n_trials=2,
                                      n_samples=384 + 2 * 128, seed=4)  # fmt: skip
    kw = dict(dataset="deap", physio=PhysioConfig(eog_regression=False), progress=False, verbose="WARNING")
    serial = build_store(fake.root, store_root=tmp_path / "s1", n_jobs=1, **kw)
    parallel = build_store(fake.root, store_root=tmp_path / "s2", n_jobs=2, **kw)
    assert parallel.subjects == [1, 2, 23]
    a, b = _store_files(serial), _store_files(parallel)
    assert sorted(a) == sorted(b) and [k for k in a if a[k] != b[k]] == []


def test_parallel_build_refuses_a_reader_it_cannot_send(tmp_path):
    with pytest.raises(TypeError, match=r"cannot be pickled.*n_jobs=1"):
        build(tmp_path, subjects=[1, 2], n_jobs=2, reader=lambda root, subject: fake_reader(root, subject))
    with pytest.raises(ValueError, match="n_jobs"):
        build(tmp_path, subjects=[1, 2], n_jobs=0)


def test_mahnob_store_from_real_format(tmp_path, mahnob_folder):
    store = build_store(mahnob_folder, dataset="mahnob", modalities=("bio",),
                        store_root=tmp_path / "store", progress=False, verbose="WARNING")  # fmt: skip
    meta = store.metadata()
    assert store.subjects == [1, 2]
    assert sorted(meta["experiment_id"].unique()) == [10, 12, 20]
    assert store.bio(1).shape[1:] == (38, 128)
    assert (meta.groupby("experiment_id").size() == 4).all()  # 4 s stimuli
