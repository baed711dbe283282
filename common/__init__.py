"""Standard-library-only helpers that every stage package may import (docs/contracts.md §0).

Nothing here imports ``trainer``, ``exporter``, ``serving`` or ``clients``, nor any third-party
package, so the thin client install can use it too.
"""
