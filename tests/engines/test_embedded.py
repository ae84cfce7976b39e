"""The embedded engine end to end on synthetic surveys (and on real images when present)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import laspy
import piexif
import pytest
import rasterio

from tasks.engines.base import Context, EngineError, run_steps
from tasks.engines.embedded import STAGES, EmbeddedEngine
from tasks.engines.odm import odm_options
from tasks.photogrammetry import accuracy
from tasks.photogrammetry.layout import Layout
from tasks.photogrammetry.synthetic import Survey, make_survey, write_gcp_list

BRIGHTON = Path(__file__).resolve().parents[3] / "shared" / "data" / "brighton_beach"
OPTIONS = {"dtm": True, "pc-las": True, "pc-csv": True, "pc-ply": True}


def _project(root: Path, images: Path) -> Path:
    project = root / "project"
    project.mkdir(parents=True)
    (project / "images").symlink_to(images.resolve(), target_is_directory=True)
    return project


def _run(project: Path, options: dict[str, object]) -> list[str]:
    lines: list[str] = []
    run_steps(EmbeddedEngine(), Context(project, options, log=lines.append))
    return lines


@pytest.fixture(scope="module")
def perfect(tmp_path_factory: pytest.TempPathFactory) -> tuple[Survey, Path]:
    root = tmp_path_factory.mktemp("perfect")
    survey = make_survey(root / "survey", n_images=12, gps_noise_m=0.0, seed=0)
    project = _project(root, survey.images)
    _run(project, OPTIONS)
    return survey, project


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Survey, Path]:
    root = tmp_path_factory.mktemp("noisy")
    survey = make_survey(root / "survey", n_images=12, gps_noise_m=1.0, seed=0)
    project = _project(root, survey.images)
    _run(project, {})
    return survey, project


def test_options_are_odm_options_the_engine_honours() -> None:
    engine = EmbeddedEngine()
    names = [o["name"] for o in engine.options()]
    odm = {o["name"]: o for o in odm_options()}
    assert len(names) == len(set(names)) == 21
    for option in engine.options():
        assert option["type"] == odm.get(option["name"], option)["type"]
        assert option["help"]
    rerun = next(o for o in engine.options() if o["name"] == "rerun-from")
    assert rerun["domain"] == ["", *STAGES]


def test_steps_follow_rerun_from() -> None:
    engine = EmbeddedEngine()
    assert [s.name for s in engine.steps({})] == list(STAGES)
    assert [s.name for s in engine.steps({"rerun-from": "dem"})] == ["dem", "orthophoto", "report"]
    deps = {s.name: s.depends_on for s in engine.steps({})}
    assert "orthophoto-resolution" in deps["orthophoto"]
    assert "orthophoto-resolution" not in deps["dem"]


def test_perfect_gps_is_accurate(perfect: tuple[Survey, Path]) -> None:
    survey, project = perfect
    score = accuracy.score(project, survey)
    print(score)
    assert score.registered == score.images
    assert score.ortho_shift_gsd <= 1.0
    assert score.dsm_rmse <= 2 * survey.gsd


def test_noisy_gps_stays_within_1_5_m(noisy: tuple[Survey, Path]) -> None:
    survey, project = noisy
    score = accuracy.score(project, survey)
    print(score)
    assert score.registered == score.images
    assert score.ortho_shift_m <= 1.5


def test_outputs_follow_odm_layout_and_carry_the_crs(perfect: tuple[Survey, Path]) -> None:
    survey, project = perfect
    layout = Layout(project)
    epsg = survey.frame.epsg
    for raster in (layout.orthophoto, layout.dsm, layout.dtm):
        with rasterio.open(raster) as src:
            assert src.crs.to_epsg() == epsg
            assert src.profile["tiled"]
    with rasterio.open(layout.orthophoto) as src:
        assert src.count == 4
    for cloud in (layout.cloud, layout.cloud.with_suffix(".las")):
        las = laspy.read(str(cloud))
        assert las.header.parse_crs().to_epsg() == epsg
        assert len(las.points) > 1000
    assert layout.cloud.with_suffix(".ply").is_file() and layout.cloud.with_suffix(".csv").is_file()
    assert layout.orthophoto.with_suffix(".png").is_file()
    assert len(json.loads(layout.images_json.read_text())) == 12
    assert json.loads(layout.cameras_json.read_text())
    shots = json.loads(layout.shots.read_text())
    assert len(shots["features"]) == 12
    stats = json.loads(layout.stats.read_text())
    assert stats["images"]["registered"] == 12
    assert (layout.report_dir / "report.html").is_file()


def test_rerun_from_reuses_earlier_stages(perfect: tuple[Survey, Path]) -> None:
    _, project = perfect
    layout = Layout(project)
    before = {p: p.stat().st_mtime_ns for p in (layout.database, layout.cloud, layout.orthophoto)}
    options = {**OPTIONS, "rerun-from": "orthophoto", "orthophoto-resolution": 20.0, "cog": True}
    lines = _run(project, options)
    assert not any("[features]" in ln for ln in lines)
    assert layout.database.stat().st_mtime_ns == before[layout.database]
    assert layout.cloud.stat().st_mtime_ns == before[layout.cloud]
    assert layout.orthophoto.stat().st_mtime_ns != before[layout.orthophoto]
    with rasterio.open(layout.orthophoto) as src:
        assert src.transform.a == pytest.approx(0.2)
        assert src.overviews(1)


def test_crop_and_auto_boundary_shrink_the_outputs(perfect: tuple[Survey, Path]) -> None:
    _, project = perfect

    def covered() -> int:
        with rasterio.open(Layout(project).dsm) as src:
            return int((src.read(1) != src.nodata).sum())

    _run(project, {**OPTIONS, "rerun-from": "dem", "crop": 0.0})
    full = covered()
    _run(project, {**OPTIONS, "rerun-from": "dem", "crop": 10.0})
    assert covered() < 0.9 * full
    _run(project, {**OPTIONS, "rerun-from": "dem", "crop": 0.0, "auto-boundary": True})
    assert covered() <= full


def test_gcps_correct_noisy_gps(noisy: tuple[Survey, Path]) -> None:
    survey, project = noisy
    write_gcp_list(survey, project / "gcp" / "gcp_list.txt")
    lines = _run(project, {"rerun-from": "georeferencing"})
    assert any("with GCP" in ln for ln in lines)
    score = accuracy.score(project, survey)
    print(score)
    assert score.ortho_shift_gsd <= 1.0
    assert score.camera_rmse_h < 0.1


def test_images_without_gps_are_georeferenced_by_gcps(tmp_path: Path, perfect: tuple[Survey, Path]) -> None:
    survey, _ = perfect
    images = tmp_path / "nogps"
    images.mkdir()
    for name in survey.names:
        tags = piexif.load(str(survey.images / name))
        tags["GPS"] = {}
        shutil.copy(survey.images / name, images / name)
        piexif.insert(piexif.dump(tags), str(images / name))
    project = _project(tmp_path, images)
    write_gcp_list(survey, project / "gcp" / "gcp_list.txt")
    lines = _run(project, {"fast-orthophoto": True})
    assert any("exhaustive" in ln for ln in lines)
    assert any("with GCP" in ln for ln in lines)
    assert accuracy.ortho_shift(Layout(project).orthophoto, survey) <= survey.gsd


def test_fast_orthophoto_skips_dense_stereo(noisy: tuple[Survey, Path]) -> None:
    _, project = noisy
    dense = len(laspy.read(str(Layout(project).cloud)).points)
    lines = _run(project, {"rerun-from": "pointcloud", "fast-orthophoto": True})
    assert not any("Dense stereo" in ln for ln in lines)
    assert len(laspy.read(str(Layout(project).cloud)).points) < dense / 5
    assert Layout(project).orthophoto.is_file()


@pytest.mark.parametrize("algorithm", ["global", "hierarchical"])
def test_other_sfm_algorithms_register_all_images(noisy: tuple[Survey, Path], algorithm: str) -> None:
    _, project = noisy
    lines = _run(project, {"rerun-from": "reconstruction", "sfm-algorithm": algorithm, "fast-orthophoto": True})
    assert any(ln.startswith("Registered 12/12") for ln in lines)
    assert Layout(project).orthophoto.is_file()


def test_too_few_images_is_a_user_error(tmp_path: Path, perfect: tuple[Survey, Path]) -> None:
    survey, _ = perfect
    images = tmp_path / "two"
    images.mkdir()
    for name in survey.names[:2]:
        (images / name).symlink_to(survey.images / name)
    project = _project(tmp_path, images)
    with pytest.raises(EngineError, match="registered|matched"):
        _run(project, {})


@pytest.mark.slow
def test_brighton_beach_matches_odm(tmp_path: Path) -> None:
    if not (BRIGHTON / "images").is_dir():
        pytest.skip(f"Brighton Beach images not found at {BRIGHTON}")
    project = _project(tmp_path, BRIGHTON / "images")
    _run(project, {"feature-quality": "medium"})
    stats = json.loads(Layout(project).stats.read_text())
    assert stats["images"]["registered"] == 18
    offset = accuracy.against_reference(project, BRIGHTON / "odm_reference_model.laz")
    print(offset)
    assert abs(offset["median_height_offset_m"]) <= 1.0
    with rasterio.open(Layout(project).orthophoto) as src:
        assert src.crs.to_epsg() == 32615
