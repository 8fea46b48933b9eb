"""The model presets' table (models/presets.py's docstring) says what each preset builds."""

import re

import pytest

from prmlab.models import presets
from prmlab.models.presets import PRESETS, n_params, random_llama
from prmlab.training.base import arith_codec


def _table() -> dict[str, float]:
    rows = re.findall(r"^\| (\S+)\s+\| ~([\d.]+)M", presets.__doc__, flags=re.M)
    return {name: float(m) for name, m in rows}


def test_the_table_names_every_preset():
    assert set(_table()) == set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_has_the_parameters_its_row_says(name):
    got = n_params(random_llama(name, arith_codec())) / 1e6
    want = _table()[name]
    assert abs(got - want) <= 0.05 + 0.06 * want, (name, got, want)
