"""Execute the paper-figures notebook with papermill; the notebook reads the results files."""

import logging
from pathlib import Path

import papermill

smk = snakemake  # noqa: F821
logging.basicConfig(filename=smk.log[0], filemode="w", level=logging.INFO,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
# The notebook finds the results by globbing; its folders are those of this rule's files.
parameters = {"results_dir": str(Path(smk.input.summary).parent),
              "output_dir": str(Path(smk.output.targets_pdf).parent),
              "formats": smk.params.formats}
# "python3" is always found: jupyter_client falls back to ipykernel's own kernel spec and starts
# it with this interpreter, so the kernel sees the same environment as the job.
papermill.execute_notebook(smk.input.notebook, smk.output.notebook, parameters=parameters,
                           kernel_name="python3", log_output=True, progress_bar=False)
