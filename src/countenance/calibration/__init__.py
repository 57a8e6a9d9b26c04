"""Calibration: a model's error rates as a function of distance, and thresholds from them.

One package for all of it (pure numpy over distances; no gallery, pipeline or evaluation):

- :mod:`.rates`: the error rates themselves, one function each, one vocabulary (ISO/IEC
  19795-1: FMR, FNMR for verification; FPIR, FNIR for open-set identification);
- :mod:`.table`: :class:`Calibration`, a model's impostor distance distribution as a table
  (``distance -> FMR``, optionally FNMR), and thresholds for a target FPIR over a gallery;
- :mod:`.effective`: :class:`EffectiveTemplates`, how many independent comparisons a subject
  with several templates is worth; :mod:`.subjects` measures it;
- :mod:`.impostors`: impostor distances from templates and the tables measured from labelled
  people (:mod:`.lfw`: on LFW; :mod:`.labelled`: on the user's own pairs or folders);
- :mod:`.store`: where tables are found (``load_calibration``) and installed.

Shipped tables (``<model name>.json``) are package data next to these modules.
"""

from .effective import EffectiveTemplates
from .impostors import ImpostorCalibration, distance_grid, impostor_calibration, impostor_distances, subject_calibration
from .labelled import table_from_folders, table_from_pairs
from .lfw import LFW_SAME_PERSON, lfw_subject_calibration
from .rates import fmr_for_fpir, fpir_for_fmr
from .store import install_calibration, installed_calibration_path, load_calibration, save_calibration
from .subjects import SubjectImpostorRates, subject_impostor_rates
from .table import Calibration, build_calibration

__all__ = [
    "Calibration", "build_calibration", "EffectiveTemplates", "fmr_for_fpir", "fpir_for_fmr",
    "load_calibration", "save_calibration", "install_calibration", "installed_calibration_path",
    "SubjectImpostorRates", "subject_impostor_rates", "ImpostorCalibration", "impostor_distances", "distance_grid",
    "impostor_calibration", "subject_calibration", "LFW_SAME_PERSON", "lfw_subject_calibration",
    "table_from_pairs", "table_from_folders",
]
