"""NetCDF files with provenance, written atomically and read back with plain
``xarray.open_dataset``.

Provenance goes into flat dataset attrs
(NetCDF cannot hold nested ones): the eegfit version, the config as JSON and its values flattened
to ``config.<path>`` keys, the seed, backend and simulation settings. Nothing run-dependent (wall
time, date, host) is written, so a rerun gives byte-identical files; timings live elsewhere.
Files are written to a temporary name and renamed, so a killed job never leaves half a file.

The files are classic NetCDF (64-bit offset), which every NetCDF reader opens: a results file is
a small flat record, and the classic format writes one in under a millisecond where NetCDF-4's
HDF5 layer (through xarray) takes about ten, which a sweep's thousands of files feel. Values are
encoded as xarray would for that format (integers as int32, booleans as int8 with ``dtype:
bool``, strings as UTF-8 character arrays, non-index coordinates named in ``coordinates``), so
``xarray.open_dataset`` gives the dataset back; anything the format cannot hold is refused by
name before the file is touched. (Posteriors, with their groups, are NetCDF-4: ``infer.idata``.)
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.io
import xarray as xr

import eegfit


def flatten(tree, prefix: str = "") -> dict[str, object]:
    """Flatten nested dicts/lists into ``{"a.b.c": value}`` with NetCDF-storable values."""
    out = {}
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(tree, (list, tuple)) and all(isinstance(v, (int, float)) and not isinstance(
            v, bool) for v in tree) and tree:
        out[prefix] = np.asarray(tree, dtype=float)
    elif isinstance(tree, (list, tuple)):
        out[prefix] = json.dumps(tree)
    elif tree is None:
        out[prefix] = "null"
    elif isinstance(tree, bool):
        out[prefix] = int(tree)
    elif isinstance(tree, (int, float, str)):
        out[prefix] = tree
    else:
        out[prefix] = str(tree)
    return out


def provenance(config: dict | None = None, **extra) -> dict[str, object]:
    """Flat provenance attrs: eegfit version, the config (JSON and flattened), extra values."""
    attrs: dict[str, object] = {"eegfit_version": eegfit.__version__,
                                "Conventions": "CF-1.8"}
    if config is not None:
        attrs["config_json"] = json.dumps(config, sort_keys=True)
        attrs.update(flatten(config, "config"))
    attrs.update(flatten(extra))
    return attrs


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` to write to: renamed to ``path`` when the block ends,
    removed if it raises (even on KeyboardInterrupt), so a killed job never leaves half a file
    and an old file at ``path`` stays whole until the new one is complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from a shared group
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _umask() -> int:
    """The process's umask (read by setting it and setting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_netcdf(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` atomically (temporary file in the same folder, then rename) as a
    classic NetCDF file; a value the format cannot hold raises before anything is written.
    A dataset with an empty dimension or a name beyond plain ASCII is written as NetCDF-4 by
    xarray (in the classic format a dimension of length 0 is the record dimension, and scipy
    writes names as Latin-1 where NetCDF readers expect UTF-8)."""
    if 0 in ds.sizes.values() or not all(map(_plain_name, _names(ds))):
        def write(tmp):
            ds.to_netcdf(tmp, engine="netcdf4")
    else:
        classic = _classic(ds)  # refuses what the format cannot hold, before any file

        def write(tmp):
            _write_classic(tmp, *classic)
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


_INT32 = np.iinfo(np.int32)


def _names(ds: xr.Dataset):
    """Every dimension, variable and attribute name of ``ds``."""
    yield from map(str, ds.dims)
    yield from ds.attrs
    for name, var in ds.variables.items():
        yield str(name)
        yield from var.attrs


def _plain_name(name) -> bool:
    """Whether the classic writer takes ``name`` as it is: printable ASCII, no ``/``, no
    surrounding space."""
    return (isinstance(name, str) and name.isascii() and name.isprintable() and "/" not in name
            and name == name.strip() and bool(name))


def _int32(values, what: str) -> np.ndarray:
    if values.size and (values.min() < _INT32.min or values.max() > _INT32.max):
        raise ValueError(f"{what}: integer values outside int32, which classic NetCDF cannot "
                         f"hold; store them as float")
    return values.astype(np.int32)


def _classic_attr(key, value):
    what = f"NetCDF attribute {key!r}"
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (dict, set)):
        raise TypeError(f"{what}: a {type(value).__name__} cannot be a NetCDF attribute "
                        f"(flatten it, or store it as a number or string)")
    values = np.atleast_1d(np.asarray(value))
    if values.ndim != 1 or values.dtype.kind not in "iuf":
        raise TypeError(f"{what}: {value!r} is not a string or a 1-D array of numbers")
    if values.dtype.kind in "iu":
        return values if values.dtype in (np.int8, np.int16, np.int32) else _int32(values, what)
    return values.astype(np.float64 if values.dtype.itemsize > 4 else np.float32)


def _classic_variable(name, var: xr.Variable):
    """(dims, values, attrs) of one variable in the classic format's types."""
    what = f"NetCDF variable {name!r}"
    values, dims, attrs = np.asarray(var.values), tuple(var.dims), dict(var.attrs)
    kind = values.dtype.kind
    if kind == "b":
        values, attrs["dtype"] = values.astype(np.int8), "bool"
    elif kind in "iu" and values.dtype not in (np.int8, np.int16, np.int32):
        values = _int32(values, what)
    elif kind == "f" and values.dtype.itemsize < 4:
        values = values.astype(np.float32)
    elif kind in "UO":
        if kind == "O" and not all(isinstance(v, str) for v in values.ravel()):
            raise TypeError(f"{what}: an object array that is not all strings")
        values = np.char.encode(values.astype(str), "utf-8")
        attrs["_Encoding"] = "utf-8"
        kind = "S"
    elif kind not in "fiS":
        raise TypeError(f"{what}: dtype {values.dtype} cannot be written to classic NetCDF")
    if kind == "S":  # a character array, its last axis the string length (as xarray writes it)
        width = max(1, values.dtype.itemsize)
        values = values.astype(f"S{width}").reshape(values.shape + (1,)).view("S1")
        dims += (f"string{width}",)
    return dims, values, {k: _classic_attr(f"{name}.{k}", v) for k, v in attrs.items()}


def _classic(ds: xr.Dataset):
    """The dataset's dimensions, variables and attrs in classic NetCDF types."""
    variables = {name: _classic_variable(name, var) for name, var in ds.variables.items()}
    dims = dict(ds.sizes)
    for var_dims, values, _ in variables.values():
        dims.update(zip(var_dims, values.shape))
    attrs = dict(ds.attrs)
    extra = sorted(str(n) for n in ds.coords if n not in ds.dims)
    if extra:
        attrs["coordinates"] = " ".join(extra)
    return dims, variables, {k: _classic_attr(k, v) for k, v in attrs.items()}


def _write_classic(path, dims, variables, attrs) -> None:
    with scipy.io.netcdf_file(path, "w", version=2) as nc:
        for dim, size in dims.items():
            nc.createDimension(dim, size)
        for key, value in attrs.items():
            setattr(nc, key, value)
        for name, (var_dims, values, var_attrs) in variables.items():
            var = nc.createVariable(name, values.dtype, var_dims)
            for key, value in var_attrs.items():
                setattr(var, key, value)
            var[...] = values


_CF_ENCODINGS = ("_FillValue", "missing_value", "scale_factor", "add_offset", "calendar")


def load_netcdf(path) -> xr.Dataset:
    """The dataset of a result file, in memory, as ``xarray.load_dataset`` gives it back.

    A classic file as :func:`write_netcdf` writes it is decoded here from scipy's reader (about
    0.7 ms a fit record against 5 through xarray's backends: a summary or figure that reads a
    sweep's thousand records feels it); any other file (NetCDF-4, CF-encoded values) goes to
    ``xarray.load_dataset``.
    """
    classic = _read_classic(path)
    if classic is None:
        return xr.load_dataset(path)
    attrs, variables = classic
    extra = str(attrs.pop("coordinates", "")).split()
    coords = {n: v for n, v in variables.items() if n in extra or v.dims == (n,)}
    return xr.Dataset({n: v for n, v in variables.items() if n not in coords}, coords=coords,
                      attrs=attrs)


def load_variables(path) -> tuple[dict, dict[str, xr.Variable]]:
    """``(attrs, variables)`` of a result file as :func:`load_netcdf` decodes them (coordinates
    among the variables), without building the Dataset: half the cost of a small record, which
    a summary of a thousand records reads for a few scalars each."""
    classic = _read_classic(path)
    if classic is None:
        ds = xr.load_dataset(path)
        return dict(ds.attrs), dict(ds.variables)
    attrs, variables = classic
    attrs.pop("coordinates", None)
    return attrs, variables


def _read_classic(path) -> tuple[dict, dict[str, xr.Variable]] | None:
    """Attrs and decoded variables of a classic file :func:`write_netcdf` could have written;
    None for any other file (not classic, or values CF-encoded), which xarray reads."""
    with open(path, "rb") as fh:
        if fh.read(3) != b"CDF":
            return None
    with scipy.io.netcdf_file(path, "r", mmap=False) as nc:
        raw = {name: (var.dimensions, np.array(var.data), dict(var._attributes))
               for name, var in nc.variables.items()}
        attrs = {k: _attr_value(v) for k, v in nc._attributes.items()}
    if any(key in var_attrs for *_, var_attrs in raw.values() for key in _CF_ENCODINGS) or any(
            b"since" in var_attrs.get("units", b"") for *_, var_attrs in raw.values()):
        return None
    return attrs, {name: _decoded_variable(*raw[name]) for name in raw}


def _attr_value(value):
    """An attribute as xarray reads it: text as str, one number as a scalar."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    value = np.asarray(value)
    value = value.astype(value.dtype.newbyteorder("="))
    return value.ravel()[0] if value.size == 1 else value


def _decoded_variable(dims, values, raw_attrs) -> xr.Variable:
    """One variable of a classic file as :func:`_classic_variable` encoded it, decoded back."""
    attrs = {k: _attr_value(v) for k, v in raw_attrs.items()}
    if values.dtype.kind == "S":  # a character array: its last axis is the string length
        encoding = attrs.pop("_Encoding", None)
        joined = values.view(f"S{values.shape[-1]}")[..., 0] if values.ndim else values
        values = np.char.decode(joined, encoding) if encoding else joined
        dims = dims[:-1]
    else:
        values = values.astype(values.dtype.newbyteorder("="))
    if attrs.get("dtype") == "bool":
        del attrs["dtype"]
        values = values.astype(bool)
    return xr.Variable(dims, values, attrs)
