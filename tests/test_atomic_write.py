"""``io.write_netcdf`` is atomic: a write that dies half-way leaves the old file as it was.

The failure is made where a killed job or a full disk makes it: inside the NetCDF writer, after
it has written part of a genuine file into the path it was given. (A dataset the writer refuses
before opening the file, as in test_io, does not tell an atomic writer from a plain one.)
"""

import os
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from eegfit.io import netcdf as io  # the writer, patched below
from eegfit.io import write_netcdf


class Crash(Exception):
    """The failure injected half-way through a write."""


@pytest.fixture
def half_writing_to_netcdf(monkeypatch):
    """Make the NetCDF file writer write its file, cut it to half, then raise ``error``."""
    real = io._write_classic
    calls = []

    def install(error):
        def write(path, *args, **kwargs):
            real(path, *args, **kwargs)
            size = Path(path).stat().st_size
            with open(path, "r+b") as f:
                f.truncate(size // 2)
            calls.append(Path(path))
            raise error
        monkeypatch.setattr(io, "_write_classic", write)
        return calls
    return install


def dataset(values):
    return xr.Dataset({"v": ("t", np.asarray(values, dtype=float), {"units": "mV"})})


@pytest.mark.parametrize("error", [Crash("disk full"), KeyboardInterrupt()],
                         ids=["exception", "interrupt"])
def test_a_write_failing_half_way_keeps_the_old_file(tmp_path, half_writing_to_netcdf, error):
    path = tmp_path / "x.nc"
    write_netcdf(dataset(np.arange(3.0)), path)
    before = path.read_bytes()
    calls = half_writing_to_netcdf(error)
    with pytest.raises(type(error)):
        write_netcdf(dataset(np.arange(1000.0)), path)
    assert len(calls) == 1, "the injected failure did not run: the test tests nothing"
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]  # no temporary file left
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back["v"].values, np.arange(3.0))


def test_a_first_write_failing_half_way_leaves_nothing(tmp_path, half_writing_to_netcdf):
    half_writing_to_netcdf(Crash("disk full"))
    with pytest.raises(Crash):
        write_netcdf(dataset(np.arange(1000.0)), tmp_path / "new" / "x.nc")
    assert list((tmp_path / "new").iterdir()) == []  # neither a half file nor a temporary one


def test_the_netcdf4_fallback_failing_half_way_keeps_the_old_file(tmp_path, monkeypatch):
    """A dataset with an empty dimension goes through xarray's NetCDF-4 writer: atomic too."""
    path = tmp_path / "x.nc"
    write_netcdf(dataset(np.arange(3.0)), path)
    before, real = path.read_bytes(), xr.Dataset.to_netcdf

    def to_netcdf(self, target=None, *args, **kwargs):
        real(self, target, *args, **kwargs)
        with open(target, "r+b") as f:
            f.truncate(Path(target).stat().st_size // 2)
        raise Crash("disk full")
    monkeypatch.setattr(xr.Dataset, "to_netcdf", to_netcdf)
    with pytest.raises(Crash):
        write_netcdf(xr.Dataset({"v": ("n", np.zeros(0))}), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.nc"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_a_written_file_has_the_permissions_of_the_umask(tmp_path, umask, mode):
    """As ``open`` would give it (not the temporary file's 0600): a group sharing results on a
    cluster reads them."""
    old = os.umask(umask)
    try:
        path = write_netcdf(dataset(np.arange(3.0)), tmp_path / "x.nc")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode
