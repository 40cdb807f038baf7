"""The locks (requirements/*.lock, made by `make lock`) hold every dependency setup.cfg names,
each at one version with its hashes, within setup.cfg's range, the runtime's the same in both."""
from __future__ import annotations

import configparser
import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def locked(name: str) -> dict[str, str]:
    """A lock's packages: canonical name -> version (each checked to carry hashes)."""
    text = (ROOT / "requirements" / name).read_text()
    pins = {}
    for block in re.split(r"\n(?=\S)", text):
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", block)
        if match:
            assert "--hash=sha256:" in block, f"{match[1]} has no hash in {name}"
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def wanted(section: str, key: str) -> list[Requirement]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = [line.split("#")[0].strip() for line in config[section][key].splitlines()]
    return [Requirement(line) for line in lines if line]


def test_the_locks_pin_what_setup_cfg_asks_for_within_its_ranges():
    runtime, test = locked("runtime.lock"), locked("test.lock")
    for requirement, lock in [*((r, runtime) for r in wanted("options", "install_requires")),
                              *((r, test) for r in wanted("options.extras_require", "test"))]:
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement.name} is not in the lock: run `make lock`"
        assert requirement.specifier.contains(lock[name], prereleases=True), \
            f"{requirement.name}=={lock[name]} is outside {requirement.specifier}: run `make lock`"
    assert {name: version for name, version in test.items() if name in runtime} == runtime  # one set of versions
