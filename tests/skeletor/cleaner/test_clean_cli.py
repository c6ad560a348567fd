"""``skeletor clean`` end to end on real MediaPipe detections, including its errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from realtime.commands import main
from skeletor.cleaner import cli as clean_cli
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.pose.keypoints import load_poses, save_keypoints
from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.uplift import uplift_streaming

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def real_inputs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two real MediaPipe Holistic clips written as keypoint .npz inputs (in a temp dir)."""
    out = tmp_path_factory.mktemp("inputs")
    files = [p for p in list_pose_files(data_dir / "slp_pose_format") if "hand_estimation" in str(p)][:2]
    paths = []
    for p in files:
        dst = out / (p.stem + ".npz")
        save_keypoints(dst, load_pose_file(p))
        paths.append(dst)
    return paths


def test_clean_writes_one_output_per_input(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["clean", *map(str, real_inputs), "-o", str(tmp_path / "out"), "--no-refine"])
    assert rc == 0
    for src in real_inputs:
        out = load_poses(tmp_path / "out" / src.name)
        kp = np.load(src)["keypoints"]
        assert out.poses3d.shape == (len(kp), 75, 3) and out.skeleton == "holistic75"
        seen = (kp[..., 2] > 0).any(0)
        assert np.isfinite(out.poses3d[:, seen]).all()  # every frame, dropped ones included
        np.testing.assert_array_equal(out.keypoints, kp)
        # camera frame: the subject is in front of the camera, head above the shoulders (y down)
        assert (out.poses3d[:, 11, 2] > 0).all()
        assert np.nanmean(out.poses3d[:, 0, 1]) < np.nanmean(out.poses3d[:, 11, 1])
    assert "2 of 2" in capsys.readouterr().err


def test_clean_runs_the_streaming_code_frame_by_frame(real_inputs: list[Path], tmp_path: Path) -> None:
    """The CLI's output is exactly the streaming uplift's, frame by frame."""
    dst = tmp_path / "one.npz"
    assert main(["clean", str(real_inputs[0]), "-o", str(dst), "--no-refine"]) == 0
    from skeletor.pose.keypoints import load_keypoints

    ref = uplift_streaming(load_keypoints(real_inputs[0]))
    np.testing.assert_allclose(load_poses(dst).poses3d, ref.poses3d, atol=1e-6)
    seq = load_keypoints(real_inputs[0])
    lagged = clean_sequence(seq, StreamingCleaner(CleanerConfig(lookahead=4, refine=False)))
    assert lagged.poses3d.shape == ref.poses3d.shape and np.isfinite(lagged.poses3d[:, 11]).all()


def test_bad_inputs_get_one_line_errors_and_the_rest_is_processed(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wrong = tmp_path / "wrong_shape.npz"
    np.savez(wrong, keypoints=np.zeros((4, 33, 3), np.float32), fps=30.0, image_size=[640, 480], skeleton="holistic75")
    unknown = tmp_path / "unknown.npz"
    np.savez(unknown, keypoints=np.zeros((4, 75, 3), np.float32), fps=30.0, image_size=[640, 480], skeleton="coco17")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"\x00garbage")
    missing = tmp_path / "missing.npz"
    out = tmp_path / "out"
    rc = main(["clean", str(wrong), str(real_inputs[0]), str(unknown), str(junk), str(missing), "-o", str(out), "--no-refine"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 4
    assert any("wrong_shape.npz" in e and "(T, 75, 3)" in e for e in errors)
    assert any("unknown.npz" in e and "coco17" in e for e in errors)
    assert any("junk.npz" in e for e in errors) and any("missing.npz" in e for e in errors)
    assert (out / real_inputs[0].name).is_file()  # the good input was still written
    assert not (out / "wrong_shape.npz").exists()


def test_missing_explicit_weights_is_a_clear_error(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["clean", str(real_inputs[0]), "-o", str(tmp_path / "o.npz"), "--weights", str(tmp_path / "nope.onnx")])
    assert rc == 2
    assert "nope.onnx" in capsys.readouterr().err


@pytest.mark.parametrize(("option", "default"), [("--detection-pull", "0.15"), ("--refined-lengths", "0.5")])
def test_cleanup_rate_options(option: str, default: str, real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--detection-pull 0 is the refiner's output as it is, --refined-lengths 0 keeps the
    uplift's bone lengths; the defaults (pulled, half the refiner's lengths) give other
    output, the same as the option spelled out; a value outside [0, 1] is refused."""
    outs = {}
    for value in ("0", default):
        dst = tmp_path / f"v{value}.npz"
        assert main(["clean", str(real_inputs[0]), "-o", str(dst), option, value, "--no-progress"]) == 0
        outs[value] = load_poses(dst).poses3d
    plain = tmp_path / "default.npz"
    assert main(["clean", str(real_inputs[0]), "-o", str(plain), "--no-progress"]) == 0
    np.testing.assert_array_equal(load_poses(plain).poses3d, outs[default])
    assert not np.allclose(outs["0"], outs[default], equal_nan=True)
    with pytest.raises(SystemExit) as exc:
        main(["clean", str(real_inputs[0]), "-o", str(tmp_path / "x.npz"), option, "1.5"])
    assert exc.value.code == 2 and "expected a rate in [0, 1]" in capsys.readouterr().err


def test_forget_after_option(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--forget-after S: a person after S seconds with no one starts afresh (default 2 s; 0 = never); negative is refused."""
    from dataclasses import replace

    a = load_pose_file(data_dir / "slp_pose_format" / "mediapipe.pose")
    b = a.keypoints.copy()
    b[:, 13:23:2, :2] = b[:, [11], :2] + 1.3 * (b[:, 13:23:2, :2] - b[:, [11], :2])  # left arm drawn longer: someone else
    gap = np.zeros((int(3 * a.fps), 75, 3), np.float32)
    src = tmp_path / "two_people.npz"
    save_keypoints(src, replace(a, keypoints=np.concatenate([a.keypoints, gap, b])))
    outs = {}
    for arg in ([], ["--forget-after", "2"], ["--forget-after", "0"], ["--forget-after", "10"]):
        dst = tmp_path / f"out{len(outs)}.npz"
        assert main(["clean", str(src), "-o", str(dst), "--no-refine", "--no-progress", *arg]) == 0
        outs[" ".join(arg)] = load_poses(dst).poses3d
    np.testing.assert_array_equal(outs[""], outs["--forget-after 2"])
    np.testing.assert_array_equal(outs["--forget-after 0"], outs["--forget-after 10"])  # a 3 s gap: neither forgets
    assert not np.allclose(outs[""], outs["--forget-after 0"], equal_nan=True)
    with pytest.raises(SystemExit) as exc:
        main(["clean", str(src), "-o", str(tmp_path / "x.npz"), "--forget-after", "-1"])
    assert exc.value.code == 2 and "expected seconds >= 0" in capsys.readouterr().err


def test_both_tools_read_the_same_cleaner_options(capsys: pytest.CaptureFixture[str]) -> None:
    """``skeletor clean`` and ``skeletor-live`` define the cleaner's options once
    (``add_cleanup_options``): the same words give the same ``CleanerConfig``; a negative
    lookahead is refused by both before anything runs."""
    from realtime.cli import build_parser as live_parser
    from skeletor.cleaner.cli import cleaner_config
    from skeletor.cli import build_parser

    words = ["--lookahead", "2", "--focal-px", "900", "--refined-lengths", "0.25", "--detection-pull", "0.2", "--smooth", "--forget-after", "0",
             "--provider", "cpu", "--threads", "2"]
    clean_args = build_parser().parse_args(["clean", "in.npz", "-o", "out.npz", *words])
    live_args = live_parser().parse_args(["--demo", *words])
    config = cleaner_config(clean_args)
    assert config == cleaner_config(live_args)
    assert (config.lookahead, config.uplift.focal_px, config.refined_lengths, config.detection_pull) == (2, 900.0, 0.25, 0.2)
    assert config.smoothing is not None and config.forget_after_s is None
    assert (config.runtime.provider, config.runtime.threads) == ("cpu", 2)
    for parse in (lambda w: build_parser().parse_args(["clean", "in.npz", "-o", "o.npz", *w]), lambda w: live_parser().parse_args(w)):
        with pytest.raises(SystemExit) as exc:
            parse(["--lookahead", "-1"])
        assert exc.value.code == 2 and "expected frames >= 0" in capsys.readouterr().err


def test_a_provider_that_is_not_installed_is_an_error_not_a_cpu_fallback(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--provider cuda`` on the CPU build of onnxruntime: exit 2, naming what to install; nothing written."""
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    out = tmp_path / "out.npz"
    assert main(["clean", str(real_inputs[0]), "-o", str(out), "--provider", "cuda"]) == 2
    err = capsys.readouterr().err
    assert "CUDAExecutionProvider" in err and "onnxruntime-gpu" in err and not out.exists()
    assert main(["clean", str(real_inputs[0]), "-o", str(out), "--provider", "auto"]) == 0 and out.exists()


def _variant(src: Path, dst: Path, **arrays: Any) -> Path:
    """A copy of the keypoint file ``src`` with some arrays replaced."""
    with np.load(src) as z:
        content = {k: z[k] for k in z.files}
    content.update(arrays)
    np.savez(dst, **content)
    return dst


def test_a_failing_file_is_contained_and_the_summary_printed(
    real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect: image_size [0, 0] crashed the uplift with ZeroDivisionError, and the batch stopped
    there: later files were not cleaned and no summary was printed. Now the size is refused at
    the input boundary, and any failure (here also a reader that hits a bug) stays with its file."""
    zero = _variant(real_inputs[0], tmp_path / "zero_size.npz", image_size=np.array([0, 0]))
    crash = tmp_path / "bug.crash"
    crash.write_text("")
    monkeypatch.setitem(clean_cli.READERS, ".crash", lambda path: 1 / 0)
    out = tmp_path / "out"
    rc = main(["clean", str(zero), str(crash), str(real_inputs[1]), "-o", str(out), "--no-refine", "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 2, err
    assert "zero_size.npz" in errors[0] and "image_size" in errors[0] and "[1, 100000]" in errors[0]
    assert "bug.crash" in errors[1] and "ZeroDivisionError" in errors[1]
    assert (out / real_inputs[1].name).is_file() and not (out / "zero_size.npz").exists()
    assert err.strip().splitlines()[-1] == "skeletor clean: 1 of 3 file(s) written"


def test_every_file_reports_its_share_of_frames_with_a_person_and_an_empty_one_fails(
    real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect: a video with no person 'succeeded' (exit 0, an all-NaN output, no warning). Now
    each file's share of frames with a person is printed, a file with few gets a warning, and
    one with none is an error (nothing written, exit 2) unless --allow-empty."""
    kp = np.load(real_inputs[0])["keypoints"]
    nobody = _variant(real_inputs[0], tmp_path / "nobody.npz", keypoints=np.zeros_like(kp))
    few_kp = kp.copy()
    few_kp[len(kp) // 4 :, :, 2] = 0.0  # a person in the first quarter only
    few = _variant(real_inputs[0], tmp_path / "few.npz", keypoints=few_kp)
    out = tmp_path / "out"
    rc = main(["clean", str(nobody), str(real_inputs[0]), str(few), "-o", str(out), "--no-refine", "--no-progress"])
    assert rc == 2
    err = capsys.readouterr().err
    n = len(kp)
    with_person = int((kp[..., 2] > 0).any(-1).sum())
    assert f"error: {nobody}: no person in any of its {n} frames; nothing written" in err
    assert f"{real_inputs[0]} -> {out / real_inputs[0].name}: a person in {with_person} of {n} frames ({100 * with_person / n:.1f} %)" in err
    n_few = int((few_kp[..., 2] > 0).any(-1).sum())
    assert f"warning: {few}: a person in {n_few} of {n} frames ({100 * n_few / n:.1f} %)" in err
    assert not (out / "nobody.npz").exists() and (out / "few.npz").is_file()
    assert "2 of 3 file(s) written" in err

    rc = main(["clean", str(nobody), "-o", str(out / "allowed.npz"), "--no-refine", "--no-progress", "--allow-empty"])
    assert rc == 0
    assert np.isnan(load_poses(out / "allowed.npz").poses3d).all()
    assert "a person in 0 of" in capsys.readouterr().err


def test_out_of_range_keypoints_are_fixed_with_a_message(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Defect: confidence 5.0 went through to the output, and coordinates of 1e30 gave poses
    1e27 m away. Now confidences are clipped to [0, 1] and impossible joints made missing, with
    a warning naming the file and the counts; the pose stays where the person is."""
    kp = np.load(real_inputs[0])["keypoints"].copy()
    frames = np.flatnonzero(kp[:, 11, 2] > 0)[:20]
    kp[frames, 11, 2] = 5.0  # left shoulder
    kp[frames[:5], 13, :2] = 1e30  # left elbow
    bad = _variant(real_inputs[0], tmp_path / "bad_ranges.npz", keypoints=kp)
    rc = main(["clean", str(bad), "-o", str(tmp_path / "out.npz"), "--no-refine", "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert f"warning: {bad}: 20 confidence value(s) above 1 (largest 5) clipped to 1" in err
    assert f"warning: {bad}: 5 detected joint(s) more than 10 image sizes outside" in err
    out = load_poses(tmp_path / "out.npz")
    assert out.confidence.max() <= 1.0
    assert np.nanmax(np.abs(out.poses3d)) < 20.0  # metres: the person stays in front of the camera
    clean = tmp_path / "clean.npz"
    assert main(["clean", str(real_inputs[0]), "-o", str(clean), "--no-refine", "--no-progress"]) == 0
    np.testing.assert_allclose(out.poses3d[: frames[0]], load_poses(clean).poses3d[: frames[0]], atol=1e-6)  # before the bad frames: the same


def test_pose_files_are_read_and_written(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Defect: .pose input was refused. Now a .pose is read like a keypoint .npz (the same
    output), and -o x.pose or --format pose writes a .pose that pose-format reads back."""
    from pose_format import Pose

    from skeletor.datasets.poseformat import pose_file_layout

    src = data_dir / "slp_pose_format" / "mediapipe.pose"
    as_npz = tmp_path / "from_pose.npz"
    as_pose = tmp_path / "from_pose.pose"
    assert main(["clean", str(src), "-o", str(as_npz), "--no-refine", "--no-progress"]) == 0
    assert main(["clean", str(src), "-o", str(as_pose), "--no-refine", "--no-progress"]) == 0
    keypoints = tmp_path / "keypoints.npz"
    save_keypoints(keypoints, load_pose_file(src))
    assert main(["clean", str(keypoints), "-o", str(tmp_path / "from_npz.npz"), "--no-refine", "--no-progress"]) == 0
    ref = load_poses(as_npz)
    np.testing.assert_array_equal(ref.poses3d, load_poses(tmp_path / "from_npz.npz").poses3d)

    pose = Pose.read(as_pose.read_bytes())
    assert pose.body.fps == ref.fps and pose.body.data.shape == (len(ref.poses3d), 1, 75, 3)
    seen = np.isfinite(ref.poses3d).all(-1)
    assert seen.any() and not seen.all()  # this file's layout has 8 body points: the legs are never seen
    np.testing.assert_array_equal(pose.body.data.data[:, 0][seen], ref.poses3d[seen])
    np.testing.assert_array_equal(np.ma.getmaskarray(pose.body.data)[:, 0, :, 0], ~seen)
    assert pose_file_layout(as_pose) == "mediapipe_full"  # MediaPipe's component and point names

    folder = tmp_path / "folder"
    assert main(["clean", str(src), str(keypoints), "-o", str(folder), "--format", "pose", "--no-refine", "--no-progress"]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["keypoints.pose", "mediapipe.pose"]
    capsys.readouterr()
    assert main(["clean", str(src), "-o", str(tmp_path / "x.npz"), "--format", "pose"]) == 2
    assert "-o" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()


def test_output_names_that_would_collide_are_refused(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two inputs with one output name, or one output file for two inputs: exit 2 before anything runs."""
    other = tmp_path / "other"
    other.mkdir()
    twin = other / real_inputs[0].name
    twin.write_bytes(real_inputs[0].read_bytes())
    assert main(["clean", str(real_inputs[0]), str(twin), "-o", str(tmp_path / "out"), "--no-refine"]) == 2
    assert "would both be written to" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert main(["clean", *map(str, real_inputs), "-o", str(tmp_path / "one.npz"), "--no-refine"]) == 2
    assert "names one file but there are 2 inputs" in capsys.readouterr().err


def test_progress_bars_over_files_and_frames_on_a_terminal(
    real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["clean", *map(str, real_inputs), "-o", str(tmp_path / "a"), "--no-refine"]) == 0
    err = capsys.readouterr().err
    assert re.search(r"files: +100%.*2/2", err) and "frame/s" in err
    assert f"{real_inputs[1]} -> " in err  # messages still come through, above the bars
    assert main(["clean", *map(str, real_inputs), "-o", str(tmp_path / "b"), "--no-refine", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "2/2" not in err and "frame/s" not in err


N_INTERRUPTED = 30  # files in the batch the Ctrl-C test interrupts
# Ctrl-C as in a terminal: a shell without job control starts background commands with
# SIGINT ignored, and the child would inherit that (a test run started with `&`).
INTERRUPT_SCRIPT = """
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from realtime.commands import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_names_what_was_written(real_inputs: list[Path], tmp_path: Path) -> None:
    """Defect: Ctrl-C printed a KeyboardInterrupt traceback and no summary. Now: exit 130, one
    line naming the files written, each of them complete, and no partial or temporary file."""
    inputs = []
    for i in range(N_INTERRUPTED):
        inputs.append(tmp_path / f"in{i:03d}.npz")
        inputs[-1].write_bytes(real_inputs[i % 2].read_bytes())
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", INTERRUPT_SCRIPT, "clean", *map(str, inputs), "-o", str(out), "--no-progress", "--threads", "1"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.glob("*.npz"))):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no output within 120 s"
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.strip().splitlines()[-1]
    m = re.fullmatch(rf"skeletor clean: interrupted; (\d+) of {N_INTERRUPTED} file\(s\) written: (.*)", last)
    assert m, last
    names = m.group(2).split(", ")
    assert int(m.group(1)) == len(names) >= 1 and len(names) < N_INTERRUPTED
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(n).name for n in names)  # nothing else: no .tmp, no partial file
    for n in names:
        assert load_poses(n).poses3d.shape[0] > 0


def test_ctrl_c_right_after_a_file_was_written_still_names_it(
    real_inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect (seen once under load): Ctrl-C between a file's atomic write and its being counted
    left a complete file on disk that the summary did not name ("0 of N written"). The write
    here is followed at once by the interrupt, deterministically."""
    write = clean_cli.WRITERS["npz"][1]

    def write_then_ctrl_c(dst: Path, poses: Any, seq: Any) -> None:
        write(dst, poses, seq)
        raise KeyboardInterrupt

    monkeypatch.setitem(clean_cli.WRITERS, "npz", (".npz", write_then_ctrl_c))
    out = tmp_path / "out"
    rc = main(["clean", *map(str, real_inputs), "-o", str(out), "--no-progress", "--no-refine"])
    assert rc == 130
    written = sorted(out.iterdir())
    assert len(written) == 1 and load_poses(written[0]).poses3d.shape[0] > 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"skeletor clean: interrupted; 1 of {len(real_inputs)} file(s) written: {written[0]}"


def test_ctrl_c_inside_compiled_code_stops_the_batch(
    real_inputs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect (seen under load): Ctrl-C while numba's compiled code ran came out as
    ``SystemError`` (the interrupt as its cause), was counted as one file's failure, and the
    batch went on. It now stops the batch like any Ctrl-C."""

    def interrupted_in_numba(*args: Any, **kwargs: Any) -> Any:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise SystemError("CPUDispatcher(<function _forward>) returned a result with an exception set") from e

    monkeypatch.setattr(clean_cli, "clean_sequence", interrupted_in_numba)
    rc = main(["clean", *map(str, real_inputs), "-o", str(tmp_path / "out"), "--no-progress", "--no-refine"])
    err = capsys.readouterr().err
    assert rc == 130 and "SystemError" not in err
    assert err.strip().splitlines()[-1] == f"skeletor clean: interrupted; 0 of {len(real_inputs)} file(s) written: none"


def test_people_needs_a_video_and_a_sane_count(real_inputs: list[Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["clean", str(real_inputs[0]), "-o", str(tmp_path / "out.npz"), "--people", "2", "--no-refine", "--no-progress"])
    assert rc == 2
    assert f"error: {real_inputs[0]}: --people needs a video (.avi, " in capsys.readouterr().err
    for bad in ("0", "9"):
        with pytest.raises(SystemExit) as e:
            main(["clean", str(real_inputs[0]), "-o", str(tmp_path / "out.npz"), "--people", bad])
        assert e.value.code == 2


@pytest.mark.slow
def test_people_in_a_video_get_a_file_each(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``--people 2`` on the webcam clip (one person): one file, person 0, every frame of the video."""
    monkeypatch.setenv("SKELETOR_CACHE", str(tmp_path / "cache"))
    video = data_dir / "videos" / "slp_pose_test_video.mp4"
    rc = main(["clean", str(video), "-o", str(tmp_path / "talk.npz"), "--people", "2", "--no-progress"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "-> 1 person: talk.person0.npz" in err and "1 of 1 file(s) written" in err
    out = load_poses(tmp_path / "talk.person0.npz")
    assert out.poses3d.shape == (58, 75, 3) and out.keypoints is not None
    seen = (out.keypoints[..., 2] > 0).any(-1)
    assert seen.mean() > 0.9 and np.isfinite(out.poses3d[seen][:, [11, 12]]).all()
    assert np.nanmean(out.keypoints[seen, 11, 0] > out.keypoints[seen, 12, 0]) > 0.9  # the subject's left shoulder on the image right
    assert not (tmp_path / "talk.npz").exists() and (tmp_path / "cache").is_dir()  # the bundle went to $SKELETOR_CACHE


H2S_CLIPS = ["_2FBDaOPYig_2-3-rgb_front", "_2FBDaOPYig_2-5-rgb_front", "_2FBDaOPYig_3-3-rgb_front", "_2FBDaOPYig_3-5-rgb_front", "_2FBDaOPYig_4-3-rgb_front"]


@pytest.mark.slow
def test_openpose_json_folders_are_cleaned_as_holistic75(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """How2Sign's OpenPose output (a folder of per-frame JSON per clip) is cleaned like any input:
    the folder of clips gives one output per clip, named after it; the 2D in the output is
    BODY_25 + hands mapped to holistic75, the joints OpenPose lacks at confidence 0; the 3D is the
    streaming cleaner's on exactly that, a signer in front of the camera, head above shoulders."""
    from skeletor.datasets.openpose import load_openpose_folder
    from skeletor.pose.skeleton import HOLISTIC75

    json_dir = data_dir / "how2sign_openpose_prompt2sign" / "json"
    out = tmp_path / "out"
    assert main(["clean", str(json_dir), "-o", str(out), "--no-progress"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [c + ".npz" for c in H2S_CLIPS]
    assert "5 of 5 file(s) written" in capsys.readouterr().err
    lacking = [HOLISTIC75.index(j) for j in ("left_eye_inner", "right_eye_outer", "mouth_left", "left_pinky", "right_index", "left_thumb")]
    frames = {"_2FBDaOPYig_2-5-rgb_front": 210, "_2FBDaOPYig_4-3-rgb_front": 62}
    for clip, n in frames.items():
        result = load_poses(out / f"{clip}.npz")
        seq = load_openpose_folder(json_dir / clip)
        assert result.poses3d.shape == (n, 75, 3) and result.fps == 24.0
        np.testing.assert_array_equal(result.keypoints, seq.keypoints)
        assert (result.keypoints[:, lacking, 2] == 0).all() and np.isnan(result.keypoints[:, lacking, :2]).all()
        assert (result.keypoints[:, HOLISTIC75.index("left_hand_index_tip"), 2] > 0).mean() > 0.5  # the hands are there
        np.testing.assert_array_equal(result.poses3d, clean_sequence(seq, StreamingCleaner(CleanerConfig())).poses3d)
        shoulders = result.poses3d[:, [11, 12]]
        assert (shoulders[..., 2] > 0).all() and (result.poses3d[:, 0, 1] < shoulders[..., 1].min(-1)).mean() > 0.95

    # the JSON does not store the video's size: --openpose-size sets it (and so the assumed focal length)
    one = json_dir / H2S_CLIPS[4]
    big = tmp_path / "big.npz"
    assert main(["clean", str(one), "-o", str(big), "--openpose-size", "1920x1080", "--no-progress"]) == 0
    assert not np.allclose(load_poses(big).poses3d, load_poses(out / f"{H2S_CLIPS[4]}.npz").poses3d, equal_nan=True)
    with pytest.raises(SystemExit) as exc:
        main(["clean", str(one), "-o", str(big), "--openpose-size", "1920"])
    assert exc.value.code == 2 and "WIDTHxHEIGHT" in capsys.readouterr().err


def test_folders_patterns_and_manifests_name_the_inputs(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A manifest (relative to itself) and a pattern add inputs; a folder or pattern with none, or no input at all, is exit 2."""
    json_dir = data_dir / "how2sign_openpose_prompt2sign" / "json"
    manifest = tmp_path / "list.txt"
    manifest.write_text(f"# two clips\n{json_dir / H2S_CLIPS[4]}\n{json_dir / H2S_CLIPS[2]}\n")
    out = tmp_path / "out"
    pattern = str(data_dir / "slp_pose_format" / "sgg_lexicon" / "*.pose")
    assert main(["clean", pattern, "--manifest", str(manifest), "-o", str(out), "--no-refine", "--no-progress"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 6 and f"{H2S_CLIPS[4]}.npz" in names and f"{H2S_CLIPS[2]}.npz" in names
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["clean", str(empty), str(json_dir / H2S_CLIPS[4]), "-o", str(tmp_path / "o2"), "--no-refine", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"error: {empty}: no inputs in this folder" in err and "1 of 1 file(s) written" in err
    assert main(["clean", "-o", str(tmp_path / "o3")]) == 2
    assert "no inputs" in capsys.readouterr().err
    assert main(["clean", "--manifest", str(tmp_path / "absent.txt"), "-o", str(tmp_path / "o3")]) == 2
    assert "cannot read the manifest" in capsys.readouterr().err


def test_resume_skips_valid_outputs_and_redoes_the_rest(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--resume: an output that reads back is skipped, a broken or missing one is cleaned again
    (to the same bytes); without --resume everything is written anew."""
    json_dir = data_dir / "how2sign_openpose_prompt2sign" / "json"
    clips = [str(json_dir / c) for c in H2S_CLIPS[2:]]
    out = tmp_path / "out"
    assert main(["clean", *clips, "-o", str(out), "--no-progress"]) == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    broken, gone, kept = (out / f"{c}.npz" for c in H2S_CLIPS[2:])
    broken.write_bytes(first[broken.name][:100])  # as a disk that filled up would leave it
    gone.unlink()
    kept_mtime = kept.stat().st_mtime_ns
    capsys.readouterr()
    assert main(["clean", *clips, "-o", str(out), "--no-progress", "--resume"]) == 0
    err = capsys.readouterr().err
    assert f"{json_dir / H2S_CLIPS[4]} -> {kept}: already written (--resume)" in err
    assert err.strip().splitlines()[-1] == "skeletor clean: 2 of 3 file(s) written, 1 already written (--resume)"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first and kept.stat().st_mtime_ns == kept_mtime
    assert main(["clean", *clips, "-o", str(out), "--no-progress"]) == 0
    assert kept.stat().st_mtime_ns != kept_mtime
