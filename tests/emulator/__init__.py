"""A Flamenco Manager emulator for tests: a real HTTP server checked against the official spec.

Test infrastructure only; it never ships in the extension::

    from tests.emulator import Emulator

    emu = Emulator(version="3.8.5", storage=tmp_path, worker="instant")
    url = emu.start()
    ...
    emu.run_worker()
    emu.stop()

pytest fixtures (``emulator``, ``emulator_factory``) live in :mod:`tests.emulator.fixtures`.
"""

from .emulator import WORKER_MODES, Emulator, RequestRecord, WorkerMode
from .faults import Fault, FaultSet
from .versions import ManagerVersion

__all__ = ["WORKER_MODES", "Emulator", "Fault", "FaultSet", "ManagerVersion", "RequestRecord",
           "WorkerMode"]
