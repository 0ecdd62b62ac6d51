"""The Zero to JupyterHub values (hub/z2jh/values.yaml) are ones the chart accepts.

Helm merges a values file over the chart's defaults and validates the result
against the chart's values schema; this does the same with the chart's files
of the version the values name (hub/z2jh/README.md says where they come from).
"""

import json

import jsonschema
import pytest
import yaml

from conftest import ROOT

Z2JH = ROOT / "hub" / "z2jh"


def merged(defaults, values):
    """Helm's merge: maps merge key by key, anything else is replaced."""
    out = dict(defaults)
    for key, value in values.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def problems(values):
    schema = json.loads((Z2JH / "values.schema.json").read_text())
    defaults = yaml.safe_load((Z2JH / "chart-values.yaml").read_text())
    found = jsonschema.Draft7Validator(schema).iter_errors(merged(defaults, values))
    return [f"{'.'.join(map(str, e.path))}: {e.message[:200]}" for e in found]


def course_values():
    return yaml.safe_load((Z2JH / "values.yaml").read_text())


def test_the_course_values_pass_the_charts_schema():
    assert not problems(course_values())


@pytest.mark.parametrize("key, value", [("cpuLimit", 2), ("storage", {"capacity": 5, "kind": "nfs"})])
def test_a_misspelled_or_wrong_value_is_caught(key, value):
    values = course_values()
    values["singleuser"] = dict(values["singleuser"], **{key: value})
    assert problems(values), f"singleuser.{key} = {value!r} passed the schema"


def test_the_hub_hook_gives_each_person_a_uid_and_staff_the_course(tmp_path):
    """Run the chart's extraConfig as the hub would, on the example roster."""
    from types import SimpleNamespace

    from traitlets.config import Config

    values = course_values()
    mount = values["hub"]["extraFiles"]["roster"]["mountPath"]
    source = values["hub"]["extraConfig"]["keras-course"].replace(mount, str(ROOT / "hub" / "roster.example.csv"))
    c = Config()
    exec(compile(source, "extraConfig", "exec"), {"c": c})
    assert c.Authenticator.allowed_users == {"prof-ng", "ta-kim", "alice", "bob"}

    def spawn(name):
        spawner = SimpleNamespace(user=SimpleNamespace(name=name), environment={}, volumes=[], volume_mounts=[],
                                  supplemental_gids=[], notebook_dir=None)
        c.KubeSpawner.pre_spawn_hook(spawner)
        return spawner

    prof, alice, bob = spawn("prof-ng"), spawn("alice"), spawn("bob")
    assert len({prof.uid, alice.uid, bob.uid}) == 3, "two people share a uid: the exchange could not keep them apart"
    assert prof.volume_mounts and prof.supplemental_gids and prof.environment["JUPYTER_CONFIG_PATH"].endswith("staff")
    assert not alice.volume_mounts and not alice.supplemental_gids
    assert alice.environment["JUPYTER_CONFIG_PATH"].endswith("student")


def test_the_image_and_the_servers_name_the_same_known_backend():
    from dlcourse.host import backends

    dockerfile = (Z2JH / "Dockerfile").read_text()
    built = next(line.split("=", 1)[1].strip() for line in dockerfile.splitlines()
                 if line.startswith("ARG KERAS_BACKEND="))
    served = course_values()["singleuser"]["extraEnv"][backends.VARIABLE]
    assert built == served == backends.check(served), (
        f"the image installs {built} but the servers ask for {served}: set both (docs/backends.md)")
