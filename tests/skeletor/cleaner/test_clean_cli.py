"""``skeletor clean`` end to end on real MediaPipe detections, including its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtime.commands import main
from skeletor.datasets.poseformat import list_pose_files, load_pose_file
from skeletor.pose.keypoints import load_poses, save_keypoints
from skeletor.cleaner.stream import CleanerConfig, StreamingCleaner, clean_sequence
from skeletor.uplift import uplift_streaming


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


@pytest.mark.parametrize(("option", "default"), [("--detection-pull", "0.1"), ("--refined-lengths", "0.5")])
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
