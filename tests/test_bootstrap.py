"""The Kaggle bootstrap's plan on described images: google-tunix pinned with --no-deps and only the
dependencies the image lacks; jax/flax/libtpu/torch reported, never installed."""

import pytest

from tunix_nb import bootstrap

AS_TESTED = {**bootstrap.TESTED, **{d: "1.0" for d in bootstrap.TUNIX_DEPS}}


def pip_args(commands):
    return [a for c in commands for a in c[c.index("install") + 1:]]


def test_an_image_as_tested_installs_nothing():
    commands, lines = bootstrap.plan(AS_TESTED)
    assert commands == [] and lines == ["google-tunix 0.1.7: as tested"]


def test_no_tunix_installs_the_tested_one_and_only_missing_dependencies():
    image = {**AS_TESTED, "google-tunix": None, "qwix": None, "grain": None}
    commands, lines = bootstrap.plan(image)
    assert len(commands) == 1 and commands[0][1:4] == ["-m", "pip", "install"]
    assert pip_args(commands) == ["-q", "--no-deps", "google-tunix==0.1.7", "qwix", "grain"]
    assert lines[-1] == "google-tunix not installed -> 0.1.7 (--no-deps, with qwix, grain)"


@pytest.mark.parametrize("other", ["0.1.6", "0.1.8"])
def test_another_tunix_is_replaced_by_the_tested_one(other):
    commands, lines = bootstrap.plan({**AS_TESTED, "google-tunix": other})
    assert pip_args(commands) == ["-q", "--no-deps", "google-tunix==0.1.7"]
    assert lines == [f"google-tunix {other} -> 0.1.7 (--no-deps)"]


def test_jax_and_flax_of_the_image_are_reported_never_installed():
    image = {**AS_TESTED, "jax": "0.4.35", "flax": None, "google-tunix": None}
    commands, lines = bootstrap.plan(image)
    assert not any(a.split("=")[0] in bootstrap.NEVER_TOUCHED for a in pip_args(commands))
    assert lines[0] == "warning: jax 0.4.35 (tunix_nb is tested with 0.10.2); left as the image has it"
    assert lines[1] == "warning: flax not installed (tunix_nb is tested with 0.12.8); left as the image has it"


def test_the_tested_versions_are_this_machines():
    assert bootstrap.installed_versions(list(bootstrap.TESTED)) == bootstrap.TESTED


# --- where the notebook installs tunix_nb from (real files; the cell runs this function's source) ---

def _wheel(folder, version):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"tunix_nb-{version}-py3-none-any.whl").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    return str(folder / f"tunix_nb-{version}-py3-none-any.whl")


def _checkout(folder):
    (folder / "tunix_nb").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "tunix_nb"\n')
    (folder / "tunix_nb" / "__init__.py").write_text('__version__ = "0.1.0"\n')
    return folder


def test_an_installed_tunix_nb_is_kept(tmp_path):
    _wheel(tmp_path / "input" / "ds", "0.1.0")
    assert bootstrap.install_source(str(_checkout(tmp_path / "repo")), wheels=tmp_path / "input") is None  # this venv's


def test_an_attached_wheel_wins_over_a_checkout_and_the_newest_is_taken(tmp_path):
    _wheel(tmp_path / "input" / "old", "0.9.0")
    newest = _wheel(tmp_path / "input" / "new" / "dist", "0.10.0")
    repo = _checkout(tmp_path / "repo")
    assert bootstrap.install_source(str(repo), wheels=tmp_path / "input", installed=False) == ("wheel", newest)


def test_without_a_wheel_the_checkout_is_installed(tmp_path):
    (tmp_path / "input").mkdir()
    repo = _checkout(tmp_path / "repo")
    assert bootstrap.install_source(str(repo), wheels=tmp_path / "input", installed=False) == ("checkout", str(repo))
    assert bootstrap.install_source(str(repo), wheels=tmp_path / "absent", installed=False) == ("checkout", str(repo))


def test_install_from_names_a_wheel_a_git_url_or_a_checkout_and_wins(tmp_path):
    whl = _wheel(tmp_path, "0.1.0")
    assert bootstrap.install_source(None, whl, installed=True) == ("wheel", whl)
    url = "https://github.com/someone/tunix_nb.git"
    assert bootstrap.install_source(None, url, installed=False) == ("git", "git+" + url)
    assert bootstrap.install_source(None, "git+" + url) == ("git", "git+" + url)
    assert bootstrap.install_source(None, str(tmp_path), installed=True) == ("checkout", str(tmp_path))


def test_nothing_to_install_from_says_how_to_fix_it(tmp_path):
    with pytest.raises(RuntimeError, match="attach the wheel as a dataset, or set INSTALL_FROM"):
        bootstrap.install_source(str(tmp_path), wheels=tmp_path, installed=False)  # no pyproject: no checkout


def test_on_kaggle_the_images_lacks_come_from_the_packaged_requirements_never_its_stack():
    calls = []
    bootstrap.ensure_kaggle(run=lambda cmd, check: calls.append(cmd))
    requirements = calls[0][calls[0].index("-r") + 1]
    assert requirements.endswith("requirements-kaggle.txt") and open(requirements).read()
    assert not any(a.split("=")[0] in bootstrap.NEVER_TOUCHED for c in calls for a in c[4:])
