"""Status and metadata bodies as TF Serving's REST API prints them (protobuf JSON printer).

Both use protobuf's ``add_whitespace`` layout (one-space indent, trailing newline) with every
field printed; int64 values are strings and enums print by name. Metadata is assembled by
hand around the ``model_spec`` and the ``SignatureDefMap`` as ``http_rest_api_util.cc`` does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from serving.servables import VersionStatus

__all__ = ["status_body", "metadata_body"]


def _pretty(value: object) -> str:
    return json.dumps(value, indent=1, ensure_ascii=False) + "\n"


def status_body(statuses: Sequence[VersionStatus]) -> bytes:
    """``GetModelStatusResponse`` JSON: newest version first, as the manager lists them."""
    doc = {
        "model_version_status": [
            {
                "version": str(s.version),
                "state": s.state.name,
                "status": {"error_code": s.error_code.name, "error_message": s.error_message},
            }
            for s in statuses
        ]
    }
    return _pretty(doc).encode("utf-8")


def metadata_body(
    name: str, version: int, signature_def_map, served_file: dict[str, str] | None = None
) -> bytes:
    """``GetModelMetadataResponse`` JSON (``signature_def`` twice: map key, then field), plus
    our ``served_file`` entry when given (TF Serving clients read only ``signature_def``)."""
    from google.protobuf import json_format

    spec = _pretty({"name": name, "version": str(version), "signature_name": ""})
    signatures = json_format.MessageToDict(
        signature_def_map,
        always_print_fields_with_no_presence=True,
        preserving_proto_field_name=True,
    )
    text = (
        "{\n"
        + '"model_spec":'
        + spec
        + ",\n"
        + '"metadata": {'
        + '"signature_def": '
        + _pretty(signatures)
        + (',\n"served_file": ' + _pretty(served_file) if served_file else "")
        + "}\n"
        + "}\n"
    )
    return text.encode("utf-8")
