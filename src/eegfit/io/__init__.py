"""Results on disk: NetCDF with provenance, read back with plain ``xarray.open_dataset``.

- :mod:`~eegfit.io.netcdf`: the file: flat provenance attrs, the atomic write (a temporary
  file, then a rename), classic NetCDF written and read back as xarray would;
- :mod:`~eegfit.io.datasets`: what goes in it: a trace, scalar features and a fit's full
  record, every variable with its ``units`` and ``long_name``.

Neither imports JAX: a figures job reads its files without it.
"""

from eegfit.io.datasets import features_dataset, fit_dataset, trace_dataset, variable
from eegfit.io.netcdf import (atomic_path, flatten, load_netcdf, load_variables, provenance,
                              write_netcdf)

__all__ = ["atomic_path", "features_dataset", "fit_dataset", "flatten", "load_netcdf",
           "load_variables", "provenance", "trace_dataset", "variable", "write_netcdf"]
