"""The floor every stage package may import (docs/contracts.md section 0).

Nothing here imports ``trainer``, ``exporter``, ``serving`` or ``clients``. ``atomic``,
``extras`` and ``entry`` use only the standard library, ``wire`` only protobuf (both in the
thin client install); ``run_contract`` needs pydantic and is imported by trainer/exporter only.
"""
