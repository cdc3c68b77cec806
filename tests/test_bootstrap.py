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
